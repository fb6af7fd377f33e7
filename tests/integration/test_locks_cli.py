"""One repository, many commands, through the real CLI: DVC's locks, queue claims, a safe gc.

The pipeline copies ``train.lr`` into every out, so whether a ref, a lock
entry or a run-cache entry mixes two runs is a byte comparison. Overlap is
made with barrier files (a stage waits for ``go``), never with sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CLI
from helpers import gen, git, run_dvc

from prefect_dvc.yamlio import parse_yaml

pytestmark = pytest.mark.prefect

PREP = """\
import os, pathlib, re
lr = re.search(r"lr: (\\S+)", open("params.yaml").read()).group(1)
pathlib.Path("prep.txt").write_text(f"lr={lr}\\n")
"""
TRAIN = """\
import json, os, pathlib, re, time
lr = re.search(r"lr: (\\S+)", open("params.yaml").read()).group(1)
barrier = pathlib.Path(os.environ["LOCKS_BARRIER"])
with open(barrier / "runs.log", "a") as log:
    log.write(lr + "\\n")
(barrier / f"started-{lr}").touch()
while not (barrier / "go").exists():
    time.sleep(0.02)
prep = pathlib.Path("prep.txt").read_text()
pathlib.Path("model.txt").write_text(prep + "model\\n")
json.dump({"lr": float(lr), "prep": prep.strip()}, open("metrics.json", "w"))
"""
PIPELINE = {
    "params.yaml": "train:\n  lr: 0.01\n",
    "prep.py": PREP,
    "train.py": TRAIN,
    "dvc.yaml": """\
stages:
  prep:
    cmd: python prep.py
    deps: [prep.py]
    params: [train.lr]
    outs: [prep.txt]
  train:
    cmd: python train.py
    deps: [prep.txt, train.py]
    params: [train.lr]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
""",
}


def md5(data: str) -> str:
    return hashlib.md5(data.encode()).hexdigest()


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


@pytest.fixture
def barrier(tmp_path: Path, prefect_env: dict[str, str]) -> dict[str, str]:
    folder = tmp_path / "barrier"
    folder.mkdir()
    return {**prefect_env, "LOCKS_BARRIER": str(folder)}


def _start(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CLI, *args], cwd=repo, env=env, text=True, stdout=-1, stderr=-1)


def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 300
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _objects(repo: Path) -> set[str]:
    files = (repo / ".dvc/cache/files/md5").glob("*/*")
    return {p.parent.name + p.name for p in files}


def _exp_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps")
    return {ref.rsplit("/", 1)[1]: ref for ref in out.splitlines()}


def _assert_consistent(repo: Path, ref: str) -> str:
    """The ref's params, dvc.lock, outs and metrics all come from one ``lr``; returns it."""
    lr = str(parse_yaml(git(repo, "show", f"{ref}:params.yaml"))["train"]["lr"])
    lock = parse_yaml(git(repo, "show", f"{ref}:dvc.lock"))["stages"]
    prep, model = f"lr={lr}\n", f"lr={lr}\nmodel\n"
    for stage, path, out in (("prep", "prep.txt", prep), ("train", "model.txt", model)):
        assert str(lock[stage]["params"]["params.yaml"]["train.lr"]) == lr
        outs = {o["path"]: o["md5"] for o in lock[stage]["outs"]}
        assert outs[path] == md5(out), (ref, stage)
    assert lock["train"]["deps"][0]["md5"] == md5(prep)
    metrics = json.loads(git(repo, "show", f"{ref}:metrics.json"))
    assert metrics == {"lr": float(lr), "prep": f"lr={lr}"}
    assert {md5(prep), md5(model)} <= _objects(repo)
    return lr


def _assert_run_cache_consistent(repo: Path) -> int:
    """Every run-cache entry's outs hash to what its key's command makes of its params."""
    entries = list((repo / ".dvc/cache/runs").glob("*/*/*"))
    for path in entries:
        entry = parse_yaml(path.read_text())
        lr = str(entry["params"]["params.yaml"]["train.lr"])
        expected = {"prep.txt": f"lr={lr}\n", "model.txt": f"lr={lr}\nmodel\n"}
        for out in entry["outs"]:
            if out["path"] in expected:
                assert out["md5"] == md5(expected[out["path"]]), (path, out)
    return len(entries)


def test_eight_concurrent_exp_runs_one_runs_the_rest_are_refused_unchanged(
    repo: Path, barrier: dict[str, str]
) -> None:
    folder = Path(barrier["LOCKS_BARRIER"])
    lrs = [f"0.0{n}" for n in range(1, 9)]
    procs = {lr: _start(repo, barrier, "exp", "run", "-S", f"train.lr={lr}") for lr in lrs}

    # Only a run holding the workspace can reach train; it then waits for `go`.
    def settled() -> bool:
        ended = sum(p.poll() is not None for p in procs.values())
        return ended == len(procs) or (ended == len(procs) - 1 and any(folder.glob("started-*")))

    _until(settled, "7 refusals and one run waiting in its train stage")
    started = sorted(p.name for p in folder.glob("started-*"))
    assert len(started) == 1
    winner = started[0].removeprefix("started-")
    assert (repo / "params.yaml").read_text() == f"train:\n  lr: {winner}\n"
    during = subprocess.run(
        [CLI, "gc", "-w", "-f"], cwd=repo, env=barrier, capture_output=True, text=True
    )
    assert during.returncode == 1 and "gc cannot collect" in during.stderr
    assert md5(f"lr={winner}\n") in _objects(repo), "the running stage's object survives"
    dvc = run_dvc(repo, "repro")
    assert dvc.returncode != 0 and "is busy" in dvc.stderr, "real DVC respects our rwlock"
    assert not (repo / "model.txt").exists()
    queued = subprocess.run(
        [CLI, "exp", "run", "--queue", "-S", "train.lr=0.09"],
        cwd=repo,
        env=barrier,
        capture_output=True,
        text=True,
    )
    assert queued.returncode == 0 and "Queued experiment" in queued.stdout, queued.stderr
    assert (repo / "params.yaml").read_text() == f"train:\n  lr: {winner}\n"
    for command in (["repro"], ["checkout"]):
        busy = subprocess.run(
            [CLI, *command], cwd=repo, env=barrier, capture_output=True, text=True
        )
        assert busy.returncode == 1 and busy.stderr.count("\n") == 1, busy.stderr
        assert "already running in this workspace" in busy.stderr
    assert not (repo / "model.txt").exists()
    (folder / "go").touch()
    results = {lr: (p.wait(timeout=600), *p.communicate()) for lr, p in procs.items()}

    ok = [lr for lr, (code, _o, _e) in results.items() if code == 0]
    assert ok == [winner], {lr: r[2][-300:] for lr, r in results.items()}
    for lr, (code, _out, err) in results.items():
        if lr != winner:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert code == 1 and len(lines) == 1 and lines[0].startswith("ERROR: "), err
            assert "--queue" in err and "PID " in err
            assert "already running in this workspace" in err or "Unable to acquire lock" in err
    refs = _exp_refs(repo)
    assert len(refs) == len(ok) == 1
    assert _assert_consistent(repo, next(iter(refs.values()))) == winner
    assert _assert_run_cache_consistent(repo) == 2
    assert (folder / "runs.log").read_text().split() == [winner]
    assert json.loads((repo / ".dvc/tmp/rwlock").read_text()) == {}


def test_two_run_alls_never_run_an_entry_twice_and_gc_waits_for_them(
    repo: Path, barrier: dict[str, str]
) -> None:
    folder = Path(barrier["LOCKS_BARRIER"])
    lrs = ["0.1", "0.2", "0.3", "0.4"]
    queued = subprocess.run(
        [CLI, "exp", "run", "--queue", "-S", f"train.lr={','.join(lrs)}"],
        cwd=repo,
        env=barrier,
        capture_output=True,
        text=True,
    )
    assert queued.returncode == 0, queued.stderr
    first = _start(repo, barrier, "exp", "run", "--run-all", "-j", "2")
    second = _start(repo, barrier, "queue", "start", "-j", "2")
    _until(lambda: len(list(folder.glob("started-*"))) >= 2, "two running experiments")
    running = {p.name.removeprefix("started-") for p in folder.glob("started-*")}
    before = _objects(repo)
    assert {md5(f"lr={lr}\n") for lr in running} <= before

    gc = subprocess.run(
        [CLI, "gc", "-w", "--all-experiments", "-f"],
        cwd=repo,
        env=barrier,
        capture_output=True,
        text=True,
    )
    assert gc.returncode == 1, gc.stdout
    assert "gc cannot collect" in gc.stderr and "PID " in gc.stderr
    assert before <= _objects(repo), "objects of running experiments survive"

    (folder / "go").touch()
    codes = [p.wait(timeout=600) for p in (first, second)]
    outs = [p.communicate() for p in (first, second)]
    assert codes == [0, 0], outs
    assert sorted((folder / "runs.log").read_text().split()) == lrs, "each entry ran once"
    refs = _exp_refs(repo)
    assert len(refs) == 4
    assert sorted(_assert_consistent(repo, ref) for ref in refs.values()) == lrs
    _assert_run_cache_consistent(repo)

    after = subprocess.run(
        [CLI, "gc", "-w", "--all-experiments", "-f"], cwd=repo, env=barrier, capture_output=True
    )
    assert after.returncode == 0
    for ref in refs.values():
        _assert_consistent(repo, ref)


def test_real_dvc_holding_the_lock_refuses_exp_run_and_changes_nothing(
    repo: Path, barrier: dict[str, str]
) -> None:
    from helpers import dvc_bin

    python = str(Path(str(dvc_bin())).with_name("python"))
    script = (
        "import sys, pathlib\nfrom dvc.repo import Repo\nr = Repo('.')\nr.lock.lock()\n"
        "pathlib.Path('.dvc/tmp/held').touch()\nsys.stdin.read()\n"
    )
    holder = subprocess.Popen([python, "-c", script], cwd=repo, stdin=-1, text=True)
    try:
        _until((repo / ".dvc/tmp/held").exists, "DVC to hold the lock")
        refused = subprocess.run(
            [CLI, "exp", "run", "-S", "train.lr=0.5"],
            cwd=repo,
            env=barrier,
            capture_output=True,
            text=True,
        )
    finally:
        holder.communicate("", timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and f"PID {holder.pid}" in refused.stderr
    assert (repo / "params.yaml").read_text() == PIPELINE["params.yaml"]
    assert _exp_refs(repo) == {} and not (repo / "dvc.lock").exists()


# ---------------------------------------------------------------------- gc


@pytest.fixture
def three_generations(git_repo: Path) -> tuple[Path, dict[str, str]]:
    """Outs of in=c (garbage), in=a (committed) and in=b (workspace), made by real DVC."""
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n"
            "    outs: [out.txt]\n"
        },
    )
    made = {}
    for gen_name in ("c", "a", "b"):
        (git_repo / "in.txt").write_text(f"{gen_name}\n")
        result = run_dvc(git_repo, "repro")
        assert result.returncode == 0, result.stderr
        made[gen_name] = md5(f"{gen_name}\n")
        if gen_name == "a":
            git(git_repo, "add", "-A")
            git(git_repo, "commit", "-q", "-m", "a")
    return git_repo, made


def _gc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, "gc", "-w", *args], cwd=repo, env=env, capture_output=True, text=True, stdin=-3
    )


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_gc_refuses_an_unreadable_lock_unless_skip_failed_then_keeps_what_it_may_need(
    three_generations: tuple[Path, dict[str, str]], damage: str
) -> None:
    repo, made = three_generations
    lock = repo / "dvc.lock"
    text = lock.read_text()
    lock.write_text("" if damage == "empty" else text[: len(text) // 2])
    before = _objects(repo)
    assert set(made.values()) <= before

    refused = _gc(repo, "-f")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "'dvc.lock' in the workspace" in refused.stderr and "--skip-failed" in refused.stderr
    assert _objects(repo) == before
    if damage == "empty":
        assert run_dvc(repo, "gc", "-w", "-f").returncode != 0, "DVC refuses too"
        assert _objects(repo) == before

    kept = _gc(repo, "--skip-failed", "-f")
    assert kept.returncode == 0, kept.stderr
    assert "WARNING: skipped 'dvc.lock'" in kept.stderr
    assert made["a"] in _objects(repo), "HEAD's lock names it"
    assert made["b"] in _objects(repo), "the workspace's out is it"
    assert made["c"] not in _objects(repo), "garbage still goes"


def test_gc_lists_first_and_without_a_terminal_needs_force(
    three_generations: tuple[Path, dict[str, str]],
) -> None:
    repo, made = three_generations
    before = _objects(repo)
    asked = _gc(repo)
    assert asked.returncode == 1 and asked.stderr.count("\n") == 1
    assert "confirmation" in asked.stderr and "-f" in asked.stderr
    listed = {line.strip() for line in asked.stdout.splitlines() if line.startswith("  ")}
    assert listed == {made["c"], made["a"]}, "what it would remove is listed first"
    assert _objects(repo) == before
    dry = _gc(repo, "--dry")
    assert dry.returncode == 0 and _objects(repo) == before
    done = _gc(repo, "-f")
    assert done.returncode == 0, done.stderr
    assert _objects(repo) == {made["b"]}, "-w keeps only the workspace's"
