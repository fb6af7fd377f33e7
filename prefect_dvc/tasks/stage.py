"""The Prefect task that runs one stage.

Provides:
    run_stage: a ``@task`` around :meth:`StageExecutor.run`. It streams the
        command's output to the task's run logger (so it shows in the Prefect
        UI and the terminal) and labels its final state by what happened:
        ``UpToDate``, ``RunCacheHit`` ("restored from run-cache") or
        ``Completed``.

Errors a user can cause (a failing command, a missing dep) end the task as
``Failed`` with our one-line message instead of a raised exception, so the
terminal shows that line rather than a traceback. The flow reads the
structured error back from the state's data.

Caching is off (``NO_CACHE``): the run-cache in ``storage/`` decides what
to skip, because Prefect's cache keeps return values, not the files a stage
writes (``prefect-notes.md`` section 6).
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.execution import Outcome, RunOptions, StageExecutor
from prefect_dvc.progress import StageEvent, emit
from prefect_dvc.redact import redact

_STATE_NAMES = {
    Outcome.UP_TO_DATE: "UpToDate",
    Outcome.RESTORED: "RunCacheHit",
    Outcome.RAN: "Completed",
}


@task(name="stage", cache_policy=NO_CACHE, persist_result=False)
def run_stage(name: str, executor: StageExecutor, options: RunOptions) -> State:
    """Bring one dvc.yaml stage up to date: skip, restore from the run-cache, or run."""
    logger = get_run_logger()

    def log(line: str) -> None:
        line = redact(line)  # a command may echo a URL with its token
        logger.info("%s", line)
        emit(StageEvent(name, "running", line=line))

    try:
        result = executor.run(name, options, log)
    except PrefectDvcError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    logger.info("Stage '%s': %s", name, result.outcome.value)
    return Completed(name=_STATE_NAMES[result.outcome], message=result.outcome.value, data=result)
