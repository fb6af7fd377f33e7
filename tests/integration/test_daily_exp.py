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
