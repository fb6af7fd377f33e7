"""Stopping a cluster stage's command on its worker when the driver is interrupted.

Provides:
    stop_event_name(run_id): the Dask ``Event`` the driver sets on SIGINT/SIGTERM.
    StopWatch: a context manager that polls ``should_stop()`` and, once it is
        true, kills the process group of every command running in one scratch
        folder (SIGTERM, then SIGKILL after ``grace`` seconds), as
        ``interrupt.py`` does for local stages.

Why a watcher and not ``Future.cancel()``: Dask cannot interrupt a task
that is already running in a worker thread (distributed's documentation on
``Client.cancel``), so the command would run on as an orphan. The watcher
picks the commands by their working folder (inside the task's own scratch
folder), so other tasks on a worker with several threads are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

POLL_SECONDS = 0.25


def stop_event_name(run_id: str) -> str:
    """``prefect-dvc-stop-<run_id>``: one Dask ``Event`` per cluster run."""
    return f"prefect-dvc-stop-{run_id}"


def started_event_name(run_id: str, stage: str) -> str:
    """``prefect-dvc-started-<run_id>-<md5(stage)[:16]>``: set once the stage's command starts.

    The driver reads it after a stop to name only the stages whose command
    was running; the others are "not run", as a local run says.
    """
    digest = hashlib.md5(stage.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"prefect-dvc-started-{run_id}-{digest}"


def command_started(client: Any, run_id: str, stage: str) -> bool:
    """Whether ``stage``'s command started on a worker in run ``run_id`` (its Event is set).

    ``True`` when the scheduler cannot be asked: a stage that may have run
    is not called "not run".
    """
    import distributed

    try:
        return bool(distributed.Event(started_event_name(run_id, stage), client=client).is_set())
    except Exception:  # NOTE: scheduler gone; see above
        return True


def _groups_under(folder: str) -> list[int]:
    """Process groups led by a descendant of this process whose cwd is inside ``folder``."""
    groups = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error, OSError):
            cwd = os.path.realpath(child.cwd())
            if (cwd == folder or cwd.startswith(folder + os.sep)) and os.getpgid(
                child.pid
            ) == child.pid:
                groups.append(child.pid)
    return groups


class StopWatch:
    """Kill the commands running under ``scratch`` once ``should_stop()`` is true.

    Args:
        should_stop: asked every 0.25 s (the driver's stop event); exceptions
            count as "not yet" (a lost connection must not kill a command).
        scratch: the task's scratch folder; commands run in it (their ``wdir``).
        grace: seconds between SIGTERM and SIGKILL.

    ``fired`` tells, after the block, whether a stop was seen.
    """

    def __init__(self, should_stop: Callable[[], bool], scratch: Path, grace: float = 5.0) -> None:
        self.should_stop = should_stop
        self.scratch = os.path.realpath(scratch)
        self.grace = grace
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="stop-watch")

    def _asked(self) -> bool:
        try:
            return bool(self.should_stop())
        except Exception:  # NOTE: a scheduler that cannot be reached is no stop request
            return False

    def _watch(self) -> None:
        first_kill: float | None = None
        while not self._done.wait(POLL_SECONDS):
            if not self.fired and not self._asked():
                continue
            self.fired = True
            first_kill = first_kill or time.monotonic()
            late = time.monotonic() - first_kill > self.grace
            for group in _groups_under(self.scratch):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL if late else signal.SIGTERM)

    def __enter__(self) -> StopWatch:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()
