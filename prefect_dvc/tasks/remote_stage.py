"""The Prefect task that runs one stage on a Dask worker (``--cluster``).

Provides:
    run_stage_on_worker: a ``@task`` around :func:`prefect_dvc.cluster.worker.run_job`;
        the command's output goes to the task's run logger. A failure is
        raised (not returned as a state) so Prefect's task retries
        (``--retries N``) run the stage again, on whichever worker is free.

Caching is off: the remote run-cache decides what to skip (``tasks/stage.py``).
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from prefect_dvc.cluster.worker import JobResult, StageJob, run_job
from prefect_dvc.redact import redact


@task(name="stage-on-dask", cache_policy=NO_CACHE, persist_result=False)
def run_stage_on_worker(job: StageJob) -> JobResult:
    """Run ``job`` on this worker; returns its lock entry (see ``cluster/worker.py``)."""
    logger = get_run_logger()

    def log(line: str) -> None:
        logger.info("%s", redact(line))

    return run_job(job, log)
