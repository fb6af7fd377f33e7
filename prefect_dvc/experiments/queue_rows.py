"""``exp show`` rows for queued, running and failed experiments of the queue.

Provides:
    EXECUTOR: the executor name shown for queue entries (DVC's ``dvc-task``).
    with_queue_rows(rows, entries, hide_queued, hide_failed): ``exp show``'s rows
        with one row per queue entry under its baseline, in DVC's group order.
    nothing_queued(entries): the line ``queue start``/``--run-all`` print when no
        entry is queued, naming the failed ones by their state.

Follows ``dvc/repo/experiments/collect.py::collect``: under each baseline,
running experiments first, then the finished ones (refs), then queued, then
failed, each group newest first. A queue entry's row shows its baseline's
params with its ``-S`` overrides applied (what its run will use), no
metrics (DVC blanks the metrics of queued rows), and an ``executor``
``{"state", "name", "local"}`` as DVC's JSON has. Succeeded entries are
experiments (refs) already and get no extra row; nor does a failed entry
whose experiment ref exists (a pool worker that finished after Ctrl-C).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.experiments.collect import ExpData, ExpRow, FileData
from prefect_dvc.experiments.overrides import parse_override
from prefect_dvc.experiments.queue import QueuedExp

EXECUTOR = "dvc-task"
_ORDER = {"running": 0, "success": 1, "queued": 2, "failed": 3}


def _executor(entry: QueuedExp) -> dict[str, Any]:
    return {
        "state": entry.state,
        "name": EXECUTOR,
        "local": {
            "root": None,
            "log": None,
            "pid": None,
            "returncode": None,
            "task_id": entry.id,
        },
    }


def _params_after(params: Mapping[str, FileData], overrides: Sequence[str]) -> dict[str, FileData]:
    """The baseline's params files with ``overrides`` applied (hydra, as ``exp run`` will)."""
    from prefect_dvc.experiments import override_grammar

    grouped: dict[str, list[str]] = {}
    for text in overrides:
        try:
            parsed = parse_override(text)
        except PrefectDvcError:
            continue
        grouped.setdefault(parsed.file, []).append(parsed.text)
    result = dict(params)
    for file, texts in grouped.items():
        base = params.get(file, FileData())
        if base.error is not None:
            continue
        try:
            data = override_grammar.apply(dict(base.data), texts, file)
        except PrefectDvcError:
            continue  # NOTE: checked when queued; a params file edited since shows as is
        result[file] = FileData(data=data)
    return result


def _entry_row(entry: QueuedExp, baseline: ExpRow) -> ExpRow:
    data = ExpData(
        rev=entry.id,
        name=entry.name,
        timestamp=datetime.fromtimestamp(entry.created),
        params=_params_after(baseline.data.params, entry.set_params),
        metrics={},
        deps=baseline.data.deps,
        outs=baseline.data.outs,
    )
    return ExpRow(
        entry.id, entry.name, "branch_commit", baseline.rev, data, (data,), _executor(entry)
    )


def with_queue_rows(
    rows: Sequence[ExpRow],
    entries: Sequence[QueuedExp],
    *,
    hide_queued: bool = False,
    hide_failed: bool = False,
) -> list[ExpRow]:
    """``rows`` (``collect_experiments``) with the queue entries under their baselines.

    Args:
        rows: workspace, baselines and their experiments, in display order.
        entries: the queue (any state); ``success`` entries are skipped.
        hide_queued: leave out ``queued`` entries (``--hide-queued``).
        hide_failed: leave out ``failed`` entries (``--hide-failed``).

    Returns:
        The rows in DVC's order; the last row under each baseline is ``branch_base``.
    """
    hidden = {"success", *(["queued"] if hide_queued else []), *(["failed"] if hide_failed else [])}
    shown = [e for e in entries if e.state not in hidden]
    segments: list[tuple[ExpRow, list[ExpRow]]] = []
    for row in rows:
        if row.typ == "baseline":
            segments.append((row, []))
        else:
            segments[-1][1].append(row)
    result: list[ExpRow] = []
    for head, exps in segments:
        result.append(head)
        landed = {r.name for r in exps if r.executor is None}
        extra = [
            _entry_row(e, head)
            for e in shown
            if e.baseline == head.rev and not _superseded(e, landed)
        ]
        merged = sorted([*exps, *extra], key=_rank)
        result.extend(
            replace(r, typ="branch_base" if i == len(merged) - 1 else "branch_commit")
            for i, r in enumerate(merged)
        )
    return result


def _superseded(entry: QueuedExp, landed: set[str | None]) -> bool:
    """A failed entry whose experiment exists (its worker pushed it after all, then ``exp pull``).

    DVC's queue records a run as failed only when it left no experiment; a run
    whose ref exists is shown once, as that experiment (not also as Failed).
    """
    return entry.state == "failed" and entry.name in landed


def _rank(row: ExpRow) -> tuple[int, float]:
    state = row.executor["state"] if row.executor else "success"
    when = row.data.timestamp.timestamp() if row.data.timestamp else 0.0
    return _ORDER.get(state, 1), -when


def nothing_queued(entries: Sequence[QueuedExp]) -> str:
    """``"The queue is empty."``, or which entries are left and in what state.

    A failed entry is never run again by ``queue start`` (as in DVC), so it
    is named as failed with what to do, never counted as queued.
    """
    failed = [e.name for e in entries if e.state == "failed"]
    if not failed:
        return "The queue is empty."
    return (
        f"No experiment is queued; failed: {', '.join(failed)} (see 'prefect-dvc queue logs "
        "<name>'; remove them with 'prefect-dvc queue remove --failed' and queue them again)."
    )
