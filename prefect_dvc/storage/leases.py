"""Leases: records on the remote that keep a running cluster snapshot's objects alive.

Provides:
    Lease: one run's lease (run id, object ids, expiry in Unix seconds).
    LEASE_DIR: ``prefect-dvc/leases``, beside the remote's ``files/``.
    write_lease(location, lease) / drop_lease(location, run_id): put or remove one record.
    task_lease_id(run_id, stage): the record a worker writes for one stage of a run.
    hold_task_lease(location, run_id, stage, oids, ttl): a worker's record,
        written before its first upload.
    drop_run_leases(location, run_id): the run's record and its tasks' records.
    leased_oids(location, now=None): every object id named by an unexpired lease.
    LeaseKeeper: a context manager that writes a lease, renews it from a
        background thread every ``ttl / 3`` seconds, and drops it on exit.

Where snapshots live and how long they are kept: a cluster run's snapshot is
an ordinary DVC ``.dir`` object (plus its files) in the remote's
``files/md5``; nothing in ``dvc.lock`` names it, so only its lease keeps it
from ``prefect-dvc gc -c`` (``storage/sync.py`` keeps what unexpired leases
name). A lease lives ``ttl`` seconds after its last renewal (default 15 min),
so a driver that died stops protecting its snapshot after that; the next
``gc -c`` may then collect it. DVC's own ``dvc gc -c`` does not read leases.

Records are one small JSON object each, written whole (one PUT, or temp file
and rename on disk), so a reader never sees half of one; an unreadable record
is treated as unexpired and naming nothing (it cannot be trusted to expire).

No window between upload and lease: the driver's record names every file of
the snapshot before the first of them is uploaded, and a worker writes its
own record (``<run_id>.<stage>``) naming the outs it is about to upload, or
the run-cache hit it is about to return, before the upload (or after the hit
is found, then checks the objects are still there). The driver's record takes
over when it adopts the stage; all of the run's records are removed when it
ends, and a dead run's records expire ``ttl`` seconds after their last write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from prefect_dvc.storage.location import Location, storage_errors
from prefect_dvc.yamlio import atomic_write

logger = logging.getLogger(__name__)

LEASE_DIR = ("prefect-dvc", "leases")
DEFAULT_TTL = 15 * 60.0


@dataclass(frozen=True)
class Lease:
    """``oids`` (``.dir`` ids expand to their files) are kept until ``expires`` (Unix s)."""

    run_id: str
    oids: tuple[str, ...]
    expires: float

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"run": self.run_id, "oids": list(self.oids), "expires": self.expires},
            sort_keys=True,
        ).encode("utf-8")


def _path(location: Location, run_id: str) -> str:
    return location.join(*LEASE_DIR, f"{run_id}.json")


def write_lease(location: Location, lease: Lease) -> None:
    """Put ``lease`` whole at ``<root>/prefect-dvc/leases/<run_id>.json``.

    Raises:
        RemoteError / StorageError: the remote refused the write (one line).
    """
    path = _path(location, lease.run_id)
    with storage_errors(location, f"write lease {lease.run_id}"):
        if location.is_local:
            location.make_dirs(Path(path).parent)
            atomic_write(Path(path), lease.to_bytes())
        else:
            location.fs.pipe_file(path, lease.to_bytes())


def drop_lease(location: Location, run_id: str) -> None:
    """Remove the lease of ``run_id``; a lease already gone is fine."""
    path = _path(location, run_id)
    with (
        storage_errors(location, f"remove lease {run_id}"),
        contextlib.suppress(FileNotFoundError),
    ):
        location.fs.rm_file(path)


def task_lease_id(run_id: str, stage: str) -> str:
    """``<run_id>.<stage>-<8 hex>``: odd characters replaced, the hash keeps names apart.

    ``sub/dvc.yaml:train@a`` and ``sub_dvc.yaml_train@a`` must not share a
    record: one task's write would drop the other's lease.
    """
    safe = "".join(c if c.isalnum() or c in "-_@" else "_" for c in stage)[:100]
    digest = hashlib.md5(stage.encode("utf-8")).hexdigest()[:8]
    return f"{run_id}.{safe}-{digest}"


def hold_task_lease(
    location: Location, run_id: str, stage: str, oids: Iterable[str], ttl: float = DEFAULT_TTL
) -> None:
    """A worker's lease on ``oids`` (``.dir`` ids and their files), ``ttl`` seconds from now.

    Raises:
        RemoteError / StorageError: the remote refused the write (one line).
    """
    lease = Lease(task_lease_id(run_id, stage), tuple(dict.fromkeys(oids)), time.time() + ttl)
    write_lease(location, lease)


def drop_run_leases(location: Location, run_id: str) -> None:
    """Remove the record of ``run_id`` and those its tasks wrote (``<run_id>.*``)."""
    folder = location.join(*LEASE_DIR)
    with storage_errors(location, f"remove leases of {run_id}"):
        location.fs.invalidate_cache(folder)
        try:
            names = location.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return
        for name in names:
            base = str(name).rsplit("/", 1)[-1]
            if base.startswith(f"{run_id}.") and base.endswith(".json"):
                with contextlib.suppress(FileNotFoundError):
                    location.fs.rm_file(name)


def leased_oids(location: Location, now: float | None = None) -> set[str]:
    """Object ids named by the unexpired leases under ``location`` (``gc`` keeps them).

    Raises:
        StorageError: the leases folder cannot be listed or a lease read.
    """
    moment = time.time() if now is None else now
    folder = location.join(*LEASE_DIR)
    kept: set[str] = set()
    with storage_errors(location, "read leases"):
        location.fs.invalidate_cache(folder)
        try:
            names = location.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return kept
        for name in names:
            if str(name).endswith(".json"):
                kept |= _unexpired_oids(location.fs.cat_file(name), moment, str(name))
    return kept


def _unexpired_oids(data: bytes, now: float, name: str) -> set[str]:
    try:
        record = json.loads(data)
        expires = float(record["expires"])
        oids = {str(o) for o in record["oids"]}
    except (ValueError, KeyError, TypeError):
        logger.warning("lease %s cannot be read; it is left alone", name)
        return set()
    return oids if expires > now else set()


@dataclass
class LeaseKeeper:
    """Hold a lease for the life of a ``with`` block, renewing it in the background.

    Args:
        location: the remote's root (the same as its object store's).
        run_id: names the record (the flow run id, or a random one).
        oids: what to keep; :meth:`add` extends it (stage outs as they land).
        ttl: seconds a lease outlives its last renewal.
        drop: remove the run's records on exit; ``False`` for a worker's record,
            which must outlive the upload until the driver's lease takes over
            (it then expires ``ttl`` after its last renewal, or goes with the run).
    """

    location: Location
    run_id: str
    oids: tuple[str, ...]
    ttl: float = DEFAULT_TTL
    drop: bool = True
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _write(self) -> None:
        with self._lock:
            lease = Lease(self.run_id, self.oids, time.time() + self.ttl)
        write_lease(self.location, lease)

    def add(self, oids: Iterable[str]) -> None:
        """Also keep ``oids`` (written with the next renewal, and now)."""
        with self._lock:
            self.oids = tuple(dict.fromkeys((*self.oids, *oids)))
        self._write()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._write()
            except Exception as exc:  # NOTE: a failed renewal must not kill the run
                logger.warning("lease %s not renewed: %s", self.run_id, exc)

    def __enter__(self) -> LeaseKeeper:
        self._write()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="lease")
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.drop:
            return
        try:
            drop_run_leases(self.location, self.run_id)
        except Exception as err:  # NOTE: it expires by itself; the run's result matters more
            logger.warning("lease %s not removed (it expires by itself): %s", self.run_id, err)
