"""One stage on a Dask worker that shares no disk with the driver; only the remote.

Provides:
    StageJob: everything a worker needs (picklable): the pipeline, the stage's
        run-cache key entry computed by the driver, the snapshot's ``.dir``
        hash, the outs upstream stages produced in this run, the remote's config.
    JobResult: the lock entry, whether it came from the run-cache, and where it ran.
    run_job(job, log): the worker's side, in DVC's order.

The order (issue #16 §1): ask the remote run-cache first (a hit returns the
entry; nothing is downloaded or run); else fetch the snapshot and the
upstream outs into a per-host object cache (``<tmp>/prefect-dvc-worker-cache``),
link them into a fresh scratch folder (one per task, under the worker's
temp dir), check that the stage's inputs there hash to the driver's key,
run the command through :meth:`StageExecutor.execute` (same shell, env and
out rules as a local run), upload the outs and write the run-cache entry
last. The scratch folder is removed whatever happens.

A worker killed mid-stage leaves nothing visible on the remote: objects are
uploaded whole (one PUT or a multipart upload completed only at the end;
``storage/uploads.py``) and the run-cache entry is written only after all
of them. Its scratch folder and cache temp files stay in its temp dir
until the next task on that host removes them (``cluster/housekeeping.py``,
which also keeps the cache under ``PREFECT_DVC_WORKER_CACHE_SIZE``).
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.cluster.housekeeping import (
    SCRATCH_BASE,
    cache_limit,
    cache_trimmer,
    cache_user,
    sweep_scratch,
    touch,
    trim_cache,
)
from prefect_dvc.cluster.stopwatch import StopWatch
from prefect_dvc.config import RemoteConfig
from prefect_dvc.errors import MissingObjectError, StageError, StageFailedError, StageStoppedError
from prefect_dvc.execution import PlannedRun, RunOptions, StageExecutor
from prefect_dvc.gitignore import IgnoreWriter
from prefect_dvc.lockfile import Entry
from prefect_dvc.lockset import LockSet
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.leases import DEFAULT_TTL, LeaseKeeper, hold_task_lease, task_lease_id
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.remote_gate import Remote
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.storage.runcache import RunCache, entry_matches, runcache_key, runcache_value
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import Stores
from prefect_dvc.tmpnames import sweep_after_crash, temp_dir
from prefect_dvc.translators.pipeline import Pipeline, StageSpec

LogFn = Callable[[str], None]
StopFn = Callable[[], bool]
LINK_TYPES = ("reflink", "hardlink", "copy")
CACHE_FOLDER = "prefect-dvc-worker-cache"


@dataclass(frozen=True)
class StageJob:
    """One stage for a worker; plain data, pickled to the worker by Dask.

    Args:
        name: the stage's key in ``pipeline``.
        pipeline: the loaded pipeline (the worker does not parse ``dvc.yaml``).
        key_entry: the driver's run-cache key entry (``PlannedRun.key_entry``).
        snapshot: the ``.dir`` hash of the driver's input set on the remote.
        upstream: ``(repo path, hash)`` of every out the stage's ancestors
            produced in this run, laid over the snapshot.
        remote: the default remote's config (URL and options; credentials
            should come from the worker's environment).
        env: extra environment for the command (``exp run``'s variables).
        force, use_run_cache: ``repro -f`` / ``--no-run-cache``.
        lease: the run's lease id; the worker leases what it uploads or
            returns under ``<lease>.<stage>`` first (``storage/leases.py``).
        lease_ttl: seconds that record lives (the driver's lease takes over).
    """

    name: str
    pipeline: Pipeline
    key_entry: Entry
    snapshot: HashInfo
    upstream: tuple[tuple[str, HashInfo], ...]
    remote: RemoteConfig
    env: tuple[tuple[str, str], ...] = ()
    force: bool = False
    use_run_cache: bool = True
    lease: str = ""
    lease_ttl: float = DEFAULT_TTL


@dataclass(frozen=True)
class JobResult:
    """``entry`` is the stage's lock entry; ``restored`` if from the run-cache; where it ran."""

    entry: Entry
    restored: bool
    host: str
    pid: int
    seconds: float


def run_job(
    job: StageJob,
    log: LogFn,
    should_stop: Callable[[], bool] | None = None,
    on_start: Callable[[], None] | None = None,
) -> JobResult:
    """Bring ``job``'s stage up to date on this worker and publish it to the remote.

    ``should_stop`` is the driver's stop request (``cluster/stopwatch.py``):
    asked before anything starts, then polled while the stage runs; once it
    is true the command's process group is killed and nothing is uploaded.
    ``on_start`` is called just before the command starts (the driver's
    "was it running" when a stop comes).

    Raises:
        StageFailedError / MissingOutputError: as a local run raises them.
        StageStoppedError: the driver asked the run to stop.
        StageError: the inputs here do not hash to the driver's key.
        MissingObjectError: the snapshot or an upstream out is gone from the remote.
        RemoteError: the remote cannot be used (one line).
    """
    start = time.monotonic()
    stop = should_stop or (lambda: False)
    stage = job.pipeline.stages[job.name]
    if stop():
        raise _stopped(stage, "before it started")
    remote = open_remote(job.remote)
    hit = _remote_hit(job, stage, remote)
    if hit is not None:
        log(f"Stage '{job.name}' restored from run-cache (remote '{remote.name}'), command not run")
        return _result(hit, True, start)
    tmp = Path(tempfile.gettempdir())
    sweep_scratch(tmp)  # NOTE: what killed workers left (the worker never gets to clean up)
    with temp_dir(tmp, SCRATCH_BASE) as scratch, StopWatch(stop, scratch) as watch:
        try:
            entry = _run_in(scratch / "ws", job, stage, remote, log, lambda: watch.fired, on_start)
        except StageFailedError as exc:
            if watch.fired or (exc.returncode < 0 and _stop_arrives(stop)):
                raise _stopped(stage, "while its command was running") from None
            raise
    return _result(entry, False, start)


def _stop_arrives(stop: StopFn, within: float = 2.0) -> bool:
    """Whether a stop request shows up within ``within`` seconds.

    A command killed by a signal may have been killed by the driver's own
    interrupt handler (Ctrl-C reaches a new LocalCluster's processes and
    their commands) a moment before the driver's stop event is set; it must
    read as stopped, not as a failure to retry.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if stop():
            return True
        time.sleep(0.1)
    return stop()


def _stopped(stage: StageSpec, when: str) -> StageStoppedError:
    return StageStoppedError(
        f"stopped by the driver's stop request {when} on {socket.gethostname()}",
        returncode=-signal.SIGTERM,
        path=stage.dvcfile,
        line=stage.line,
        stage=stage.name,
    )


def _result(entry: Entry, restored: bool, start: float) -> JobResult:
    return JobResult(entry, restored, socket.gethostname(), os.getpid(), time.monotonic() - start)


def _out_infos(entry: Entry) -> list[HashInfo]:
    infos = [HashInfo.from_lock(out) for out in entry.get("outs") or []]
    return [info for info in infos if info is not None]


def _remote_hit(job: StageJob, stage: StageSpec, remote: Remote) -> Entry | None:
    """The newest remote run-cache entry for this key whose objects are all on the remote."""
    if job.force or not job.use_run_cache or stage.uncacheable_reason() is not None:
        return None
    for entry in remote.runs.lookup_all(job.key_entry):
        infos = _out_infos(entry)
        if not entry_matches(entry, job.key_entry) or len(infos) != len(stage.outs):
            continue
        oids = {info.oid for info in infos}
        if remote.objects.existing(oids) != oids:
            continue
        # NOTE: leased before it is returned, then checked again: a gc -c
        # between the check and the lease would otherwise go unnoticed.
        every = _with_files(remote.objects, infos)
        _lease(job, remote, every)
        if remote.objects.existing(every) == every:
            return entry
    return None


def _with_files(store: ObjectStore, infos: list[HashInfo]) -> set[str]:
    """The ids of ``infos`` plus the files of each directory among them, read from ``store``."""
    oids = {info.oid for info in infos}
    for info in infos:
        if info.is_dir:
            oids |= {e.oid for e in store.read_tree(info.oid).entries}
    return oids


def _lease(job: StageJob, remote: Remote, oids: set[str]) -> None:
    if job.lease:
        hold_task_lease(remote.objects.location, job.lease, job.name, sorted(oids), job.lease_ttl)


def _renewed_lease(job: StageJob, remote: Remote, oids: set[str]) -> AbstractContextManager[Any]:
    """The task's lease on ``oids``, written now and renewed until the block ends (not dropped)."""
    if not job.lease:
        return nullcontext()
    name = task_lease_id(job.lease, job.name)
    return LeaseKeeper(
        remote.objects.location, name, tuple(sorted(oids)), job.lease_ttl, drop=False
    )


def cache_root() -> Path:
    """``$TMPDIR/prefect-dvc-worker-cache``: this host's object cache for cluster stages."""
    return Path(tempfile.gettempdir()) / CACHE_FOLDER


def worker_cache() -> tuple[ObjectStore, Hasher]:
    """This host's object cache for cluster stages (``<tmp>/prefect-dvc-worker-cache``).

    Objects are verified before each use through a state DB beside them (a
    ``stat`` per unchanged object instead of re-reading it), so a command that
    wrote through a hardlink into an object is caught, not propagated.
    Close the returned hasher after use.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    hasher = Hasher(StateDB(root / "state.db"))

    def verify(path: Path) -> str:
        return hasher.hash_file(path).md5

    return ObjectStore.from_url(str(root), verify=verify, state=hasher.state), hasher


def _materialise(ws: Path, job: StageJob, remote: Remote, cache: ObjectStore) -> None:
    """Snapshot, then upstream outs over it, from ``cache`` (filled from the remote)."""
    wanted = [job.snapshot.oid, *(info.oid for _, info in job.upstream)]
    moved = remote.objects.transfer(wanted, cache)
    if moved.missing:
        raise MissingObjectError(
            f"object {moved.missing[0]} of the cluster run is gone from remote '{remote.name}'",
            stage=job.name,
            hint="Run again: the driver uploads a fresh snapshot",
        )
    used = {
        *wanted,
        *(e.oid for o in wanted if o.endswith(".dir") for e in cache.read_tree(o).entries),
    }
    touch(cache.oid_path(oid) for oid in used)
    cache.checkout(job.snapshot, ws, LINK_TYPES)
    for repo_path, info in job.upstream:
        cache.checkout(info, ws / repo_path, LINK_TYPES, root=ws)


def _executor(ws: Path, pipeline: Pipeline, cache: ObjectStore) -> StageExecutor:
    paths = RepoPaths(ws)
    order = pipeline.order()
    hasher = Hasher(StateDB(paths.state_db), root=ws)
    stores = Stores(cache, RunCache(cache.location), link_types=LINK_TYPES, workspace=ws)
    return StageExecutor(
        paths,
        pipeline,
        hasher=hasher,
        stores=stores,
        lock=LockSet(paths, pipeline, order),
        ignores=IgnoreWriter(ws, order),
    )


def _run_in(
    ws: Path,
    job: StageJob,
    stage: StageSpec,
    remote: Remote,
    log: LogFn,
    stopped: StopFn,
    on_start: Callable[[], None] | None = None,
) -> Entry:
    root = cache_root()
    limit = cache_limit()
    with cache_trimmer(root) as alone:
        if alone:  # NOTE: only while no other task of this host uses the cache
            trim_cache(root, limit)
            sweep_after_crash(root)
    cache, cache_hasher = worker_cache()
    try:
        with cache_user(root):
            _materialise(ws, job, remote, cache)
            return _execute_in(ws, job, stage, remote, cache, log, stopped, on_start)
    finally:
        cache_hasher.close()


def _execute_in(
    ws: Path,
    job: StageJob,
    stage: StageSpec,
    remote: Remote,
    cache: ObjectStore,
    log: LogFn,
    stopped: StopFn,
    on_start: Callable[[], None] | None = None,
) -> Entry:
    options = RunOptions(force=True, use_run_cache=False, env=dict(job.env))
    with _executor(ws, job.pipeline, cache) as executor:
        planned = executor.plan(job.name, options, log)
        if not isinstance(planned, PlannedRun) or not entry_matches(
            planned.key_entry, job.key_entry
        ):
            raise StageError(
                "the worker's copy of the inputs does not hash as the driver's workspace",
                path=stage.dvcfile,
                line=stage.line,
                stage=job.name,
                hint="Do not edit deps while a cluster run starts; run again",
            )
        if stopped():
            raise _stopped(stage, "before its command started")
        if on_start is not None:
            on_start()
        entry = executor.execute(planned, options, log)
        if stopped():  # NOTE: a stop asked for now: outs of a finished command stay here
            raise _stopped(stage, "before its outs were uploaded")
        _publish(executor, job, entry, remote)
    return entry


def _publish(executor: StageExecutor, job: StageJob, entry: Entry, remote: Remote) -> None:
    """Lease, then upload every out (the driver checks them out), then the run-cache entry."""
    stage = job.pipeline.stages[job.name]
    cache = executor.stores.local
    infos = _out_infos(entry)
    for out, info in zip(stage.outs, infos):
        if not cache.existing([info.oid]):  # NOTE: uncached outs of an uncacheable stage
            _, tree = executor.hasher.hash_path(executor.root / out.repo_path)
            executor.stores.save(executor.root / out.repo_path, info, tree)
    # NOTE: renewed while the upload lasts (a large out may take longer than the ttl)
    with _renewed_lease(job, remote, _with_files(cache, infos)):
        moved = cache.transfer([info.oid for info in infos], remote.objects)
    if moved.missing:
        raise MissingObjectError(
            f"out object {moved.missing[0]} could not be uploaded",
            stage=stage.name,
            hint="Run again",
        )
    # NOTE: written locally only when the inputs did not change under the command.
    if executor.stores.local_runs.read_entry(runcache_key(entry), runcache_value(entry)):
        remote.runs.save(entry)
