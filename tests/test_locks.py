"""DVC's locks with real processes: ``.dvc/tmp/lock``, ``.dvc/tmp/rwlock``, queue claims.

A real ``dvc`` (its own ``Repo.lock`` in DVC's Python, or ``dvc repro``)
and prefect-dvc must keep each other out; a lock let go while a command runs
must really be free; dead holders must not block forever.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zc.lockfile
from helpers import dvc_bin, gen, git, run_dvc

from prefect_dvc.errors import LockError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.experiments.claims import Claims
from prefect_dvc.experiments.queue import Queue, QueuedExp
from prefect_dvc.locks import repo_lock, rwlock, stage_guard, workspace_experiment
from prefect_dvc.translators import load_pipeline
from prefect_dvc.yamlio import parse_yaml

PIPELINE = {
    "in.txt": "a\n",
    "dvc.yaml": (
        "stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
    ),
}


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def _wait_for(path: Path) -> None:
    """A barrier: the other process creates ``path`` when it holds what the test needs."""
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.fixture
def dvc_python() -> str:
    exe = dvc_bin()
    assert exe is not None, "real DVC is needed: set PREFECT_DVC_TEST_DVC"
    return str(Path(exe).with_name("python"))


@pytest.fixture
def dvc_holding_lock(repo: Path, dvc_python: str) -> Iterator[subprocess.Popen[str]]:
    """A real DVC process holding the repository lock (DVC's own ``Repo.lock``)."""
    script = (
        "import sys, time, pathlib\n"
        "from dvc.repo import Repo\n"
        "repo = Repo('.')\n"
        "repo.lock.lock()\n"
        "pathlib.Path('held').touch()\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([dvc_python, "-c", script], cwd=repo, stdin=subprocess.PIPE, text=True)
    _wait_for(repo / "held")
    yield proc
    proc.communicate("", timeout=60)


def test_real_dvc_holding_the_lock_makes_us_refuse_naming_it(
    repo: Path, dvc_holding_lock: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockError) as info, repo_lock(repo).hold():
        pass
    text = str(info.value)
    assert "Unable to acquire lock" in text and f"PID {dvc_holding_lock.pid}" in text
    assert "\n" not in text and "--queue" in text
    assert not repo_lock(repo).is_locked


def test_our_lock_makes_real_dvc_repro_refuse(repo: Path) -> None:
    with repo_lock(repo).hold():
        refused = run_dvc(repo, "repro")
    assert refused.returncode != 0
    assert "Unable to acquire lock" in refused.stderr
    assert not (repo / "out.txt").exists() and not (repo / "dvc.lock").exists()
    ran = run_dvc(repo, "repro")
    assert ran.returncode == 0, ran.stderr
    assert (repo / "out.txt").read_text() == "a\n"


def _file_lock_is_free(path: Path) -> bool:
    try:
        zc.lockfile.LockFile(str(path)).close()
    except zc.lockfile.LockError:
        return False
    return True


def test_lock_is_let_go_only_while_commands_run(repo: Path) -> None:
    lock = repo_lock(repo)
    with lock.hold():
        assert not _file_lock_is_free(lock.path)
        with lock.section(), lock.released():
            assert _file_lock_is_free(lock.path), "a stage's command may call DVC"
            with lock.section():
                assert not _file_lock_is_free(lock.path), "another stage's own work holds it"
            assert _file_lock_is_free(lock.path)
        assert not _file_lock_is_free(lock.path), "taken back after the command"
    assert _file_lock_is_free(lock.path)
    assert lock.path.read_text().split() == [str(os.getpid())], "DVC's format"


def test_our_stage_guard_makes_real_dvc_refuse_the_same_out(repo: Path) -> None:
    with stage_guard(repo, "s", [repo / "in.txt"], [repo / "out.txt"]):
        data = json.loads((repo / ".dvc/tmp/rwlock").read_text())
        assert set(data["write"]) == {(repo / "out.txt").as_posix()}
        assert data["write"][(repo / "out.txt").as_posix()]["pid"] > 0
        with repo_lock(repo).released():
            refused = run_dvc(repo, "repro")
    assert refused.returncode != 0
    assert "is busy" in refused.stderr and str(os.getpid()) in refused.stderr
    assert not (repo / "out.txt").exists()
    assert json.loads((repo / ".dvc/tmp/rwlock").read_text()) == {}


def test_a_live_foreign_holder_blocks_and_a_dead_one_is_cleaned(repo: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    out = (repo / "out.txt").as_posix()
    (repo / ".dvc/tmp").mkdir(parents=True, exist_ok=True)
    rw = repo / ".dvc/tmp/rwlock"
    rw.write_text(json.dumps({"write": {out: {"pid": other.pid, "cmd": "dvc repro"}}}))
    with pytest.raises(LockError) as info, stage_guard(repo, "s", [], [repo / "out.txt"]):
        pass
    assert f"PID {other.pid}: dvc repro" in str(info.value)
    # the stage is set on the error, so a run's failure line names it once
    assert info.value.stage == "s"
    assert str(info.value).startswith("stage 's': cannot run: ")
    assert str(info.value).count("stage 's'") == 1
    other.communicate(b"")
    with stage_guard(repo, "s", [], [repo / "out.txt"]):
        assert json.loads(rw.read_text())["write"][out]["pid"] != other.pid
    assert json.loads(rw.read_text()) == {}


def test_readers_share_and_a_writer_of_a_parent_folder_is_refused(repo: Path) -> None:
    tmp = repo / ".dvc/tmp"
    reader = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    data = (repo / "data/part.csv").as_posix()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rwlock").write_text(
        json.dumps({"read": {data: [{"pid": reader.pid, "cmd": "dvc repro"}]}})
    )
    try:
        with rwlock(tmp, repo, read=[data]):
            pass
        with pytest.raises(LockError), rwlock(tmp, repo, write=[(repo / "data").as_posix()]):
            pass
    finally:
        reader.communicate(b"")
    assert json.loads((tmp / "rwlock").read_text())["read"][data][0]["pid"] == reader.pid


def test_a_second_workspace_experiment_is_refused(repo: Path, dvc_python: str) -> None:
    # DVC's own exp rwlock helper holds the workspace token, as `dvc exp run` does.
    script = (
        "import sys, pathlib\n"
        "from dvc.repo import Repo\n"
        "from dvc.repo.experiments.utils import get_exp_rwlock\n"
        "with get_exp_rwlock(Repo('.'), writes=['workspace']):\n"
        "    pathlib.Path('held').touch()\n"
        "    sys.stdin.read()\n"
    )
    proc = subprocess.Popen([dvc_python, "-c", script], cwd=repo, stdin=-1, text=True)
    try:
        _wait_for(repo / "held")
        with pytest.raises(LockError) as info, workspace_experiment(repo):
            pass
    finally:
        proc.communicate("", timeout=60)
    assert "already running in this workspace" in str(info.value)
    assert f"PID {proc.pid}" in str(info.value) and "--queue" in str(info.value)
    with workspace_experiment(repo):
        pass


def test_a_queue_entry_is_claimed_once_and_a_dead_claim_is_stale(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()

    class Seen:
        id, state, message, commit = "e1", "queued", "", ""

    path = folder / "e1.json"
    path.write_text(json.dumps({"id": "e1", "state": "queued", "message": "", "commit": ""}))
    first, second = (Claims(folder, tmp_path, lambda i: folder / f"{i}.json") for _ in range(2))
    marked: list[str] = []
    assert first.claim(Seen(), lambda: marked.append("first"))
    assert not second.claim(Seen(), lambda: marked.append("second"))
    assert marked == ["first"]
    first.release("e1")
    path.write_text(json.dumps({"id": "e1", "state": "failed", "message": "x", "commit": ""}))
    assert not second.claim(Seen(), lambda: marked.append("second")), "it ran meanwhile"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
    (folder / "e1.claim").write_text(json.dumps({"pid": int(dead.stdout), "cmd": "x"}))
    Seen.state, Seen.message = "failed", "x"
    assert not second.runnable(Seen()), "a failed entry stays failed, as in DVC"
    path.write_text(json.dumps({"id": "e1", "state": "running", "message": "x", "commit": ""}))
    Seen.state = "running"
    assert second.runnable(Seen()) and second.claim(Seen(), lambda: marked.append("second"))
    assert marked == ["first", "second"]


def _runs(root: Path) -> list[Path]:
    return list((root / ".dvc/cache/runs").glob("*/*/*"))


def test_a_stage_lets_the_lock_go_for_its_command_and_records_a_true_run_cache_entry(
    repo: Path,
) -> None:
    # `flock -n` fails unless the repository lock is free while the command runs.
    gen(
        repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: flock -n .dvc/tmp/lock cp in.txt out.txt\n"
            "    deps: [in.txt]\n    outs: [out.txt]\n"
        },
    )
    executor = open_executor(repo, load_pipeline(repo))
    try:
        with repo_lock(repo).hold():
            result = executor.run("s", RunOptions(), print)
            assert repo_lock(repo).is_locked, "taken back after the command"
    finally:
        executor.close()
    assert result.outcome.value == "ran"
    (entry_path,) = _runs(repo)
    entry = parse_yaml(entry_path.read_text())
    assert entry["outs"][0]["md5"] == hashlib.md5(b"a\n").hexdigest()
    assert json.loads((repo / ".dvc/tmp/rwlock").read_text()) == {}


def test_a_dep_changed_while_the_command_ran_leaves_no_run_cache_entry(repo: Path) -> None:
    gen(
        repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: cp in.txt out.txt && echo b > in.txt\n"
            "    deps: [in.txt]\n    outs: [out.txt]\n"
        },
    )
    executor = open_executor(repo, load_pipeline(repo))
    try:
        executor.run("s", RunOptions(), print)
    finally:
        executor.close()
    assert _runs(repo) == [], "an entry keyed by in=b would restore out=a"
    assert (repo / "dvc.lock").exists()


@pytest.mark.parametrize(
    ("text", "why"),
    [("{not json", "corrupted"), ('{"write": []}', "format error"), ("[]", "format error")],
)
def test_a_damaged_rwlock_file_is_named_and_left_alone(repo: Path, text: str, why: str) -> None:
    rw = repo / ".dvc/tmp/rwlock"
    rw.parent.mkdir(parents=True, exist_ok=True)
    rw.write_text(text)
    with pytest.raises(LockError) as info, stage_guard(repo, "s", [], [repo / "out.txt"]):
        pass
    assert why in str(info.value) and "'.dvc/tmp/rwlock'" in str(info.value)
    assert rw.read_text() == text
    assert not repo_lock(repo).is_locked


def test_a_running_queue_entry_cannot_be_removed(repo: Path) -> None:
    queue = Queue(repo)
    entry = QueuedExp(id="abc", name="e1", baseline=git(repo, "rev-parse", "HEAD"))
    queue.add([entry])
    runner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        claim = queue.folder / "abc.claim"
        claim.write_text(json.dumps({"pid": runner.pid, "cmd": "prefect-dvc queue start"}))
        with pytest.raises(LockError) as info:
            queue.remove(["e1"])
    finally:
        runner.communicate(b"")
    assert f"'e1' is running (PID {runner.pid}: prefect-dvc queue start)" in str(info.value)
    assert [e.name for e in queue.entries()] == ["e1"]
    assert queue.remove(["e1"]) == ["e1"], "a claim whose process is gone is stale"
    assert queue.entries() == []
