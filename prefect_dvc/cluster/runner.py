"""Flow-side of ``--cluster``: Dask task runner, snapshot, lease, submit, adopt (imports Prefect).

Provides:
    dask_task_runner(spec, api_url): prefect-dask's ``DaskTaskRunner`` for ``spec``.
    run_on_cluster(...): the stages of one plan on Dask; returns a ``PipelineRun``.

This module is flow-side (like ``translators/flow.py``): it imports Prefect
and prefect-dask, and is imported only when ``--cluster`` is given. Per
stage, in plan order as upstream stages finish: the driver plans the stage
in its workspace (:meth:`StageExecutor.plan`: up to date -> done here, no
task), else submits a :class:`StageJob` to a worker, then checks the
returned outs out of the store into the workspace and writes ``dvc.lock``
and ``.gitignore`` through :meth:`StageExecutor.adopt`, so they end as a
local ``repro`` leaves them.

Locks: each stage holds the locks a local run's stage holds
(``locks.stage_guard``: the repository lock ``.dvc/tmp/lock`` for its own
work, read/write locks on its deps and outs in ``.dvc/tmp/rwlock``) from
its plan until its adoption; the repository lock is let go while the stage
is on a worker, as DVC lets it go while a command runs. So a ``dvc repro``
or ``prefect-dvc repro`` touching the same paths is refused as it is
during a local run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from prefect import tags
from prefect.client.orchestration import get_client
from prefect.futures import PrefectFuture
from prefect.settings import PREFECT_API_URL

from prefect_dvc.cluster.reach import CONNECT_SECONDS, connect, quiet_dask
from prefect_dvc.cluster.snapshot import take_snapshot
from prefect_dvc.cluster.spec import ClusterSpec, cannot_ship, require_remote
from prefect_dvc.cluster.stopwatch import POLL_SECONDS, command_started, stop_event_name
from prefect_dvc.cluster.worker import JobResult, StageJob
from prefect_dvc.config import RemoteConfig
from prefect_dvc.errors import ConfigError, PrefectDvcError, StageStoppedError
from prefect_dvc.execution import (
    Outcome,
    PlannedRun,
    RunOptions,
    StageExecutor,
    StageResult,
    _guarded_paths,
)
from prefect_dvc.interrupt import stop_requested
from prefect_dvc.locks import command_running, stage_guard
from prefect_dvc.progress import StageEvent, emit
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.leases import LeaseKeeper
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.tasks.remote_stage import run_stage_on_worker
from prefect_dvc.translators.flow import PipelineRun, _failure_message, _ready, _skip_blocked
from prefect_dvc.translators.pipeline import Pipeline

# NOTE: a worker kills its command within POLL_SECONDS and escalates to SIGKILL
# after 5 s; 30 s leaves room for the upload of a stage that had just finished.
STOP_WAIT = 30.0

try:
    from prefect_dask import DaskTaskRunner
except ImportError:  # NOTE: the optional extra; said in one line when --cluster is used
    DaskTaskRunner = None


def dask_task_runner(spec: ClusterSpec, api_url: str) -> Any:
    """A ``DaskTaskRunner`` for ``spec``; new local workers get ``PREFECT_API_URL``.

    Raises:
        ConfigError: prefect-dask is not installed (names the extra).
    """
    if DaskTaskRunner is None:
        raise ConfigError(
            "--cluster needs prefect-dask, which is not installed",
            hint="Install the extra: pip install 'prefect-dvc[dask]'",
        )
    if spec.address:
        # NOTE: bounded: distributed's own default retries for 30 s, a traceback each time.
        return DaskTaskRunner(address=spec.address, client_kwargs={"timeout": CONNECT_SECONDS})
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": spec.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": ":0",  # NOTE: None still binds 8787; :0 takes a free port
            # NOTE: each worker runs Prefect's task engine and reports to the API itself.
            "env": {"PREFECT_API_URL": api_url},
            "preload": ["prefect_dvc.cluster.quiet_worker"],  # NOTE: Ctrl-C is the driver's
        }
    )


def _api_url() -> str:
    configured = PREFECT_API_URL.value()
    if configured:
        return str(configured)
    with get_client(sync_client=True) as client:  # the temporary server's URL
        return str(client.api_url)


def _ancestors(pipeline: Pipeline, name: str) -> list[str]:
    seen: list[str] = []
    todo = list(pipeline.upstream[name])
    while todo:
        up = todo.pop()
        if up not in seen:
            seen.append(up)
            todo.extend(pipeline.upstream[up])
    return seen


def run_on_cluster(
    pipeline: Pipeline,
    names: Sequence[str],
    executor: StageExecutor,
    options: RunOptions,
    *,
    spec: ClusterSpec,
    jobs: int,
    keep_going: bool = False,
    extra_tags: Sequence[str] = (),
    retries: int = 0,
) -> PipelineRun:
    """Run stages ``names`` (topologically ordered) on ``spec``'s Dask cluster.

    Raises:
        ConfigError: no default remote, or prefect-dask missing (before anything runs).
        RemoteError / StorageError: the snapshot could not be uploaded.
    """
    rc = require_remote(executor.root)
    runner = dask_task_runner(spec, _api_url())
    remote = open_remote(rc)
    lease = LeaseKeeper(remote.objects.location, f"run-{uuid.uuid4().hex}", ())
    with quiet_dask(logging.getLogger().isEnabledFor(logging.DEBUG)), runner:
        # NOTE: before the snapshot: a cluster that cannot be had changes nothing
        connect(runner, spec.address, spec.describe())
        with lease:
            snapshot = take_snapshot(
                executor.root, pipeline, executor.hasher, remote.objects, before_upload=lease.add
            )
            return _Loop(pipeline, executor, options, rc, snapshot, lease, retries).drive(
                names, runner, jobs, keep_going, extra_tags
            )


class _Loop:
    """The scheduling loop of one cluster run (state shared by its steps)."""

    def __init__(
        self,
        pipeline: Pipeline,
        executor: StageExecutor,
        options: RunOptions,
        rc: RemoteConfig,
        snapshot: HashInfo,
        lease: LeaseKeeper,
        retries: int,
    ) -> None:
        self.pipeline, self.executor, self.options = pipeline, executor, options
        self.rc, self.snapshot, self.lease, self.retries = rc, snapshot, lease, retries
        self.produced: dict[str, tuple[tuple[str, HashInfo], ...]] = {}
        self.run = PipelineRun()
        # NOTE: per stage on a worker: (its stage_guard, the lock let go while it runs)
        self.guards: dict[str, tuple[ExitStack, ExitStack]] = {}
        self.stop_sent: float | None = None  # NOTE: when the stop went to the workers
        self.client: Any = None  # NOTE: the Dask client, to read "started" Events
        # NOTE: DVC_ROOT must be the worker's scratch copy, as stage_env sets it there.
        self.env = tuple((k, v) for k, v in options.env.items() if k != "DVC_ROOT")

    def drive(
        self, names: Sequence[str], runner: Any, jobs: int, keep_going: bool, extra: Sequence[str]
    ) -> PipelineRun:
        """Run ``names`` as their upstream stages finish; the locks go whatever happens."""
        try:
            return self._drive(names, runner, jobs, keep_going, extra)
        finally:
            for outer, inner in self.guards.values():
                inner.close()
                outer.close()

    def _drive(
        self, names: Sequence[str], runner: Any, jobs: int, keep_going: bool, extra: Sequence[str]
    ) -> PipelineRun:
        self.client = runner.client
        selected, waiting = set(names), list(names)
        running: dict[PrefectFuture[JobResult], str] = {}
        futures: dict[str, Any] = {}
        stopped = False
        for name in names:
            emit(StageEvent(name, "queued"))
        while waiting or running:
            stopped = stopped or stop_requested() is not None
            started = []
            if not stopped:
                slots = jobs - len(running)
                started = _ready(self.pipeline, waiting, selected, self.run, futures, slots)
                for name in started:
                    waiting.remove(name)
                    future = self._start(name, runner, extra)
                    futures[name] = future
                    if future is not None:
                        running[future] = name
                    stopped = stopped or (name in self.run.failed and not keep_going)
            _skip_blocked(self.pipeline, waiting, self.run)
            if not running:
                if waiting and started and not stopped:
                    continue  # NOTE: stages done here (up to date) may unblock others
                break
            done = self._next_done(running, runner)
            if done is None:
                self._abandon(running)
                break
            failed = self._finish(running.pop(done), done)
            stopped = stopped or (failed and not keep_going)
        why = "the run was interrupted" if stop_requested() else "an earlier stage failed"
        for name in waiting:
            self.run.not_run.setdefault(name, f"stage '{name}' not run: {why}")
        return self.run

    def _next_done(self, running: dict[Any, str], runner: Any) -> Any | None:
        """The next finished future, or ``None`` once a stop has gone unanswered.

        Dask cannot cancel a task already running in a worker thread, so on a
        stop request the driver sets the run's stop ``Event`` and each worker
        kills its own command (``cluster/stopwatch.py``); tasks not started
        yet stop at once. Workers that cannot answer (Ctrl-C reaches a new
        LocalCluster's worker processes too, which then exit) are given up on
        when none is left, or :data:`STOP_WAIT` seconds after the stop.
        """
        import distributed

        wrapped = {future.wrapped_future: future for future in running}
        while True:
            if stop_requested() is not None and self.stop_sent is None:
                self.stop_sent = time.monotonic()
                distributed.Event(stop_event_name(self.lease.run_id), client=runner.client).set()
            if self.stop_sent is not None and _unanswered(runner, self.stop_sent):
                return None
            try:
                with runner.client.as_current():  # NOTE: wait() looks for a current client
                    done, _ = distributed.wait(
                        list(wrapped), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED"
                    )
            except TimeoutError:
                continue
            return wrapped[next(iter(done))]

    def _abandon(self, running: dict[Any, str]) -> None:
        """Stages whose workers did not answer a stop: failed as stopped, nothing adopted."""
        for name in running.values():
            outer, inner = self.guards.pop(name)
            inner.close()
            outer.close()
            if self._never_ran(name):
                continue
            error = StageStoppedError(
                "stopped; its worker did not report back",
                returncode=-1,
                path=self.pipeline.stages[name].dvcfile,
                line=self.pipeline.stages[name].line,
                stage=name,
            )
            self.run.failed[name] = _failure_message(name, _Failed(error))
            emit(StageEvent(name, "failed", line=self.run.failed[name]))
        running.clear()

    def _never_ran(self, name: str) -> bool:
        """After a stop: ``name``'s command never started, so it is "not run" (as locally)."""
        if stop_requested() is None or command_started(self.client, self.lease.run_id, name):
            return False
        self.run.not_run[name] = f"stage '{name}' not run: the run was interrupted"
        emit(StageEvent(name, "not run"))
        return True

    def _start(self, name: str, runner: Any, extra: Sequence[str]) -> Any:
        """Plan ``name`` here under its locks; submit it unless already done (or failed)."""
        stage = self.pipeline.stages[name]
        outer, inner = ExitStack(), ExitStack()
        try:
            guard = stage_guard(
                self.executor.root, name, *_guarded_paths(self.executor.root, stage)
            )
            outer.enter_context(guard)
            planned = self.executor.plan(name, self.options, lambda line: None)
            refusal = None if isinstance(planned, StageResult) else cannot_ship(planned.stage)
            if refusal is not None:
                raise refusal
        except PrefectDvcError as exc:
            outer.close()
            self.run.failed[name] = _failure_message(name, _Failed(exc))
            emit(StageEvent(name, "failed", line=self.run.failed[name]))
            return None
        if isinstance(planned, StageResult):
            outer.close()
            self.run.results[name] = planned
            emit(StageEvent(name, planned.outcome.value, seconds=planned.seconds))
            return None
        job = self._job(name, planned)
        emit(StageEvent(name, "running"))
        task = run_stage_on_worker.with_options(task_run_name=name, retries=self.retries)
        # NOTE: as DVC's unlocked_repo around a command: paths stay rw-locked.
        inner.enter_context(command_running(self.executor.root))
        self.guards[name] = (outer, inner)
        with tags("prefect-dvc", *extra):
            return runner.submit(task, parameters={"job": job})

    def _job(self, name: str, planned: PlannedRun) -> StageJob:
        upstream = [
            pair for up in _ancestors(self.pipeline, name) for pair in self.produced.get(up, ())
        ]
        return StageJob(
            name=name,
            pipeline=self.pipeline,
            key_entry=planned.key_entry,
            snapshot=self.snapshot,
            upstream=tuple(upstream),
            remote=self.rc,
            env=self.env,
            force=self.options.force,
            use_run_cache=self.options.use_run_cache,
            lease=self.lease.run_id,
            lease_ttl=self.lease.ttl,
        )

    def _finish(self, name: str, future: Any) -> bool:
        """Adopt a finished stage under its locks, then let them go; ``True`` when it failed."""
        future.wait()
        outer, inner = self.guards.pop(name)
        with outer:
            inner.close()  # NOTE: takes the repository lock back for the adoption
            return self._settle(name, future)

    def _settle(self, name: str, future: Any) -> bool:
        state = future.state
        if not state.is_completed():
            if self._never_ran(name):
                return True
            self.run.failed[name] = _failure_message(name, state)
            emit(StageEvent(name, "failed", line=self.run.failed[name]))
            return True
        result: JobResult = state.result()
        try:
            self._adopt(name, result)
        except PrefectDvcError as exc:
            self.run.failed[name] = _failure_message(name, _Failed(exc))
            emit(StageEvent(name, "failed", line=self.run.failed[name]))
            return True
        outcome = Outcome.RESTORED if result.restored else Outcome.RAN
        self.run.results[name] = StageResult(name, outcome, result.entry, result.seconds)
        emit(StageEvent(name, outcome.value, seconds=result.seconds))
        return False

    def _adopt(self, name: str, result: JobResult) -> None:
        """Outs from the store into the workspace, then ``.gitignore`` and ``dvc.lock``."""
        stage = self.pipeline.stages[name]
        by_path = {o["path"]: HashInfo.from_lock(o) for o in result.entry.get("outs") or []}
        pairs = [(o, by_path.get(o.path)) for o in stage.outs if not o.is_external]
        infos = [info for _, info in pairs if info is not None]
        self.lease.add(info.oid for info in infos)
        stores = self.executor.stores
        stores.ensure_local(infos)
        for out, info in pairs:
            if info is not None:
                stores.checkout(info, self.executor.root / out.repo_path)
        self.produced[name] = tuple((o.repo_path, i) for o, i in pairs if i is not None)
        self.executor.adopt(name, result.entry)


def _unanswered(runner: Any, since: float) -> bool:
    """No worker left to answer a stop, or :data:`STOP_WAIT` seconds passed since it."""
    if time.monotonic() - since > STOP_WAIT:
        return True
    try:
        return not runner.client.scheduler_info().get("workers")
    except Exception:  # NOTE: a scheduler gone is no one to wait for
        return True


class _Failed:
    """A stand-in state carrying a driver-side error, for ``_failure_message``."""

    def __init__(self, exc: PrefectDvcError) -> None:
        self.data = exc
