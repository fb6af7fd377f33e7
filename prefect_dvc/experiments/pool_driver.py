"""Send checked queue entries to a work pool, follow them, fetch each result as it lands.

Provides:
    PoolApi: what the driver needs from the orchestrator (``submit``, ``poll``,
        ``run_url``, ``cancel``); ``cli/exp_pool.py`` backs it with
        ``flows/pool_runs.py``.
    Progress: one progress line's data (experiment, phase, flow-run URL, detail).
    run_batch(queue, batch, api, jobs, report): the loop.

At most ``jobs`` flow runs are in flight (sent and not finished) at a time.
Each entry is claimed (``claims.py``) before it is sent, so a concurrent
``queue start`` never sends it twice, and it is ``running`` while its flow
run is, with the run's URL as its message. A run that ends ``done`` has
pushed its experiment ref to the Git remote: the driver fetches it (``exp
pull`` semantics, ``sync.pull_experiments``) and its outs from the DVC
remote, so ``exp show`` lists it as if it ran here. A run that fails,
crashes or is cancelled leaves its entry ``failed`` with the state's message,
as a failed local queue run does; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.pool import PoolBatch, run_parameters
from prefect_dvc.experiments.queue import Queue, QueuedExp
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.experiments.sync import pull_experiments
from prefect_dvc.locks import repo_lock
from prefect_dvc.project import fetch_experiment_objects

FINAL = ("done", "failed")


class PoolApi(Protocol):
    """The orchestrator seen from the driver; run ids are opaque."""

    def submit(self, entry: QueuedExp, parameters: dict[str, Any]) -> Any:
        """Create one flow run for ``entry``; its id."""
        ...

    def poll(self, run_ids: list[Any]) -> dict[Any, tuple[str, str]]:
        """``{id: (phase, message)}``: phase queued, running, done or failed."""
        ...

    def run_url(self, run_id: Any) -> str:
        """Where a user sees the run (its UI page)."""
        ...

    def cancel(self, run_id: Any) -> bool:
        """Cancel the run if no worker took it yet; True if it was cancelled."""
        ...


@dataclass(frozen=True)
class Progress:
    """One line of progress: ``name`` went to ``phase`` (queued, running, done, failed)."""

    name: str
    phase: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class _Flight:
    entry: QueuedExp
    run_id: Any
    url: str
    phase: str


def run_batch(
    queue: Queue,
    batch: PoolBatch,
    api: PoolApi,
    *,
    jobs: int,
    report: Callable[[Progress], None],
    poll_seconds: float = 1.0,
    poll_failures: int = 60,
) -> list[QueuedExp]:
    """Run ``batch`` on the pool, ``jobs`` flow runs at a time; the entries' final states.

    Entries another process claimed meanwhile are skipped (not returned). A
    poll that fails (the API restarting, a lock) is retried on the next
    round; ``poll_failures`` failures in a row end the batch with the last one.
    When the batch ends early (``KeyboardInterrupt``, an error), a run no
    worker took yet is cancelled and its entry is ``queued`` again; one
    already taken goes on, and its entry is recorded ``failed`` with the run's
    URL (``prefect-dvc exp pull`` fetches its experiment once pushed). Then
    the exception goes on.
    """
    pending = list(batch.entries)
    flying: list[_Flight] = []
    done: list[QueuedExp] = []
    misses = 0
    try:
        while pending or flying:
            while pending and len(flying) < max(1, jobs):
                flight = _send(queue, api, pending.pop(0), report)
                if isinstance(flight, _Flight):
                    # NOTE: in flight before anything slow (a disk write, a line to
                    # a terminal): a Ctrl+C from here on cancels or records its run.
                    flying.append(flight)
                    queue.save(replace(flight.entry, message=f"flow run {flight.url}"))
                    report(Progress(flight.entry.name, "queued", flight.url))
                elif flight is not None:
                    done.append(flight)
            try:
                states = api.poll([f.run_id for f in flying]) if flying else {}
                misses = 0
            except Exception:
                misses += 1
                if misses >= poll_failures:
                    raise
                states = {}
            flying = _advance(queue, batch, flying, states, done, report)
            if flying:
                time.sleep(poll_seconds)
    except BaseException:
        _abandon(queue, api, flying)
        raise
    return done


def _advance(
    queue: Queue,
    batch: PoolBatch,
    flying: list[_Flight],
    states: dict[Any, tuple[str, str]],
    done: list[QueuedExp],
    report: Callable[[Progress], None],
) -> list[_Flight]:
    """Report each run that changed phase; finish those that ended (into ``done``); the rest."""
    still: list[_Flight] = []
    for flight in flying:
        phase, message = states.get(flight.run_id, (flight.phase, ""))
        if phase == flight.phase:
            still.append(flight)
        elif phase in FINAL:
            done.append(_finish(queue, batch, flight, phase, message, report))
        else:
            report(Progress(flight.entry.name, phase, flight.url))
            still.append(replace(flight, phase=phase))
    return still


def _abandon(queue: Queue, api: PoolApi, flying: list[_Flight]) -> None:
    """Leave the pool early: cancel what no worker took (entry queued again), record the rest."""
    # NOTE: re-read: a flight may have been finished (and recorded) just before the error.
    running = {e.id for e in queue.entries() if e.state == "running"}
    for flight in flying:
        if flight.entry.id not in running:
            continue
        try:
            cancelled = flight.phase == "queued" and api.cancel(flight.run_id)
        except Exception:  # an unreachable API must not hide the original exception
            cancelled = False
        if cancelled:
            note = f"interrupted before a worker took it; its run {flight.url} was cancelled"
            _record(queue, flight.entry, "queued", note)
        else:
            _record(queue, flight.entry, "failed", f"interrupted while on the pool: {flight.url}")


def _send(
    queue: Queue, api: PoolApi, seen: QueuedExp, report: Callable[[Progress], None]
) -> _Flight | QueuedExp | None:
    """Claim ``seen`` and create its flow run; the flight, a failed entry, or None (taken).

    The caller records the flight at once (then its URL and progress line).
    """
    running = replace(seen, state="running", message="sending to the work pool")
    if not queue.claims.claim(seen, lambda: queue.save(running)):
        return None
    try:
        run_id = api.submit(running, run_parameters(running))
    except Exception as exc:  # recorded on the entry: one refusal must not stop the others
        failed = _record(queue, running, "failed", f"not sent: {_one_line(str(exc))}")
        report(Progress(seen.name, "failed", "", failed.message))
        return failed
    return _Flight(running, run_id, api.run_url(run_id), "queued")


def _finish(
    queue: Queue,
    batch: PoolBatch,
    flight: _Flight,
    phase: str,
    message: str,
    report: Callable[[Progress], None],
) -> QueuedExp:
    """Fetch a landed experiment (or record a failed one), report it, drop its claim."""
    entry = flight.entry
    if phase == "failed":
        final = _record(queue, entry, "failed", _one_line(message) or "the flow run failed")
        report(Progress(entry.name, "failed", flight.url, final.message))
        return final
    try:
        commit, note = _land(queue, batch, entry)
    except PrefectDvcError as exc:
        final = _record(queue, entry, "failed", f"ran, but its ref was not fetched: {exc}")
        report(Progress(entry.name, "failed", flight.url, final.message))
        return final
    final = _record(queue, replace(entry, commit=commit), "success", "")
    report(Progress(entry.name, "done", flight.url, note or commit[:7]))
    return final


def _land(queue: Queue, batch: PoolBatch, entry: QueuedExp) -> tuple[str, str]:
    """``exp pull`` of one experiment: the ref from the Git remote, then its outs.

    Returns:
        The experiment commit, and a note when its outs could not be fetched
        (the ref is there; ``prefect-dvc exp pull`` retries the outs).
    """
    exp = ExpRef(entry.baseline, entry.name)
    # NOTE: the repository's refs change here: under its lock, as the local queue does.
    with repo_lock(queue.root).hold(wait=True):
        pull_experiments(queue.root, batch.url, [exp.ref], force=entry.force)
        commit = Git(queue.root).rev_parse(exp.ref)
    try:
        fetch_experiment_objects(queue.root, [exp], remote=None, run_cache=False)
    except PrefectDvcError as exc:
        return commit, f"{commit[:7]}; outs not fetched: {exc}"
    return commit, ""


def _one_line(text: str) -> str:
    """A state's or an exception's message as one line (they may span several)."""
    return " ".join(text.split())


def _record(queue: Queue, entry: QueuedExp, state: str, message: str) -> QueuedExp:
    """Save the entry's final state and release its claim."""
    final = replace(entry, state=state, message=message)
    queue.save(final)
    queue.claims.release(entry.id)
    return final
