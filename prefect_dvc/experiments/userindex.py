"""Keep the user's Git index as it was before ``exp run``, whatever the stages ``git add``.

Provides:
    IndexSnapshot: the bytes of the user's index file (``None``: there was none).
    snapshot_index(root): read it before the pipeline runs.
    restore_index(snapshot): put it back after the run; ``False`` when Git's
        ``index.lock`` is held by someone else (the index is then left alone).
    kept_index(root): both around a block, restoring even when the block fails.

Why: a stage command may run ``git add`` (DVCLive does for its outputs, a
user's script may too). DVC's workspace executor runs the experiment on a
detached HEAD and leaves it with ``scmrepo``'s ``detach_head`` context, which
resets the index, so after ``dvc exp run`` nothing a stage staged is staged
(``dvc/repo/experiments/executor/local.py``, ``WorkspaceExecutor``). DVC's
reset also unstages what the *user* had staged before the run (a staged
version that differs from the worktree is lost); we restore the pre-run index
byte for byte instead, which equals DVC's result whenever nothing was staged
and never loses a staged change. Our experiment commit is built in a private
index (``experiments/commit.py``), so the user's index is touched only here.

The file is written under Git's own lock protocol (create ``index.lock``
exclusively, write, rename over ``index``), so a ``git`` running at the same
moment either sees the old index or the restored one, never half of it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IndexSnapshot", "kept_index", "restore_index", "snapshot_index"]


@dataclass(frozen=True)
class IndexSnapshot:
    """The user's index file: its path and bytes (``None`` when it did not exist)."""

    path: Path
    content: bytes | None


def _index_path(root: Path) -> Path | None:
    """Where Git keeps the index of ``root``'s work tree (honours ``GIT_INDEX_FILE``
    and linked work trees), or ``None`` when ``root`` is in no Git repository."""
    proc = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-path", "index"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return Path(proc.stdout.strip())


def snapshot_index(root: Path) -> IndexSnapshot | None:
    """The user's index as it is now; ``None`` when ``root`` is not in a Git work tree."""
    path = _index_path(Path(root))
    if path is None:
        return None
    try:
        return IndexSnapshot(path, path.read_bytes())
    except FileNotFoundError:
        return IndexSnapshot(path, None)


def restore_index(snapshot: IndexSnapshot) -> bool:
    """Put the index back as ``snapshot`` holds it; a no-op when it did not change.

    Returns:
        ``True`` when the index is as it was, or its repository is gone (a
        scheduled run's clone, deleted once pushed); ``False`` when
        ``index.lock`` exists (a ``git`` still running, or one killed): the
        index is not touched.
    """
    path = snapshot.path
    if not path.parent.is_dir():
        return True
    try:
        now: bytes | None = path.read_bytes()
    except FileNotFoundError:
        now = None
    if now == snapshot.content:
        return True
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        if snapshot.content is None:
            os.close(fd)
            os.unlink(lock)
            path.unlink(missing_ok=True)
            return True
        with os.fdopen(fd, "wb") as out:
            out.write(snapshot.content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(lock, path)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    return True


@contextmanager
def kept_index(root: Path, on_locked: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Run a block, then restore the user's index as it was before it (also on failure).

    ``on_locked`` is called with the index path when ``index.lock`` was held
    and the index could not be restored, so the caller can warn.
    """
    snapshot = snapshot_index(root)
    try:
        yield
    finally:
        if snapshot is not None and not restore_index(snapshot) and on_locked is not None:
            on_locked(snapshot.path)
