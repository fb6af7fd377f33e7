"""A writer killed mid-write leaves nothing that outlives the next command (issue #11 §4).

Each test SIGKILLs a real child process running our code at a fixed point
(a profile hook kills it when the named function is entered, so the moment
is deterministic: the temporary file or folder exists, the final name does
not), then runs the next real command and looks at the disk.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import gen, git

from prefect_dvc.lockfile import read_lock

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = 50 << 20

KILL_AT = """
import os, signal, sys
def _kill(frame, event, arg):
    if event == "call" and frame.f_code.co_name == {where!r}:
        os.kill(os.getpid(), signal.SIGKILL)
    if (event == "c_call" and getattr(arg, "__name__", "") == "replace"
            and frame.f_code.co_name == "atomic_write"
            and frame.f_locals["path"].name == {where!r}):
        os.kill(os.getpid(), signal.SIGKILL)  # the temp file is whole, not yet renamed
sys.setprofile(_kill)
"""

PRODUCE = """
from pathlib import Path
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.translators import load_pipeline
root = Path.cwd()
pipeline = load_pipeline(root)
with open_executor(root, pipeline) as executor:
    for name in pipeline.order():
        executor.run(name, RunOptions(), print)
"""

COMMIT = """
from pathlib import Path
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.git import Git
root = Path.cwd()
commit_experiment(root, baseline=Git(root).head_commit(), name="exp1",
                  paths=["params.yaml"], message="m")
"""

PIPELINE = {
    "dvc.yaml": """\
stages:
  big:
    cmd: python3 make_big.py
    deps: [make_big.py]
    outs: [big.bin]
""",
    "make_big.py": f"""\
with open('big.bin', 'wb') as out:
    block = bytes(range(256)) * 4096
    for _ in range({BIG} // len(block)):
        out.write(block)
""",
    "params.yaml": "p: 1\n",
}


def run_killed(cwd: Path, where: str, script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT.format(where=where) + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300
    )


def temp_names(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if ".~" in p.name)


def big_md5() -> str:
    block = bytes(range(256)) * 4096
    digest = hashlib.md5()
    for _ in range(BIG // len(block)):
        digest.update(block)
    return digest.hexdigest()


def project(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def test_object_killed_before_its_rename_is_removed_by_the_next_command(git_repo: Path) -> None:
    root = project(git_repo)
    cache = root / ".dvc" / "cache"
    oid = big_md5()
    final = cache / "files" / "md5" / oid[:2] / oid[2:]
    run_killed(root, "_adopt", PRODUCE)  # the 50 MB copy is whole, not yet renamed
    partial = [p for p in temp_names(cache) if p.parent == final.parent]
    assert len(partial) == 1 and partial[0].stat().st_size == BIG
    assert not final.exists()

    result = run_cli(root, "checkout")  # the next command that opens the cache
    assert temp_names(cache / "files") == [], result.stderr
    assert not final.exists()
    assert not (cache / ".prefect-dvc-writers").exists() or not any(
        (cache / ".prefect-dvc-writers").iterdir()
    )


def test_gc_removes_a_killed_writers_partial_object(git_repo: Path) -> None:
    root = project(git_repo)
    cache = root / ".dvc" / "cache"
    run_killed(root, "md5_file", PRODUCE)  # killed while verifying the copied bytes
    assert len(temp_names(cache / "files")) == 1
    for marker in (cache / ".prefect-dvc-writers").iterdir():
        marker.unlink()  # NOTE: gc must find leftovers without the crash marker

    result = run_cli(root, "gc", "-w")
    assert result.returncode == 0, result.stderr
    assert temp_names(cache) == []


def test_lock_file_write_killed_before_rename_keeps_the_old_file(git_repo: Path) -> None:
    root = project(git_repo)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.run(
        [sys.executable, "-c", PRODUCE], cwd=root, env=env, capture_output=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    lock_before = (root / "dvc.lock").read_bytes()
    (root / "make_big.py").write_text(PIPELINE["make_big.py"] + "# changed\n")
    run_killed(root, "dvc.lock", PRODUCE)
    assert (root / "dvc.lock").read_bytes() == lock_before
    assert [p.name[:11] for p in temp_names(root) if p.parent == root] == [".dvc.lock.~"]

    again = subprocess.run(
        [sys.executable, "-c", PRODUCE], cwd=root, env=env, capture_output=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert [p for p in temp_names(root) if p.parent == root] == []
    deps = read_lock(root / "dvc.lock")["big"]["deps"]
    assert deps[0]["md5"] == hashlib.md5((root / "make_big.py").read_bytes()).hexdigest()


def test_private_index_folder_of_a_killed_finalizer_is_removed(git_repo: Path) -> None:
    root = project(git_repo)
    run_killed(root, "_present", COMMIT)  # inside the private index folder's lifetime
    own = root / ".dvc" / "tmp" / "prefect-dvc"
    leftovers = [p for p in own.iterdir() if p.name.startswith("index.~")]
    assert len(leftovers) == 1 and (leftovers[0] / "index").exists()
    assert git(root, "for-each-ref", "refs/exps") == ""

    run_cli(root, "checkout")
    assert [p for p in own.iterdir() if p.name.startswith("index.~")] == []


DIR_PIPELINE = {
    "dvc.yaml": """\
stages:
  many:
    cmd: mkdir -p d && for i in 1 2 3; do echo $i > d/$i.txt; done
    outs: [d]
""",
}

CHECKOUT = """
from prefect_dvc.cli import main
main(["checkout"])
"""


def test_restore_killed_before_its_swap_leaves_a_folder_the_next_run_removes(
    git_repo: Path,
) -> None:
    gen(git_repo, DIR_PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.run(
        [sys.executable, "-c", PRODUCE], cwd=git_repo, env=env, capture_output=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    (git_repo / "d" / "2.txt").unlink()
    run_killed(git_repo, "_swap", CHECKOUT)  # the new folder is whole, not yet in place
    (leftover,) = [p for p in git_repo.iterdir() if p.name.startswith(".d.~")]
    assert sorted(p.name for p in leftover.iterdir()) == ["1.txt", "2.txt", "3.txt"]
    assert sorted(p.name for p in (git_repo / "d").iterdir()) == ["1.txt", "3.txt"]

    # NOTE: the stage runs its command (no run-cache), so nothing is restored
    # beside d: the leftover must go because the run opened, not restored.
    rerun = PRODUCE.replace("RunOptions()", "RunOptions(use_run_cache=False)")
    assert rerun != PRODUCE
    again = subprocess.run(
        [sys.executable, "-c", rerun], cwd=git_repo, env=env, capture_output=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert [p for p in git_repo.iterdir() if p.name.startswith(".d.~")] == []
    assert sorted(p.name for p in (git_repo / "d").iterdir()) == ["1.txt", "2.txt", "3.txt"]
