"""A full disk (or any OSError) while writing our files is one line naming the path.

The full disk is real: a tmpfs with a fixed number of inodes mounted over the
folder that holds the pipeline, so creating one more file there fails with
ENOSPC exactly where the test wants it (tests run as root in this project's
sandbox, where ``mount -t tmpfs`` is allowed and ``chmod`` would stop nothing).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import WorkspaceWriteError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.translators import load_pipeline
from prefect_dvc.yamlio import atomic_write

STAGE = """\
stages:
  make:
    cmd: echo made > m.txt
    outs: [m.txt]
"""


@pytest.fixture
def tiny_fs(git_repo: Path) -> Iterator[tuple[Path, Path]]:
    """``(repo, repo/sub)`` with ``sub`` a tmpfs allowing 4 inodes: the folder and 3 files."""
    sub = git_repo / "sub"
    sub.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=4", "tmpfs", str(sub)], check=True
    )
    try:
        yield git_repo, sub
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


def test_full_disk_while_writing_dvc_lock_is_one_line_and_leaves_no_lock(
    tiny_fs: tuple[Path, Path],
) -> None:
    root, sub = tiny_fs
    gen(sub, {"dvc.yaml": STAGE})  # inode 2; m.txt takes 3, .gitignore 4: dvc.lock cannot
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "stage")
    executor = open_executor(root, load_pipeline(root, "sub/dvc.yaml"), dvcfile="sub/dvc.yaml")
    try:
        with pytest.raises(WorkspaceWriteError) as caught:
            executor.run("make", RunOptions(), lambda line: None)
    finally:
        executor.close()
    err = caught.value
    assert err.errno == errno.ENOSPC
    assert str(err) == (
        f"{sub / 'dvc.lock'}: cannot write it: No space left on device."
        " Free some disk space and run again."
    )
    assert not (sub / "dvc.lock").exists()
    assert sorted(p.name for p in sub.iterdir()) == [".gitignore", "dvc.yaml", "m.txt"]


def test_full_disk_through_the_cli_is_one_error_line(tiny_fs: tuple[Path, Path], cli) -> None:
    root, sub = tiny_fs
    gen(sub, {"dvc.yaml": STAGE, "filler": "x"})  # inodes 2, 3; m.txt 4: no .gitignore
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "stage")
    result = cli(sub, "repro")
    assert result.code != 0
    errors = [line for line in result.err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.err
    assert errors[0].startswith("ERROR: stage 'sub/dvc.yaml:make': ")
    assert errors[0].endswith(
        f"{sub / '.gitignore'}: cannot write it: No space left on device."
        " Free some disk space and run again."
    )
    assert "Traceback" not in result.err
    assert not (sub / "dvc.lock").exists() and not (sub / ".gitignore").exists()


def test_atomic_write_turns_every_oserror_into_one_line_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "params"
    blocker.write_text("a file where a folder should be\n")
    with pytest.raises(WorkspaceWriteError) as caught:
        atomic_write(blocker / "params.yaml", "lr: 1\n")
    assert caught.value.errno == errno.ENOTDIR
    assert str(caught.value).startswith(f"{blocker / 'params.yaml'}: cannot write it: ")
    assert "\n" not in str(caught.value)
    assert blocker.read_text() == "a file where a folder should be\n"


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("lr: 1\n")
    path.chmod(0o640)
    atomic_write(path, "lr: 2\n")
    assert path.read_text() == "lr: 2\n"
    assert path.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "new.yaml"
    atomic_write(fresh, "x: 1\n")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
