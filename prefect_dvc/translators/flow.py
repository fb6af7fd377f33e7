"""Compile a :class:`Pipeline` into Prefect task runs: one task per stage.

Provides:
    PipelineRun: what happened to every selected stage.
    run_pipeline(...): called inside a flow; submits each stage as soon as its
        upstream stages have finished, at most ``jobs`` at a time, and waits.
    PipelineFailedError: the exception a failed run's flow state carries.
    failed_state(run, message): that ``Failed`` state, for the flows.

Why a small scheduler instead of submitting everything with ``wait_for``:
a task waiting on its upstream holds a worker thread, so ``--jobs N`` would
not mean "N commands at once"; and after a failure we must stop starting
new stages (unless ``--keep-going``) while letting running ones finish.
Upstream futures are still passed as ``wait_for`` so the Prefect UI draws
the stage graph. Stage names go into task-run *names*, not tags: Prefect
checks tag concurrency limits once per distinct tag set, and a tag per stage
delayed task starts by seconds (8 stages, -j 8: starts spread over 5.5 s
with a stage tag, over 30 ms without). Prefect ends a flow ``Completed`` when a failed future is
never looked at (``prefect-notes.md`` section 0.4), so every state is read
here and the caller turns failures into a failed flow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect import tags
from prefect.futures import PrefectFuture, as_completed
from prefect.states import Failed, State

from prefect_dvc.errors import PrefectDvcError, StageError
from prefect_dvc.execution import RunOptions, StageExecutor, StageResult
from prefect_dvc.interrupt import stop_requested
from prefect_dvc.progress import StageEvent, emit
from prefect_dvc.tasks.stage import run_stage
from prefect_dvc.translators.pipeline import Pipeline


@dataclass(frozen=True)
class PipelineRun:
    """Per-stage results; ``failed`` and ``not_run`` map stage names to reasons."""

    results: dict[str, StageResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_run

    def summary(self) -> str:
        """``8 stage(s): 5 ran, 3 restored from run-cache``, or the first failure."""
        if self.ok:
            counts = Counter(r.outcome.value for r in self.results.values())
            parts = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
            return f"{len(self.results)} stage(s): {parts or 'nothing to do'}"
        first = next(iter(self.failed.values()), None) or next(iter(self.not_run.values()))
        return first


class PipelineFailedError(StageError):
    """A pipeline run in which a stage failed; ``run`` says what happened to each stage.

    A failed flow state must carry an exception: Prefect's ``State.result()``
    raises ``TypeError: Unexpected result for failed state`` for any other
    data, so a caller of ``repro()``/``exp_run()`` would never see our line.

    Args:
        message: the one-line reason (usually ``run.summary()``).
        run: the :class:`PipelineRun`, kept for the CLI's per-stage table.
    """

    def __init__(self, msg: str, *, run: PipelineRun | None = None, **kwargs: Any) -> None:
        self.run = run if run is not None else PipelineRun()
        super().__init__(msg, **kwargs)


def failed_state(run: PipelineRun, message: str | None = None) -> State:
    """``Failed`` with our one-line message and a :class:`PipelineFailedError` as its data.

    Calling the flow then raises that error (one line, as the CLI prints
    it); ``state.result(raise_on_failure=False)`` returns it with ``.run``.
    """
    error = PipelineFailedError(message or run.summary(), run=run)
    return Failed(message=str(error), data=error)


def run_pipeline(
    pipeline: Pipeline,
    names: Sequence[str],
    executor: StageExecutor,
    options: RunOptions,
    *,
    jobs: int,
    keep_going: bool = False,
    extra_tags: Sequence[str] = (),
) -> PipelineRun:
    """Run stages ``names`` (topologically ordered) of ``pipeline`` inside the current flow."""
    selected = set(names)
    waiting = list(names)
    running: dict[PrefectFuture[StageResult], str] = {}
    futures: dict[str, PrefectFuture[StageResult]] = {}
    run = PipelineRun()
    stopped = False
    for name in names:
        emit(StageEvent(name, "queued"))
    while waiting or running:
        stopped = stopped or stop_requested() is not None
        if not stopped:
            for name in _ready(pipeline, waiting, selected, run, futures, jobs - len(running)):
                waiting.remove(name)
                ups = [futures[u] for u in pipeline.upstream[name] if u in futures]
                with tags("prefect-dvc", *extra_tags):
                    fut = run_stage.with_options(task_run_name=name).submit(
                        name, executor, options, wait_for=ups
                    )
                futures[name] = fut
                running[fut] = name
                emit(StageEvent(name, "running"))
        _skip_blocked(pipeline, waiting, run)
        if not running:
            break
        done = next(as_completed(list(running)))
        name = running.pop(done)
        done.wait()  # sets the future's final state without asking the API
        state = done.state
        if state.is_completed():
            result = state.result()
            run.results[name] = result
            emit(StageEvent(name, result.outcome.value, seconds=result.seconds))
        else:
            run.failed[name] = _failure_message(name, state)
            emit(StageEvent(name, "failed", line=run.failed[name]))
            stopped = stopped or not keep_going
    why = "the run was interrupted" if stop_requested() else "an earlier stage failed"
    for name in waiting:
        run.not_run.setdefault(name, f"stage '{name}' not run: {why}")
    for name in run.not_run:
        emit(StageEvent(name, "not run"))
    return run


def _ready(
    pipeline: Pipeline,
    waiting: list[str],
    selected: set[str],
    run: PipelineRun,
    futures: dict[str, PrefectFuture[StageResult]],
    slots: int,
) -> list[str]:
    ready: list[str] = []
    for name in waiting:
        if len(ready) >= slots:
            break
        ups = [u for u in pipeline.upstream[name] if u in selected]
        if all(u in run.results for u in ups):
            ready.append(name)
    return ready


def _skip_blocked(pipeline: Pipeline, waiting: list[str], run: PipelineRun) -> None:
    """Mark stages whose upstream failed or was skipped; they can never run."""
    changed = True
    while changed:
        changed = False
        for name in list(waiting):
            bad = [u for u in pipeline.upstream[name] if u in run.failed or u in run.not_run]
            if bad:
                waiting.remove(name)
                run.not_run[name] = f"stage '{name}' not run: upstream stage '{bad[0]}' failed"
                changed = True


def _failure_message(name: str, state: object) -> str:
    data = getattr(state, "data", None)
    if isinstance(data, PrefectDvcError):
        return _naming_stage(name, data)
    try:
        exc = state.result(raise_on_failure=False)  # type: ignore[attr-defined]
    except Exception as err:  # any failure is reported as text
        exc = err
    if isinstance(exc, PrefectDvcError):
        return _naming_stage(name, exc)
    if isinstance(exc, BaseException):
        return _led_by_stage(name, str(exc))
    message = getattr(state, "message", None) or "failed"
    return _led_by_stage(name, str(message))


def _naming_stage(name: str, exc: PrefectDvcError) -> str:
    """``exc``'s line, led by the stage it failed in unless it names one already.

    Errors raised while a stage runs (a ``.gitignore`` or ``dvc.lock`` that
    cannot be written, a cache that cannot be read) know the file, not the
    stage; the user needs both. A line that already leads with a stage
    (``exc.stage`` set, or text starting ``stage '<name>'``) is kept as is.
    """
    return _led_by_stage(name, str(exc), named=bool(exc.stage))


def _led_by_stage(name: str, text: str, *, named: bool = False) -> str:
    """``text`` led by ``stage '<name>': `` unless it already starts with that stage."""
    if named or text.startswith(f"stage '{name}'"):
        return text
    return f"stage '{name}': {text}"
