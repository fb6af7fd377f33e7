"""``exp rename``, ``queue kill`` and ``exp clean`` through the real CLI.

``exp rename`` is compared with real DVC 3.67.1 on a twin (same refs, same
commits, same refusals); ``queue kill`` stops a running queued experiment
while a fast one finishes, and ``exp clean`` then drops only the finished
entry's records.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.cli import main
from prefect_dvc.experiments.queue import Queue

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _refs(root: Path) -> list[str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
    head = git(root, "rev-parse", "HEAD")
    return sorted(line.replace(head[2:], "<base>") for line in out.splitlines())


def test_exp_rename_moves_the_ref_as_dvc_does(git_repo: Path, tmp_path: Path, cli) -> None:
    gen(git_repo, {"params.yaml": "lr: 1\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "base")
    for name, lr in (("first", 2), ("second", 3)):
        gen(git_repo, {"params.yaml": f"lr: {lr}\n"})
        assert cli(git_repo, "exp", "save", "-n", name).code == 0
    theirs = tmp_path / "theirs"
    shutil.copytree(git_repo, theirs, symlinks=True)
    before = _refs(git_repo)

    taken_dvc = run_dvc(theirs, "exp", "rename", "first", "second")
    taken = cli(git_repo, "exp", "rename", "first", "second")
    assert taken_dvc.returncode != 0 and taken.code == 1
    assert "'second' already exists" in taken.err
    assert _refs(git_repo) == _refs(theirs) == before

    dvc = run_dvc(theirs, "exp", "rename", "first", "renamed")
    ours = cli(git_repo, "exp", "rename", "first", "renamed")
    assert dvc.returncode == 0 and ours.code == 0, (dvc.stderr, ours.err)
    assert ours.out == dvc.stdout == "Renamed experiments: 'first'\n"
    assert _refs(git_repo) == _refs(theirs) != before
    assert any(line.startswith("refs/exps/") and "/renamed " in line for line in _refs(git_repo))


@pytest.mark.prefect
def test_queue_kill_stops_a_running_entry_and_clean_drops_finished_ones(
    git_repo: Path, tmp_path: Path, cli, prefect_env: dict[str, str]
) -> None:
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    gen(
        git_repo,
        {
            "params.yaml": "wait: 0\n",
            "dvc.yaml": "stages:\n  s:\n"
            f"    cmd: test ${{wait}} -eq 0 || echo started > {fifo}; sleep ${{wait}}; "
            "echo done > out.txt\n    params: [wait]\n    outs: [out.txt]\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    assert cli(git_repo, "exp", "run", "--queue", "-n", "fast").code == 0
    assert cli(git_repo, "exp", "run", "--queue", "-n", "slow", "-S", "wait=600").code == 0
    not_running = cli(git_repo, "queue", "kill", "slow")
    assert not_running.code == 1 and "'slow' is not running (it is queued)" in not_running.err

    runner = subprocess.Popen(
        [CLI, "queue", "start", "-j", "2"],
        cwd=git_repo,
        env=prefect_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _stage_started(fifo), "the slow stage never started"
        killed = cli(git_repo, "queue", "kill", "slow")
        assert killed.code == 0, killed.err
        assert killed.out == "Interrupted: slow\n"
        output, _ = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode != 0, output
    states = {e.name: e.state for e in Queue(git_repo).entries()}
    assert states == {"fast": "success", "slow": "failed"}
    assert [line.split()[0].rsplit("/", 1)[1] for line in _refs(git_repo)] == ["fast"]

    cleaned = cli(git_repo, "exp", "clean")
    assert cleaned.code == 0, cleaned.err
    assert cleaned.out.splitlines()[-1] == "Done!"
    assert {e.name: e.state for e in Queue(git_repo).entries()} == {"slow": "failed"}
    assert cli(git_repo, "queue", "logs", "slow").code == 0


def _stage_started(fifo: Path) -> bool:
    """Block until the slow stage writes to ``fifo`` (bounded: a failed runner never writes)."""
    seen = threading.Event()

    def read() -> None:
        with open(fifo) as pipe:
            if pipe.read():
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=300)
    return seen.is_set()


@pytest.mark.prefect
def test_exp_run_temp_runs_in_a_clone_and_brings_back_dvcs_commit(
    git_repo: Path, tmp_path: Path, cli
) -> None:
    gen(
        git_repo,
        {
            "params.yaml": "lr: 1\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo lr=${lr} > out.txt\n"
            "    params: [lr]\n    outs:\n    - out.txt:\n        cache: false\n",
        },
    )
    assert run_dvc(git_repo, "repro").returncode == 0
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    theirs = tmp_path / "theirs"
    shutil.copytree(git_repo, theirs, symlinks=True)
    before = _workspace(git_repo)

    dvc = run_dvc(theirs, "exp", "run", "--temp", "-n", "t1", "-S", "lr=5")
    assert dvc.returncode == 0, dvc.stderr
    result = cli(git_repo, "exp", "run", "--temp", "-n", "t1", "-S", "lr=5")
    assert result.code == 0, result.err
    head = git(git_repo, "rev-parse", "HEAD")
    ref = f"refs/exps/{head[:2]}/{head[2:]}/t1"
    assert "Ran experiment 't1' " in result.out and ref in result.out
    assert git(git_repo, "show", f"{ref}:out.txt") == "lr=5"
    assert git(git_repo, "rev-parse", f"{ref}^") == head
    ours_tree = git(git_repo, "ls-tree", "-r", ref).splitlines()
    their_tree = git(theirs, "ls-tree", "-r", ref).splitlines()
    assert ours_tree == [line for line in their_tree if not line.endswith(".dvc/tmp/repro.dat")]
    assert _workspace(git_repo) == before
    assert git(git_repo, "status", "--porcelain") == ""
    standalone = git_repo / ".dvc" / "tmp" / "exps" / "standalone"
    assert standalone.is_dir() and list(standalone.iterdir()) == []
    assert Queue(git_repo).entries() == []
    taken = cli(git_repo, "exp", "run", "--temp", "-n", "t1", "-S", "lr=6")
    assert taken.code == 1 and "'t1' already exists" in taken.err


def _workspace(root: Path) -> dict[str, bytes]:
    """Every file outside .git and .dvc/tmp, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".dvc/tmp" not in p.as_posix()
    }


def test_queue_remove_by_state_removes_only_those_entries(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen(git_repo, {"params.yaml": "lr: 1\n", "dvc.yaml": "stages:\n  s:\n    cmd: echo\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    monkeypatch.chdir(git_repo)
    for name in ("one", "two"):
        assert main(["exp", "run", "--queue", "-n", name, "-S", "lr=2"]) == 0
    assert main(["queue", "remove", "--failed", "--success"]) == 0
    assert sorted(e.name for e in Queue(git_repo).entries()) == ["one", "two"]
    assert main(["queue", "remove", "--queued"]) == 0
    assert Queue(git_repo).entries() == []
