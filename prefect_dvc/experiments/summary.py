"""An experiment next to its baseline, as rows for a Prefect table artifact.

Provides:
    comparison_rows(root, baseline, rev): one row per metric and param with
        the baseline's value, the experiment's and the change.

Metrics come first (they are what people compare), then params; every key
is shown, changed or not, so the table reads as the whole experiment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect_dvc.experiments.diff import exp_diff
from prefect_dvc.project import show_files


def comparison_rows(root: Path, baseline: str, rev: str = "workspace") -> list[dict[str, Any]]:
    """Rows ``{kind, file, key, baseline, experiment, change}`` for ``rev`` against ``baseline``."""
    diff = exp_diff(root, baseline, rev, files=show_files(root), all_keys=True)
    rows: list[dict[str, Any]] = []
    for kind, label in (("metrics", "metric"), ("params", "param")):
        for file, keys in diff.get(kind, {}).items():
            for key, values in keys.items():
                change = values.get("diff")
                rows.append(
                    {
                        "kind": label,
                        "file": file,
                        "key": key,
                        "baseline": _cell(values.get("old")),
                        "experiment": _cell(values.get("new")),
                        "change": "" if change is None else _cell(change),
                    }
                )
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return "" if value is None else str(value)
