"""``push``/``fetch``/``pull``/``checkout``/``gc`` through the real CLI, a killed stage,
a corrupt cache object, and real DVC restoring from our run-cache.

Most tests build their starting state in-process with the same stage
executor the Prefect task wraps (no flow, so no Prefect start-up), then
drive the data commands as child processes, which never import Prefect. Only
the killed-stage and interop tests run ``prefect-dvc repro`` (harness API).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.execution import Outcome, RunOptions, open_executor
from prefect_dvc.lockfile import read_lock
from prefect_dvc.repo import find_root, locate_dvcfile
from prefect_dvc.storage.runcache import RunCache
from prefect_dvc.translators import load_pipeline

CLI = str(Path(sys.executable).with_name("prefect-dvc"))

PIPELINE = {
    "dvc.yaml": """\
stages:
  gen:
    cmd: echo gen >> ../runs.log && python3 gen.py ${p} > a.txt
    deps: [gen.py, seed.txt]
    params: [p]
    outs: [a.txt]
  split:
    cmd: echo split >> ../runs.log && mkdir -p parts && split -l 1 a.txt parts/x
    deps: [a.txt]
    outs: [parts]
""",
    "params.yaml": "p: 1\n",
    "seed.txt": "seed\n",
    "gen.py": "import sys\nfor i in range(5):\n    print(f'line {i} p={sys.argv[1]}')\n",
}


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(repo: Path, *args: str) -> Result:
    """``prefect-dvc args`` in ``repo`` as a child process (commands that start no flow)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    proc = subprocess.run(
        [CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def produce(work: Path) -> dict[str, Outcome]:
    """Bring the pipeline up to date in-process (the stage task's code, without Prefect)."""
    root = find_root(work)
    dvcfile = locate_dvcfile(root, work)
    pipeline = load_pipeline(root, dvcfile)
    with open_executor(root, pipeline, dvcfile=dvcfile) as executor:
        return {
            name: executor.run(name, RunOptions(), lambda line: None).outcome
            for name in pipeline.order()
        }


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def objects(cache: Path) -> set[str]:
    """Object ids under ``<cache>/files/md5``."""
    base = cache / "files" / "md5"
    if not base.exists():
        return set()
    return {p.parent.name + p.name for p in base.glob("*/*") if not p.name.endswith(".tmp")}


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` but ``.git`` and the state DB, with its md5."""
    return {
        str(p.relative_to(root)): md5(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts and "tmp" not in p.relative_to(root).parts[:2]
    }


def lock_objects(work: Path, cache: Path) -> set[str]:
    """Objects the lock file needs: out hashes plus the files of each ``.dir``."""

    needed: set[str] = set()
    for entry in read_lock(work / "dvc.lock").values():
        for out in entry.get("outs") or []:
            needed.add(out["md5"])
            if out["md5"].endswith(".dir"):
                oid = out["md5"]
                manifest = cache / "files" / "md5" / oid[:2] / oid[2:]
                needed |= {item["md5"] for item in json.loads(manifest.read_text())}
    return needed


@pytest.fixture
def project(git_repo: Path, tmp_path: Path) -> Path:
    """The two-stage pipeline, run once, with a local default remote; all committed."""
    work = git_repo / "work"
    gen(work, PIPELINE)
    (git_repo / ".gitignore").write_text("runs.log\n")
    assert set(produce(work).values()) == {Outcome.RAN}
    assert run_cli(work, "remote", "add", "-d", "store", str(tmp_path / "remote")).code == 0
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return work


def _clone(src: Path, dest: Path) -> Path:
    git(src.parent, "clone", "-q", str(src.parent), str(dest))
    return dest / "work"


def test_push_fetch_checkout_pull_round_trip_between_clones(project: Path, tmp_path: Path) -> None:
    cache = project.parent / ".dvc" / "cache"
    remote = tmp_path / "remote"
    needed = lock_objects(project, cache)

    only_gen = run_cli(project, "push", "gen")
    assert only_gen.code == 0, only_gen.err
    assert objects(remote) == {read_lock(project / "dvc.lock")["gen"]["outs"][0]["md5"]}
    pushed = run_cli(project, "push")
    assert pushed.code == 0, pushed.err
    assert objects(remote) == needed, "push must send exactly what dvc.lock needs"
    # DVC's summary (log_summary): the one object already there is not counted
    assert pushed.out == f"{len(needed) - 1} files pushed\n"
    assert not (remote / "runs").exists(), "run entries only move with --run-cache"

    clone = _clone(project, tmp_path / "clone")
    clone_cache = clone.parent / ".dvc" / "cache"
    fetched = run_cli(clone, "fetch")
    assert fetched.code == 0, fetched.err
    assert objects(clone_cache) == needed
    assert not (clone / "a.txt").exists(), "fetch must not touch the workspace"
    checked = run_cli(clone, "checkout")
    assert checked.code == 0, checked.err
    assert md5(clone / "a.txt") == md5(project / "a.txt")
    assert tree_snapshot(clone / "parts") == tree_snapshot(project / "parts")
    assert run_cli(clone, "checkout").out == ""  # DVC prints nothing when nothing changed

    # The other direction: the clone changes a param, pushes; the origin pulls.
    (clone / "params.yaml").write_text("p: 2\n")
    assert set(produce(clone).values()) == {Outcome.RAN}
    git(clone.parent, "commit", "-q", "-am", "p=2")
    assert run_cli(clone, "push").code == 0
    git(project.parent, "pull", "-q", str(clone.parent), "main")
    pulled = run_cli(project, "pull")
    assert pulled.code == 0, pulled.err
    assert md5(project / "a.txt") == md5(clone / "a.txt")
    assert "p=2" in (project / "a.txt").read_text()
    assert tree_snapshot(project / "parts") == tree_snapshot(clone / "parts")


def test_push_run_cache_sends_every_restorable_entry_with_its_objects(
    project: Path, tmp_path: Path
) -> None:
    cache = project.parent / ".dvc" / "cache"
    p1_out = md5(project / "a.txt")
    (project / "params.yaml").write_text("p: 2\n")
    produce(project)
    p2_out = md5(project / "a.txt")
    assert len(RunCache.from_url(str(cache)).entries()) == 4

    result = run_cli(project, "push", "--run-cache")
    assert result.code == 0, result.err
    remote = tmp_path / "remote"
    # DVC counts pushed run-cache entries as pushed files (dvc/repo/push.py)
    assert result.out == f"{len(objects(remote)) + 4} files pushed\n"
    assert RunCache.from_url(str(remote)).entries() == RunCache.from_url(str(cache)).entries()
    # DVC 3 would leave p=1's output behind; every pushed entry must be restorable.
    assert {p1_out, p2_out} <= objects(remote)

    # After gc drops p=1's objects locally, its entries are no longer pushable.
    assert run_cli(project, "gc", "-w", "-f").code == 0
    assert p1_out not in objects(cache)
    assert run_cli(project, "remote", "add", "fresh", str(tmp_path / "fresh")).code == 0
    again = run_cli(project, "push", "-r", "fresh", "--run-cache")
    assert again.code == 0, again.err
    fresh = RunCache.from_url(str(tmp_path / "fresh"))
    assert len(fresh.entries()) == 2, "entries whose outputs were collected are skipped"
    for key, value in fresh.entries():
        entry = fresh.read_entry(key, value)
        assert entry is not None
        assert {o["md5"] for o in entry["outs"]} <= objects(tmp_path / "fresh")


def test_gc_keeps_what_is_referenced_and_removes_the_rest(project: Path, tmp_path: Path) -> None:
    cache = project.parent / ".dvc" / "cache"
    assert run_cli(project, "push").code == 0
    committed_out = md5(project / "a.txt")
    git(project.parent, "branch", "keep")
    (project / "params.yaml").write_text("p: 2\n")
    produce(project)
    git(project.parent, "commit", "-q", "-am", "p=2")
    exp_tip = git(project.parent, "rev-parse", "HEAD")
    (project / "params.yaml").write_text("p: 3\n")
    produce(project)
    exp_out = md5(project / "a.txt")  # p=3, soon only in an experiment ref
    git(project.parent, "commit", "-q", "-am", "p=3")
    git(project.parent, "update-ref", "refs/exps/aa/bbbb/exp-one", "HEAD")
    git(project.parent, "reset", "-q", "--hard", exp_tip)
    produce(project)  # back at p=2: restored from the run-cache
    before = objects(cache)

    no_scope = run_cli(project, "gc")
    assert no_scope.code == 1
    assert no_scope.err.strip().count("\n") == 0 and "-w" in no_scope.err
    assert objects(cache) == before

    dry = run_cli(project, "gc", "-w", "--dry")
    assert dry.code == 0, dry.err
    assert objects(cache) == before, "--dry removes nothing"
    listed = {line.strip() for line in dry.out.splitlines() if line.startswith("  ")}
    assert committed_out in listed and exp_out in listed
    assert not listed & lock_objects(project, cache)

    kept_exps = run_cli(project, "gc", "-w", "-a", "--all-experiments", "-f")
    assert kept_exps.code == 0, kept_exps.err
    assert {committed_out, exp_out} | lock_objects(project, cache) <= objects(cache)

    assert run_cli(project, "gc", "-w", "-a", "-f").code == 0
    assert exp_out not in objects(cache)
    assert committed_out in objects(cache), "branch 'keep' still names it"

    cloud = run_cli(project, "gc", "-w", "--cloud", "-f")
    assert cloud.code == 0, cloud.err
    assert objects(cache) == lock_objects(project, cache)
    assert objects(tmp_path / "remote") <= lock_objects(project, cache)
    assert committed_out not in objects(tmp_path / "remote")


def test_corrupt_cache_object_is_reported_and_the_workspace_kept(project: Path) -> None:
    cache = project.parent / ".dvc" / "cache"
    oid = md5(project / "a.txt")
    obj = cache / "files" / "md5" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"X" * len(obj.read_bytes()))  # same size, other bytes
    (project / "a.txt").write_text("my local edit\n")
    before = tree_snapshot(project)

    # --force: the local edit is not in the cache, and the corruption is what is checked here
    result = run_cli(project, "checkout", "--force")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR:"), result.err
    assert "corrupt" in lines[0] and oid[2:] in lines[0]
    assert tree_snapshot(project) == before

    pushed = run_cli(project, "push")
    assert pushed.code == 1 and "corrupt" in pushed.err
    assert oid not in objects(project.parent.parent / "remote")


KILLABLE = {
    "dvc.yaml": """\
stages:
  prep:
    cmd: echo prep >> ../runs.log && cp seed.txt ready.txt
    deps: [seed.txt]
    outs: [ready.txt]
  slow:
    cmd: exec python3 slow.py
    deps: [ready.txt, slow.py]
    outs: [big.bin]
""",
    "seed.txt": "ready\n",
    "slow.py": """\
import os, pathlib, time
with open('../runs.log', 'a') as log:
    log.write('slow\\n')
with open('big.bin', 'wb') as out:
    out.write(os.urandom(1 << 20))
    out.flush()
    if pathlib.Path('../hold').exists():
        pathlib.Path('../slow.pid').write_text(str(os.getpid()))
        time.sleep(120)
    out.write(os.urandom(1 << 20))
""",
}


@pytest.mark.prefect
def test_killed_stage_leaves_no_entry_and_runs_again(git_repo: Path, cli, prefect_env) -> None:
    work = git_repo / "work"
    gen(work, KILLABLE)
    (git_repo / ".gitignore").write_text("runs.log\nhold\nslow.pid\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    (git_repo / "hold").touch()
    proc = subprocess.Popen(
        [CLI, "repro"],
        cwd=work,
        env=prefect_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = git_repo / "slow.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "slow" in err.strip().splitlines()[-1]

    cache = git_repo / ".dvc" / "cache"
    ready = md5(work / "ready.txt")
    assert objects(cache) == {ready}, "no object of the killed stage may be stored"
    assert not list(cache.rglob("*.tmp"))
    runs = RunCache.from_url(str(cache))
    entries = [runs.read_entry(*pair) for pair in runs.entries()]
    assert [e["outs"][0]["path"] for e in entries if e] == ["ready.txt"]
    assert set(read_lock(work / "dvc.lock")) == {"prep"}

    (git_repo / "hold").unlink()
    again = cli(work, "repro")
    assert again.code == 0, again.err
    assert (git_repo / "runs.log").read_text() == "prep\nslow\nslow\n"
    assert (work / "big.bin").stat().st_size == 2 << 20
    assert md5(work / "big.bin") in objects(cache)
    assert len(runs.entries()) == 2


@pytest.mark.prefect
@pytest.mark.dvc_interop
def test_real_dvc_restores_from_our_run_cache(project: Path, cli) -> None:
    runs_log = project.parent / "runs.log"
    (project / "params.yaml").write_text("p: 5\n")
    result = cli(project, "repro")
    assert result.code == 0, result.err
    ran = runs_log.read_text()
    assert ran.endswith("gen\nsplit\n")
    expected = {
        "a.txt": md5(project / "a.txt"),
        **{f"parts/{k}": v for k, v in tree_snapshot(project / "parts").items()},
    }
    lock = (project / "dvc.lock").read_text()
    for path in ("a.txt", "dvc.lock"):
        (project / path).unlink()
    subprocess.run(["rm", "-rf", str(project / "parts")], check=True)

    dvc = run_dvc(project, "repro")
    assert dvc.returncode == 0, dvc.stderr
    assert "Stage 'gen' is cached" in dvc.stdout
    assert "Stage 'split' is cached" in dvc.stdout
    assert runs_log.read_text() == ran, "DVC ran a command instead of using our run-cache"
    got = {
        "a.txt": md5(project / "a.txt"),
        **{f"parts/{k}": v for k, v in tree_snapshot(project / "parts").items()},
    }
    assert got == expected
    assert read_lock(project / "dvc.lock") == read_lock_text(lock, project)


def read_lock_text(text: str, work: Path) -> dict:
    copy = work.parent / "expected.lock"
    copy.write_text(text)
    return read_lock(copy)
