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

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State

from prefect_dvc.errors import PrefectDvcError, StageFailedError, StageStoppedError
from prefect_dvc.execution import Outcome, RunOptions, StageExecutor
from prefect_dvc.interrupt import signal_name, stop_requested
from prefect_dvc.progress import StageEvent, emit
from prefect_dvc.redact import redact

_STATE_NAMES = {
    Outcome.UP_TO_DATE: "UpToDate",
    Outcome.RESTORED: "RunCacheHit",
    Outcome.RAN: "Completed",
}


class _NoFailedStateEcho(logging.Filter):
    """Drop Prefect's "Task run failed with state: Failed(...)" record.

    Prefect logs it with ``exc_info=True`` outside an ``except`` (a stray
    ``NoneType: None`` line) and with the state's repr (our error's class
    name); the task has already logged our one-line message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task run failed with state")


_FILTER = _NoFailedStateEcho()


@task(name="stage", cache_policy=NO_CACHE, persist_result=False)
def run_stage(name: str, executor: StageExecutor, options: RunOptions) -> State:
    """Bring one dvc.yaml stage up to date: skip, restore from the run-cache, or run."""
    # NOTE: added per call (idempotent): Prefect's logging setup may replace loggers.
    logging.getLogger("prefect.task_runs").addFilter(_FILTER)
    logger = get_run_logger()

    def log(line: str) -> None:
        line = redact(line)  # a command may echo a URL with its token
        logger.info("%s", line)
        emit(StageEvent(name, "running", line=line))

    try:
        result = executor.run(name, options, log)
    except PrefectDvcError as exc:
        error = _stopped(exc)
        logger.error("%s", error)
        return Failed(message=str(error), data=error)
    logger.info("Stage '%s': %s", name, result.outcome.value)
    return Completed(name=_STATE_NAMES[result.outcome], message=result.outcome.value, data=result)


def _stopped(exc: PrefectDvcError) -> PrefectDvcError:
    """A command killed because the run was asked to stop is not the command's fault.

    ``interrupt.py`` kills the process group of every running stage on
    SIGINT/SIGTERM; the command then "fails" with -15, which must not read
    as "fix the command".
    """
    signum = stop_requested()
    if signum is None or not isinstance(exc, StageFailedError):
        return exc
    return StageStoppedError(
        f"stopped by {signal_name(signum)} while its command was running",
        returncode=exc.returncode,
        tail=exc.tail,
        path=exc.path,
        line=exc.line,
        stage=exc.stage,
    )
