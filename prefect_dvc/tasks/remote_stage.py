"""The Prefect task that runs one stage on a Dask worker (``--cluster``).

Provides:
    run_stage_on_worker: a ``@task`` around :func:`prefect_dvc.cluster.worker.run_job`;
        the command's output goes to the task's run logger. A failure is
        raised (not returned as a state) so Prefect's task retries
        (``--retries N``) run the stage again, on whichever worker is free;
        a stage stopped by the driver (``StageStoppedError``) is not retried.

The driver's stop request reaches the worker through a Dask ``Event``
named after the run (``cluster/stopwatch.py``), read with the worker's own
client. Caching is off: the remote run-cache decides what to skip
(``tasks/stage.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from prefect_dvc.cluster.stopwatch import started_event_name, stop_event_name
from prefect_dvc.cluster.worker import JobResult, StageJob, run_job
from prefect_dvc.errors import StageStoppedError
from prefect_dvc.redact import redact


def _not_stopped(_task: Any, _run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry anything but a stop the driver asked for."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # NOTE: an unreadable result is an ordinary failure
        return True
    return not isinstance(error, StageStoppedError)


def _stop_flag(job: StageJob) -> Callable[[], bool]:
    if not job.lease:
        return lambda: False
    import distributed

    try:
        event = distributed.Event(stop_event_name(job.lease))
    except ValueError:  # NOTE: not on a Dask worker (no client): nobody can ask to stop
        return lambda: False
    return lambda: bool(event.is_set())


def _start_mark(job: StageJob) -> Callable[[], None]:
    """Sets the run's ``started`` Event of this stage (read by the driver after a stop)."""
    if not job.lease:
        return lambda: None
    import distributed

    def mark() -> None:
        with contextlib.suppress(ValueError):  # NOTE: not on a Dask worker: no driver to tell
            distributed.Event(started_event_name(job.lease, job.name)).set()

    return mark


@task(
    name="stage-on-dask",
    cache_policy=NO_CACHE,
    persist_result=False,
    retry_condition_fn=_not_stopped,
)
def run_stage_on_worker(job: StageJob) -> JobResult:
    """Run ``job`` on this worker; returns its lock entry (see ``cluster/worker.py``)."""
    logger = get_run_logger()

    def log(line: str) -> None:
        logger.info("%s", redact(line))

    return run_job(job, log, _stop_flag(job), _start_mark(job))
