"""Who is running what in a project: records that outlive a killed process.

Provides:
    ProcessId: host, pid and start time of a process (the start time tells a
        live process from a later one that reuses its pid).
    RunRecord: one local flow run or queue runner, as a JSON file under
        ``.dvc/tmp/prefect-dvc/runs/``: its process, its flow run id and the
        Prefect API it reports to, or the queue entry it runs.
    record_run(root, record): write the record, yield, remove it (a context).
    read_records(root): every record, unreadable files skipped.
    dead_records(root): the records of processes on *this* host that are gone.
    forget(root, record): remove a record once it has been dealt with.
    RUN_ENV: the environment variable naming the record in every stage
        command of the run, so the commands a killed run orphaned can be found.
    orphans_of(record): the live processes of this host started for ``record``.
    helper_processes(): this process's children that share its process group
        (Prefect's temporary server), with that server's API URL.

A process killed with SIGKILL cannot tell Prefect or the queue that it is
gone: its flow run would stay Running and its queue entry "running" forever.
So each local run leaves this record when it starts and removes it when it
ends; any later command in the repository finds the records whose process
is dead and settles them (``cli/reconcile.py``). Records of other hosts are
never touched: runs there are Prefect's business (flow-run heartbeats).

No Prefect here: reading the records is cheap and happens on every command,
including the read-only ones that must never import Prefect.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_dvc.repo import RepoPaths
from prefect_dvc.yamlio import atomic_write

if TYPE_CHECKING:
    # NOTE: imported where used: only a command that finds a run record pays
    # psutil's import (8 ms), not every status or no-op repro.
    import psutil

# NOTE: psutil derives a start time from the boot time and the process's
# start tick; the same process always gets the same value, but allow for
# rounding so that a record is never taken for dead while its process lives.
_START_TOLERANCE = 0.5
RUN_ENV = "PREFECT_DVC_RUN"


@dataclass(frozen=True)
class ProcessId:
    """A process: ``host`` (``socket.gethostname()``), ``pid``, ``started`` (epoch seconds)."""

    host: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> ProcessId:
        """This process."""
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """Process ``pid`` of this host.

        Raises:
            psutil.NoSuchProcess: there is no such process.
        """
        import psutil

        return cls(socket.gethostname(), pid, psutil.Process(pid).create_time())

    @property
    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether this very process still runs (not a later one reusing the pid).

        Only meaningful for a local process; a zombie (dead, not yet reaped)
        counts as dead.
        """
        import psutil

        try:
            proc = psutil.Process(self.pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return abs(proc.create_time() - self.started) < _START_TOLERANCE
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return False
        except psutil.AccessDenied:  # another user's process with our pid: alive
            return True


@dataclass(frozen=True)
class RunRecord:
    """One local run that a later command must settle if its process dies.

    Attributes:
        key: the file name stem: the flow run id, or ``queue-<entry id>``.
        process: who runs it.
        flow_run_id: the Prefect flow run (``None`` for a queue runner).
        flow: the flow's name (``repro``, ``exp_run``), for messages.
        api_url: the Prefect API the run reports to; ``None`` for the
            temporary server of the default profile (same database).
        queue_entry: the queue entry id a queue runner is running.
        child: the ``prefect-dvc exp run`` process a queue runner started.
        clone: the temporary clone a queue entry runs in.
        helpers: child processes the run started that would outlive it,
            such as Prefect's temporary API server (see :func:`helper_processes`).
        helper_api_url: that temporary server's API (``http://127.0.0.1:<port>/api``),
            used to mark the run Crashed before the server is stopped.
    """

    key: str
    process: ProcessId
    flow_run_id: str | None = None
    flow: str = ""
    api_url: str | None = None
    queue_entry: str | None = None
    child: ProcessId | None = None
    clone: str | None = None
    helpers: tuple[ProcessId, ...] = ()
    helper_api_url: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """Parse a record.

        Raises:
            ValueError, KeyError, TypeError: not a record.
        """
        data = json.loads(text)
        data["process"] = ProcessId(**data["process"])
        if data.get("child"):
            data["child"] = ProcessId(**data["child"])
        data["helpers"] = tuple(ProcessId(**h) for h in data.get("helpers") or ())
        return cls(**data)


def records_dir(root: Path) -> Path:
    """``.dvc/tmp/prefect-dvc/runs``."""
    return RepoPaths(root).own_tmp / "runs"


def _path(root: Path, key: str) -> Path:
    return records_dir(root) / f"{key}.json"


def write_record(root: Path, record: RunRecord) -> None:
    """Write (or replace) ``record`` atomically."""
    atomic_write(_path(root, record.key), record.to_json())


def forget(root: Path, record: RunRecord) -> None:
    """Remove ``record``; nothing happens if it is gone already."""
    _path(root, record.key).unlink(missing_ok=True)


@contextmanager
def record_run(root: Path, record: RunRecord) -> Iterator[RunRecord]:
    """Keep ``record`` on disk while the body runs; removed however the body ends.

    Only SIGKILL (or a power cut) leaves it behind, which is its purpose.
    """
    write_record(root, record)
    try:
        yield record
    finally:
        forget(root, record)


def read_records(root: Path) -> list[RunRecord]:
    """Every record of the project; a file that is not a record is skipped."""
    folder = records_dir(root)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(RunRecord.from_json(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written by a writer killed mid-write, or not ours
    return found


def dead_records(root: Path) -> list[RunRecord]:
    """Records of this host whose process has ended without removing them."""
    return [
        rec for rec in read_records(root) if rec.process.is_local and not rec.process.is_alive()
    ]


def orphans_of(record: RunRecord) -> list[psutil.Process]:
    """Live processes whose environment names ``record`` (``RUN_ENV``), this one excluded.

    Reads every readable process's environment: meant for the rare moment a
    dead run is settled, not for a hot path.
    """
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_ENV) == record.key:
                found.append(proc)
        except (psutil.Error, OSError):
            continue  # gone, or another user's
    return found


# NOTE: how Prefect 3 starts its temporary server (prefect/server/api/server.py,
# SubprocessASGIServer._run_uvicorn_command): "python -m uvicorn --factory
# prefect.server.api.server:create_app --host 127.0.0.1 --port N ...".
_PREFECT_SERVER_APP = "prefect.server.api.server:create_app"


def helper_processes() -> tuple[tuple[ProcessId, ...], str | None]:
    """This process's live children in its own process group, and a Prefect server's API URL.

    Stage commands run as session leaders and are found by :func:`orphans_of`;
    every other child (Prefect's temporary API server) shares our process
    group and, if we are SIGKILLed, lives on with parent pid 1.

    Returns:
        (the children, ``http://127.0.0.1:<port>/api`` of the one that is
        Prefect's temporary server, or ``None``).
    """
    import psutil

    own = os.getpgid(0)
    found: list[ProcessId] = []
    url = None
    for child in psutil.Process().children():
        try:
            if os.getpgid(child.pid) != own:
                continue
            argv = child.cmdline()
            found.append(ProcessId.of(child.pid))
        except (psutil.Error, ProcessLookupError):
            continue  # ended meanwhile
        if _PREFECT_SERVER_APP in argv and "--port" in argv:
            url = f"http://127.0.0.1:{argv[argv.index('--port') + 1]}/api"
    return tuple(found), url
