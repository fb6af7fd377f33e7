"""Claims on queued experiments, so that concurrent ``--run-all`` never run one twice.

Provides:
    Claims: ``<id>.claim`` files beside the queue's entries, each holding
        ``{"pid": int, "cmd": str}`` of the process running that entry;
        ``mutex`` (the queue's own file lock), ``runnable``, ``claim``,
        ``release``, ``holder``, ``refuse_running``, ``running``.

A claim is made under the queue's mutex (``claims.lock``, an ``flock``
through ``zc.lockfile`` like DVC's locks) and only if the entry on disk is
still what the claimer saw when it listed the queue: an entry another
process ran (and finished, or failed) meanwhile is left alone. A claim whose
process no longer exists is stale: its entry may run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psutil

from prefect_dvc.errors import LockError
from prefect_dvc.locks.repo_lock import take_file_lock, this_command
from prefect_dvc.yamlio import atomic_write

# NOTE: DVC's queue start / exp run --run-all take only queued entries; a failed one stays
# failed until removed (dvc/repo/experiments/queue/celery.py: workers take queued messages only;
# failed runs sit in the failed stash).
RUNNABLE = ("queued",)


class _Entry(Protocol):
    id: str
    state: str
    message: str
    commit: str


class _Named(_Entry, Protocol):
    name: str


class Claims:
    """The claims of one queue folder; ``entry_path(id)`` is where an entry's JSON lives."""

    def __init__(self, folder: Path, root: Path, entry_path: Callable[[str], Path]) -> None:
        self.folder = folder
        self.root = root
        self.entry_path = entry_path

    def _claim_path(self, entry_id: str) -> Path:
        return self.folder / f"{entry_id}.claim"

    @contextmanager
    def mutex(self) -> Iterator[None]:
        """The queue's lock: adding, claiming and releasing entries happen one at a time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        guard = take_file_lock(self.folder / "claims.lock", self.root, wait=True)
        try:
            yield
        finally:
            guard.close()

    def holder(self, entry_id: str) -> dict[str, Any] | None:
        """``{"pid", "cmd"}`` of the live process running the entry, else None."""
        try:
            info = json.loads(self._claim_path(entry_id).read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return info if psutil.pid_exists(pid) else None

    def runnable(self, entry: _Entry) -> bool:
        """Queued, or left ``running`` by a process that is gone (never ``failed``, as in DVC)."""
        if self.holder(entry.id) is not None:
            return False
        return entry.state in RUNNABLE or entry.state == "running"

    def claim(self, seen: _Entry, mark: Callable[[], None]) -> bool:
        """Take ``seen`` if it is unchanged on disk and unclaimed; ``mark`` records it running.

        Returns False (and does nothing) when another process claimed, ran or
        removed it since ``seen`` was read.
        """
        with self.mutex():
            try:
                current = json.loads(self.entry_path(seen.id).read_text())
            except (OSError, ValueError):
                return False
            same = all(current.get(k) == getattr(seen, k) for k in ("state", "message", "commit"))
            if not same or not self.runnable(seen):
                return False
            info = {"pid": psutil.Process().pid, "cmd": this_command()}
            atomic_write(self._claim_path(seen.id), json.dumps(info))
            mark()
            return True

    def release(self, entry_id: str) -> None:
        """The entry's run ended (its final state is saved): drop the claim."""
        with self.mutex():
            self._claim_path(entry_id).unlink(missing_ok=True)

    def refuse_running(self, entries: Sequence[_Named]) -> None:
        """Raise if a live process runs one of ``entries`` (call under :meth:`mutex`).

        Raises:
            LockError: names the entry and the process running it.
        """
        for entry in entries:
            info = self.holder(entry.id)
            if info is not None:
                raise LockError(
                    f"queued experiment '{entry.name}' is running "
                    f"(PID {info['pid']}: {info.get('cmd', '')})",
                    holder=f"PID {info['pid']}: {info.get('cmd', '')}",
                    hint="Wait for it to finish, then remove it",
                )

    def running(self) -> list[dict[str, Any]]:
        """The live claims of this queue."""
        ids = [p.stem for p in self.folder.glob("*.claim")] if self.folder.is_dir() else []
        return [info for info in (self.holder(i) for i in ids) if info is not None]
