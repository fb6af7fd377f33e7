"""Turn one plot's data files of one revision into the rows a template draws.

Provides:
    Axes: the plot's resolved x and y (file, column) pairs and field names.
    resolve_axes(plot_id, props, rows_by_file): DVC's inference of ``x``/``y``.
    flat_rows(plot_id, axes, rows_by_file, rev): the rows with ``rev``, ``filename``,
        ``field`` (and ``step`` when no ``x``), as ``dvc plots show --json`` has them.
    labels(props, axes): the axis titles DVC would show.

Inference follows DVC 3 so that our JSON rows match its own: no ``x`` means
the row index as ``step``; no ``y`` means the last column of the plot's own
file; ``y`` as a list or ``{file: [cols]}`` draws several series in one chart,
and when their column names differ the values are copied into one
``dvc_inferred_y_value`` column (``dvc_inferred_x_value`` for differing x).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefect_dvc.errors import PlotError

__all__ = ["INFERRED_X", "INFERRED_Y", "STEP", "Axes", "flat_rows", "labels", "resolve_axes"]

STEP = "step"
INFERRED_X = "dvc_inferred_x_value"
INFERRED_Y = "dvc_inferred_y_value"
Row = dict[str, Any]


@dataclass(frozen=True)
class Axes:
    """Resolved axes: ``xs``/``ys`` as (file, column) pairs; ``x``/``y`` the drawn field names."""

    xs: tuple[tuple[str, str], ...]
    ys: tuple[tuple[str, str], ...]
    x: str
    y: str

    @property
    def y_definitions(self) -> list[dict[str, str]]:
        """One ``{filename, field}`` per series, file names without their common prefix."""
        return [{"filename": _short(f, self.ys), "field": c} for f, c in self.ys]


def _pairs(axis: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for file, cols in axis.items():
        for col in cols if isinstance(cols, list) else [cols]:
            pairs.append((str(file), str(col)))
    return pairs


def _last_column(plot_id: str, rows_by_file: Mapping[str, Sequence[Row]]) -> str | None:
    rows = rows_by_file.get(plot_id) or []
    return str(list(rows[0])[-1]) if rows and rows[0] else None


def resolve_axes(
    plot_id: str, props: Mapping[str, Any], rows_by_file: Mapping[str, Sequence[Row]]
) -> Axes:
    """Resolve ``x``/``y`` of a definition against the files read for one revision.

    Raises:
        PlotError: a named column that the data does not have, or x and y
            series that cannot be paired.
    """
    x, y = props.get("x"), props.get("y")
    if isinstance(y, Mapping):
        ys = _pairs(y)
    elif isinstance(y, list):
        ys = [(plot_id, str(col)) for col in y]
    elif y is not None:
        ys = [(plot_id, str(y))]
    else:
        last = _last_column(plot_id, rows_by_file)
        ys = [(plot_id, last)] if last is not None else []
    if isinstance(x, Mapping):
        xs = _pairs(x)
    elif x is not None and isinstance(y, Mapping):
        xs = [(file, str(x)) for file, _ in ys]
    elif x is not None:
        xs = [(plot_id, str(x))]
    else:
        xs = []
    for file, col in [*xs, *ys]:
        _check_column(plot_id, file, col, rows_by_file)
    if len(xs) > 1 and len(xs) != len(ys):
        raise PlotError(
            f"plot '{plot_id}' has {len(xs)} x and {len(ys)} y data sources",
            path="dvc.yaml",
            hint="Give one x per y series, or a single x for all of them",
        )
    x_name = INFERRED_X if len({c for _, c in xs}) > 1 else (xs[0][1] if xs else STEP)
    y_cols = {c for _, c in ys}
    y_name = INFERRED_Y if len(y_cols) > 1 else (next(iter(y_cols)) if y_cols else "")
    return Axes(xs=tuple(xs), ys=tuple(ys), x=x_name, y=y_name)


def _check_column(
    plot_id: str, file: str, col: str, rows_by_file: Mapping[str, Sequence[Row]]
) -> None:
    rows = rows_by_file.get(file)
    if rows and col not in rows[0]:
        found = ", ".join(map(str, rows[0])) or "none"
        raise PlotError(
            f"plot '{plot_id}': column '{col}' is not in {file} (columns: {found})",
            path="dvc.yaml",
            hint="Fix 'x'/'y' of the plot or the file's header",
        )


def _short(file: str, ys: Sequence[tuple[str, str]]) -> str:
    files = sorted({f for f, _ in ys})
    prefix = len(os.path.commonpath(files)) if len(files) > 1 else 0
    return file[prefix:].strip("/")


def flat_rows(
    plot_id: str, axes: Axes, rows_by_file: Mapping[str, Sequence[Row]], rev: str
) -> list[Row]:
    """All series of one revision as flat rows, ready for a template's data."""
    result: list[Row] = []
    for i, (y_file, y_col) in enumerate(axes.ys):
        x_file, x_col = axes.xs[i] if len(axes.xs) > 1 else (axes.xs or [(None, STEP)])[0]
        rows = [dict(row) for row in rows_by_file.get(y_file) or []]
        if axes.y == INFERRED_Y:
            for row in rows:
                if y_col in row:
                    row[INFERRED_Y] = row[y_col]
        if x_file is None:
            for index, row in enumerate(rows):
                row[STEP] = index
        else:
            x_rows = rows_by_file.get(x_file) or []
            if len(x_rows) != len(rows):
                raise PlotError(
                    f"plot '{plot_id}': cannot pair '{x_col}' of {x_file} ({len(x_rows)} rows) "
                    f"with '{y_col}' of {y_file} ({len(rows)} rows)",
                    path="dvc.yaml",
                    hint="x and y files must have the same number of rows",
                )
            for row, x_row in zip(rows, x_rows):
                if x_col in x_row:
                    row[axes.x] = x_row[x_col]
        for row in rows:
            row.update(rev=rev, filename=_short(y_file, axes.ys), field=y_col)
        result.extend(rows)
    return result


def labels(props: Mapping[str, Any], axes: Axes) -> tuple[str, str]:
    """``(x_label, y_label)``: the props', else the single column name, else ``x``/``y``."""
    x_cols = {c for _, c in axes.xs}
    y_cols = {c for _, c in axes.ys}
    x_label = props.get("x_label") or (
        STEP if not x_cols else next(iter(x_cols)) if len(x_cols) == 1 else "x"
    )
    y_label = props.get("y_label") or (next(iter(y_cols)) if len(y_cols) == 1 else "y")
    return str(x_label), str(y_label)
