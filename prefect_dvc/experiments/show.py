"""Render ``exp show`` rows the way DVC 3 does: JSON, CSV, Markdown and a rich table.

Provides:
    to_json(rows): the exact ``dvc exp show --json`` shape (``formats.md`` §7.1).
    ShowOptions: sorting, column selection and rounding for the tabular forms.
    sort_rows(rows, sort_by, sort_order): DVC's per-baseline ``--sort-by``.
    tabulate(rows, options): headers and cell strings, after sorting and selection.
    tabulate_kinds(rows, options): the same (table form) with each column's kind,
        for a renderer that must choose which columns to give up.
    to_csv(rows, options), to_markdown(rows, options), to_table(rows, options).

Columns follow DVC (§7.2): ``Experiment, rev, typ, Created, parent``, then
metric columns, param columns and dep columns. A metric or param column is
its bare dotted key unless that name occurs twice, then ``file:key``. CSV
keeps raw values and an empty fill; the table and Markdown use ``-`` for
missing values, ``!`` for a file that could not be read, and 5 significant
digits for floats. The table and Markdown fold ``rev``/``typ`` into the
``Experiment`` column with tree glyphs (``├── 2a84d02 [q3]``).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from prefect_dvc.errors import ConfigError
from prefect_dvc.experiments.collect import WORKSPACE, ExpData, ExpRow, FileData

__all__ = [
    "ShowOptions",
    "sort_rows",
    "tabulate",
    "tabulate_kinds",
    "to_csv",
    "to_json",
    "to_markdown",
    "to_table",
]

FIXED = ("Experiment", "rev", "typ", "Created", "parent")
#: Shown after ``FIXED`` when a queued, running or failed row is listed (as DVC).
EXECUTOR_COLUMNS = ("State", "Executor")
_ERROR = object()


@dataclass(frozen=True)
class ShowOptions:
    """How the tabular forms sort, select and round.

    Attributes:
        sort_by: a metric or param, bare (``acc``) or qualified (``metrics.json:acc``).
        sort_order: ``asc`` puts experiments missing the value last, ``desc`` first.
        keep: regex; matching columns survive ``drop`` and ``only_changed``.
        drop: regex (matched at the start of the name, as DVC does) of columns to hide.
        only_changed: hide columns whose cells all show the same text.
        precision: significant digits for floats; ``None`` means 5 in the table and
            Markdown and no rounding in CSV.
        hide_workspace: leave out the workspace row.
    """

    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] = "asc"
    keep: str | None = None
    drop: str | None = None
    only_changed: bool = False
    precision: int | None = None
    hide_workspace: bool = False


def to_json(rows: Sequence[ExpRow]) -> list[dict[str, Any]]:
    """Rows as ``dvc exp show --json`` prints them: workspace, then baselines with experiments."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for row in rows:
        if row.typ == "baseline":
            current = _rev_json(row.data, row.name)
            current["rev"] = row.rev
            out.append(current)
            continue
        assert current is not None, "an experiment row must follow its baseline"
        revs = row.revs or (row.data,)
        entry = {
            "revs": [_rev_json(d, d.name) for d in revs],
            "executor": dict(row.executor) if row.executor else None,
            "name": row.name,
        }
        current["experiments"] = [*(current["experiments"] or []), entry]
    return out


def _rev_json(data: ExpData, name: str | None) -> dict[str, Any]:
    body = None
    if data.error is None:
        body = {
            "rev": data.rev,
            "timestamp": data.timestamp.isoformat() if data.timestamp else None,
            "params": _files_json(data.params),
            "metrics": _files_json(data.metrics),
            "deps": {path: dict(value) for path, value in data.deps.items()},
            "outs": {path: dict(value) for path, value in data.outs.items()},
            "meta": {},
        }
    error = data.error.to_dict() if data.error else None
    if error:
        error = {"msg": error["msg"], "type": error["type"]}
    return {"rev": data.rev, "name": name, "data": body, "error": error, "experiments": None}


def _files_json(files: dict[str, FileData] | Any) -> dict[str, Any]:
    return {
        rel: {"error": fd.error.to_dict()} if fd.error else {"data": fd.data}
        for rel, fd in files.items()
    }


def sort_rows(
    rows: Sequence[ExpRow], sort_by: str | None, sort_order: Literal["asc", "desc"] = "asc"
) -> list[ExpRow]:
    """Sort the experiments under each baseline by a metric or param; baselines stay put.

    Raises:
        ConfigError: the column is unknown, or its bare name is in several files.
    """
    if sort_by is None:
        return list(rows)
    kind, file, key = _resolve_sort(rows, sort_by)
    out: list[ExpRow] = []
    group: list[ExpRow] = []
    for row in [*rows, None]:
        if row is not None and row.typ != "baseline":
            group.append(row)
            continue
        group.sort(key=lambda r: _sort_key(_value(r.data, kind, file, key)))
        if sort_order == "desc":
            group.reverse()
        last = len(group) - 1
        out.extend(
            replace(r, typ="branch_base" if i == last else "branch_commit")
            for i, r in enumerate(group)
        )
        group = []
        if row is not None:
            out.append(row)
    return out


def _resolve_sort(rows: Sequence[ExpRow], name: str) -> tuple[str, str, str]:
    matches = []
    for kind in ("metrics", "params"):
        for file, key in _keys(rows, kind):
            if name in (key, f"{file}:{key}"):
                matches.append((kind, file, key))
    if not matches:
        raise ConfigError(
            f"Unknown sort column '{name}'",
            hint="Pass a metric or param that 'exp show' lists, e.g. 'metrics.json:acc'",
        )
    if len(matches) > 1:
        names = ", ".join(f"{file}:{key}" for _, file, key in matches)
        raise ConfigError(
            f"Ambiguous sort column '{name}' matched '{names}'",
            hint="Qualify the column with its file, as 'file:key'",
        )
    return matches[0]


def _sort_key(value: Any) -> tuple[bool, bool, Any]:
    # NOTE: DVC sorts on (value is None, value); numbers before text keeps mixed
    # columns from raising TypeError where DVC would crash.
    if value is None or value is _ERROR:
        return (True, False, 0)
    if isinstance(value, (int, float)):
        return (False, False, value)
    return (False, True, str(value))


def _value(data: ExpData, kind: str, file: str, key: str) -> Any:
    if kind == "deps":
        dep = data.deps.get(key)
        return dep.get("hash") if dep else None
    fd = (data.metrics if kind == "metrics" else data.params).get(file)
    if fd is None:
        return None
    return _ERROR if fd.error else fd.flat.get(key)


def _keys(rows: Iterable[ExpRow], kind: str) -> list[tuple[str, str]]:
    """(file, key) pairs of ``kind`` in order of first appearance over the rows."""
    files: dict[str, dict[str, None]] = {}
    for row in rows:
        for file, fd in getattr(row.data, kind).items():
            keys = files.setdefault(file, {})
            keys.update(dict.fromkeys(fd.flat))
    return [(file, key) for file, keys in files.items() for key in keys]


@dataclass(frozen=True)
class _Column:
    kind: str
    file: str
    key: str
    header: str


def _columns(rows: Sequence[ExpRow]) -> list[_Column]:
    metrics, params = _keys(rows, "metrics"), _keys(rows, "params")
    fixed = (*FIXED, *EXECUTOR_COLUMNS) if any(r.executor for r in rows) else FIXED
    counts = Counter([*fixed, *(key for _, key in metrics + params)])
    cols = [_Column("fixed", "", name, name) for name in fixed]
    for kind, pairs in (("metrics", metrics), ("params", params)):
        for file, key in pairs:
            header = key if counts[key] == 1 else f"{file}:{key}"
            cols.append(_Column(kind, file, key, header))
    deps = sorted({path for row in rows for path in row.data.deps})
    cols.extend(_Column("deps", "", path, path) for path in deps)
    return cols


def _cell(value: Any, fill: str, precision: int | None) -> str:
    if value is _ERROR:
        return "!"
    if value is None:
        return fill
    if isinstance(value, float) and not isinstance(value, bool) and precision is not None:
        return f"{value:.{precision}g}"
    return str(value)


def _created(ts: datetime | None, fill: str, pretty: bool) -> str:
    if ts is None:
        return fill
    if not pretty:
        return ts.isoformat()
    return ts.strftime("%I:%M %p") if ts.date() == date.today() else ts.strftime("%b %d, %Y")


def _fixed(row: ExpRow, fill: str, pretty: bool) -> dict[str, str]:
    is_exp = row.typ != "baseline"
    rev = (
        row.rev[:7] if is_exp else (row.name or (row.rev if row.rev == WORKSPACE else row.rev[:7]))
    )
    experiment = row.name or "" if is_exp else ""
    if pretty:
        glyph = _GLYPHS.get(str(row.typ), "├──")
        experiment = f"{glyph} {rev}" + (f" [{row.name}]" if row.name else "") if is_exp else rev
    return {
        "Experiment": experiment,
        "rev": rev,
        "typ": row.typ,
        "Created": _created(row.data.timestamp, fill, pretty),
        # NOTE: DVC fills `parent` only for queued runs, which we do not list.
        "parent": "",
        "State": str(row.executor["state"]).capitalize() if row.executor else fill,
        "Executor": str(row.executor["name"]).capitalize() if row.executor else fill,
    }


_GLYPHS = {
    "branch_base": "└──",
    "checkpoint_tip": "╓",
    "checkpoint_commit": "╟",
    "checkpoint_base": "├─╨",
}


def expand_checkpoints(rows: Sequence[ExpRow]) -> list[ExpRow]:
    """One row per commit of each checkpoint chain (tip first), drawn as DVC 2 drew them.

    Experiments with one commit are unchanged; DVC 3 shows a legacy chain
    only by its tip, so this is for the tree of ``exp show``'s table only.
    """
    result: list[ExpRow] = []
    for row in rows:
        if row.typ == "baseline" or len(row.revs) < 2:
            result.append(row)
            continue
        last = len(row.revs) - 1
        for index, data in enumerate(row.revs):
            typ = "checkpoint_tip" if index == 0 else "checkpoint_commit"
            typ = "checkpoint_base" if index == last else typ
            name = row.name if index == 0 else None
            expanded = replace(row, rev=data.rev, name=name, data=data, revs=(data,))
            result.append(replace(expanded, typ=typ))  # type: ignore[arg-type]
    return result


def tabulate(
    rows: Sequence[ExpRow], options: ShowOptions, *, pretty: bool
) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts after sorting, keep/drop and only-changed.

    ``pretty`` gives the table/Markdown form (``-`` fill, 5 significant digits,
    human ``Created``, tree glyphs in ``Experiment``); otherwise the CSV form.
    """
    cols, cells = _tabulate(rows, options, pretty=pretty)
    return [c.header for c in cols], cells


def tabulate_kinds(
    rows: Sequence[ExpRow], options: ShowOptions
) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """The table form of :func:`tabulate`; each header comes with its kind.

    Kinds: ``fixed`` (``Experiment``, ``Created``), ``metrics``, ``params``, ``deps``.
    """
    cols, cells = _tabulate(rows, options, pretty=True)
    return [(c.header, c.kind) for c in cols], cells


def _tabulate(
    rows: Sequence[ExpRow], options: ShowOptions, *, pretty: bool
) -> tuple[list[_Column], list[list[str]]]:
    rows = sort_rows(rows, options.sort_by, options.sort_order)
    if options.hide_workspace:
        rows = [r for r in rows if r.rev != WORKSPACE]
    if pretty:
        rows = expand_checkpoints(rows)
    fill = "-" if pretty else ""
    precision = options.precision if options.precision is not None else (5 if pretty else None)
    cols = _columns(rows)
    table = []
    for row in rows:
        fixed = _fixed(row, fill, pretty)
        table.append(
            [
                fixed[c.key]
                if c.kind == "fixed"
                else _cell(_value(row.data, c.kind, c.file, c.key), fill, precision)
                for c in cols
            ]
        )
    keep = _select(cols, table, options)
    if pretty:
        keep = [i for i in keep if cols[i].header not in ("rev", "typ", "parent")]
    return [cols[i] for i in keep], [[line[i] for i in keep] for line in table]


def _select(
    cols: Sequence[_Column], table: Sequence[Sequence[str]], options: ShowOptions
) -> list[int]:
    chosen = []
    for index, col in enumerate(cols):
        kept = bool(options.keep and re.match(options.keep, col.header))
        if not kept and options.drop and re.match(options.drop, col.header):
            continue
        if not kept and options.only_changed and len({line[index] for line in table}) < 2:
            continue
        chosen.append(index)
    return chosen


def to_csv(rows: Sequence[ExpRow], options: ShowOptions = ShowOptions()) -> str:
    """CSV text as ``dvc exp show --csv`` prints it (``\\r\\n`` line ends, raw values)."""
    headers, cells = tabulate(rows, options, pretty=False)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers)
    writer.writerows(cells)
    return buf.getvalue()


def to_markdown(rows: Sequence[ExpRow], options: ShowOptions = ShowOptions()) -> str:
    """A GitHub Markdown table as ``dvc exp show --md`` prints it."""
    headers, cells = tabulate(rows, options, pretty=True)
    return markdown_table(headers, cells)


def markdown_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """Left-aligned pipe table; a column is at least its header plus two wide, like DVC's."""
    widths = [max([len(h) + 2, *(len(line[i]) for line in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(c) for c in cells)]) + "\n"


def to_table(rows: Sequence[ExpRow], options: ShowOptions = ShowOptions()) -> Table:
    """A rich table for the terminal; metric columns are right-aligned, as in DVC."""
    cols, cells = _tabulate(rows, options, pretty=True)
    table = Table(box=None, show_edge=False, header_style="bold")
    for col in cols:
        justify: Literal["left", "right"] = "right" if col.kind == "metrics" else "left"
        table.add_column(col.header, justify=justify, no_wrap=True)
    for line in cells:
        # NOTE: Text, not str: "[name]" in a cell would otherwise be read as rich markup.
        table.add_row(*(Text(cell) for cell in line))
    return table
