"""DVC's repository lock, ``.dvc/tmp/lock``, shared by the threads of one process.

Provides:
    Holder: who holds a lock (pid and command line), for messages.
    this_command(): the command line recorded as ours (DVC: ``" ".join(sys.argv)``).
    RepoLock: the lock of one repository in this process; ``hold`` (a
        command), ``section`` (a stage's own work) and ``released`` (while a
        stage's command runs).
    repo_lock(root): the one :class:`RepoLock` of ``root`` in this process.
    set_wait_for_lock(wait): DVC's global ``--wait-for-lock``.

The file and its locking are DVC's (``dvc/lock.py``, ``Lock``): an
``fcntl.flock`` taken through ``zc.lockfile``, which writes ``" <pid>\\n"``
into the file, so a running ``dvc`` and prefect-dvc keep each other out.
A busy lock is retried 6 times over 3 seconds and then refused with
DVC's "Unable to acquire lock" (``--wait-for-lock`` waits instead).

As DVC's ``unlocked_repo`` (``dvc/stage/run.py``) the lock is let go while a
stage's command runs, since the command may itself call DVC. Stages of one
run execute in threads of one process, and ``flock`` belongs to an open file,
so the process keeps one open file per lock and counts who needs it: the
file is locked while any thread is in a ``section``, or while a ``hold`` is
active and no command is running.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import zc.lockfile

from prefect_dvc.errors import LockError

# NOTE: dvc/lock.py: DEFAULT_TIMEOUT = 3 s spread over default_retries = 6.
RETRIES = 6
DELAY = 0.5

_WAIT = {"enabled": False}

_DVC_MESSAGE = (
    "Unable to acquire lock. Most likely another DVC process is running or was terminated abruptly"
)


@dataclass(frozen=True)
class Holder:
    """A process named in a lock file: ``pid`` (None if unknown) and its command line."""

    pid: int | None
    cmd: str = ""

    def describe(self) -> str:
        """``"PID 123: dvc repro"``, or what is known of it."""
        if self.pid is None:
            return "an unknown process"
        return f"PID {self.pid}: {self.cmd}" if self.cmd else f"PID {self.pid}"


def this_command() -> str:
    """Our command line as lock files record it (DVC records ``" ".join(sys.argv)``)."""
    return " ".join([Path(sys.argv[0]).name or "python", *sys.argv[1:]])


def read_holder(path: Path) -> Holder:
    """The process whose pid ``zc.lockfile`` wrote into ``path``, with its command line."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return Holder(None)
    try:
        cmd = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        cmd = ""
    return Holder(pid, cmd)


def _refusal(path: Path, root: Path) -> LockError:
    holder = read_holder(path)
    return LockError(
        f"{_DVC_MESSAGE}: '{path.relative_to(root).as_posix()}' is held by {holder.describe()}",
        holder=holder.describe(),
        hint=(
            "Wait for it to finish and run again (or pass --wait-for-lock); queue experiments "
            "with 'prefect-dvc exp run --queue'; if no such process runs, the lock frees itself"
        ),
    )


def take_file_lock(path: Path, root: Path, *, wait: bool) -> zc.lockfile.LockFile:
    """Lock ``path`` as DVC's ``Lock.lock`` does: retry for 3 s, or forever with ``wait``.

    Raises:
        LockError: still busy after the retries; names the holder and what to do.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    while True:
        try:
            return zc.lockfile.LockFile(str(path))
        except zc.lockfile.LockError:
            attempts += 1
            if not wait and attempts > RETRIES:
                raise _refusal(path, root) from None
            time.sleep(DELAY)


class RepoLock:
    """The repository lock of one repository, shared by every thread of this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / ".dvc" / "tmp" / "lock"
        self._mutex = threading.RLock()
        self._file: zc.lockfile.LockFile | None = None
        self._holds = 0
        self._sections = 0
        self._running = 0

    @property
    def is_locked(self) -> bool:
        return self._file is not None

    def _sync(self, *, patient: bool) -> None:
        wanted = self._sections > 0 or (self._holds > 0 and self._running == 0)
        if wanted and self._file is None:
            self._file = take_file_lock(self.path, self.root, wait=patient or _WAIT["enabled"])
        elif not wanted and self._file is not None:
            self._file.close()
            self._file = None

    def _change(
        self, holds: int = 0, sections: int = 0, running: int = 0, *, patient: bool
    ) -> None:
        with self._mutex:
            self._holds += holds
            self._sections += sections
            self._running += running
            try:
                self._sync(patient=patient)
            except BaseException:
                self._holds -= holds
                self._sections -= sections
                self._running -= running
                raise

    @contextmanager
    def hold(self, *, wait: bool = False) -> Iterator[None]:
        """Keep the lock for a command (DVC's ``@locked``); re-entrant.

        Raises:
            LockError: another process holds it for more than 3 s (unless ``wait``).
        """
        self._change(holds=1, patient=wait)
        try:
            yield
        finally:
            self._change(holds=-1, patient=True)

    @contextmanager
    def section(self) -> Iterator[None]:
        """Hold the lock for a stage's own work (status, restore, hashing, lock entry).

        Waits as long as needed (DVC retries 3 s when it takes the lock back
        after a command; here parallel stages take it back more often):
        the stage holds nothing yet, so waiting cannot deadlock.
        """
        self._change(sections=1, patient=True)
        try:
            yield
        finally:
            self._change(sections=-1, patient=True)

    @contextmanager
    def released(self) -> Iterator[None]:
        """Inside a ``section``: let the lock go while a command runs, take it back after.

        Taking it back waits as long as needed: the stage's paths stay
        guarded by the rwlock meanwhile, so waiting can only delay it.
        """
        self._change(sections=-1, running=1, patient=True)
        try:
            yield
        finally:
            self._change(sections=1, running=-1, patient=True)


_LOCKS: dict[Path, RepoLock] = {}
_REGISTRY = threading.Lock()


def repo_lock(root: Path) -> RepoLock:
    """The one :class:`RepoLock` of the repository at ``root`` in this process."""
    key = root.resolve()
    with _REGISTRY:
        if key not in _LOCKS:
            _LOCKS[key] = RepoLock(key)
        return _LOCKS[key]


def set_wait_for_lock(wait: bool) -> None:
    """Wait for busy locks instead of refusing after 3 s (DVC's ``--wait-for-lock``)."""
    _WAIT["enabled"] = wait
