"""``exp show``, ``exp diff``, ``params diff``, ``metrics show`` and ``metrics diff``.

Provides:
    register(exp_app, root_app): the commands, on the ``exp`` group and the root.
    terminal_width(): the width the default ``exp show`` table must fit, or ``None``.
    fit_columns(columns, cells, width): which columns the table keeps, and their widths.

The default ``exp show`` table. A real project easily has 40 columns (16
metrics, 10 params, 12 dep hashes); squeezing all of them into 80 columns,
as rich does by default, leaves every cell as ``0.…`` and the table useless.
So, when the table goes to a terminal (or ``COLUMNS`` is set):

1. if it fits, it is printed as is;
2. otherwise long headers are broken at ``.``/``/``/``:`` into several lines,
   so a column is only as wide as its values;
3. then whole columns are given up, in this order, until it fits: dependency
   hashes, params and metrics that are the same in every row, ``Created``,
   then the last remaining params and metrics (alternately, so both stay
   visible). ``Experiment`` is never dropped and no value is ever truncated.
   One line on stderr says how many columns were hidden and how to see
   them (``--csv``/``--json``/``--md``, ``--keep``/``--drop``).

When stdout is not a terminal (a pipe, a file, a CI log) nothing is hidden:
the full table is printed as wide as it needs to be, one line per row.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from prefect_dvc.cli.output import err_console, print_block, print_json
from prefect_dvc.experiments import diff as diffs
from prefect_dvc.experiments.show import ShowOptions, tabulate_kinds, to_csv, to_json, to_markdown
from prefect_dvc.experiments.show_select import show_rows
from prefect_dvc.project import show_files
from prefect_dvc.repo import find_root
from prefect_dvc.translators.targets import Scope

params_app = typer.Typer(help="Compare params.", no_args_is_help=True)
metrics_app = typer.Typer(help="Show and compare metrics.", no_args_is_help=True)

AS_JSON = typer.Option(False, "--json", help="Machine-readable JSON.")
AS_MD = typer.Option(False, "--md", help="Markdown table.")
ALL = typer.Option(False, "--all", help="Include unchanged values.")


def register(exp_app: typer.Typer, root_app: typer.Typer) -> None:
    exp_app.command("show")(show)
    exp_app.command("diff")(exp_diff)
    root_app.add_typer(params_app, name="params")
    root_app.add_typer(metrics_app, name="metrics")


def show(
    as_json: bool = AS_JSON,
    csv: bool = typer.Option(False, "--csv", help="CSV, as DVC prints it."),
    md: bool = AS_MD,
    all_commits: bool = typer.Option(False, "-A", "--all-commits", help="Every commit."),
    num: int = typer.Option(1, "-n", "--num", help="Baselines: HEAD and N-1 ancestors."),
    rev: list[str] = typer.Option(None, "--rev", help="Baseline revisions (default HEAD)."),
    sort_by: str = typer.Option(None, "--sort-by", help="Metric or param to sort by."),
    sort_order: str = typer.Option("asc", "--sort-order", help="asc or desc."),
    drop: str = typer.Option(None, "--drop", help="Regex of columns to hide."),
    keep: str = typer.Option(None, "--keep", help="Regex of columns to always show."),
    only_changed: bool = typer.Option(False, "--only-changed", help="Hide constant columns."),
    precision: int = typer.Option(None, "--precision", help="Significant digits."),
    no_pager: bool = typer.Option(False, "--no-pager", help="Accepted for DVC compatibility."),
    all_branches: bool = typer.Option(False, "-a", "--all-branches", help="Every branch tip."),
    all_tags: bool = typer.Option(False, "-T", "--all-tags", help="Every tag."),
    param_deps: bool = typer.Option(
        False, "--param-deps", help="Only params that are stage dependencies."
    ),
    hide_queued: bool = typer.Option(False, "--hide-queued", help="Leave out queued runs."),
    hide_failed: bool = typer.Option(False, "--hide-failed", help="Leave out failed runs."),
    hide_workspace: bool = typer.Option(
        False, "--hide-workspace", help="Leave out the workspace row."
    ),
    force: bool = typer.Option(
        False, "-f", "--force", help="Accepted for DVC compatibility (nothing is cached)."
    ),
) -> None:
    """Compare experiments: workspace, baselines, their experiments and the queue."""
    root = find_root()
    rows = show_rows(
        root,
        show_files(root),
        revs=rev or (),
        all_branches=all_branches,
        all_tags=all_tags,
        all_commits=all_commits,
        num=num,
        hide_queued=hide_queued,
        hide_failed=hide_failed,
        hide_workspace=hide_workspace,
        param_deps=param_deps,
    )
    if as_json:
        print_json(to_json(rows))
        return
    if sort_order not in ("asc", "desc"):
        raise typer.BadParameter("--sort-order must be asc or desc")
    options = ShowOptions(
        sort_by=sort_by,
        sort_order=sort_order,  # type: ignore[arg-type]
        keep=keep,
        drop=drop,
        only_changed=only_changed,
        precision=precision,
    )
    if csv:
        print(to_csv(rows, options), end="")
    elif md:
        print(to_markdown(rows, options))
    else:
        _print_table(*tabulate_kinds(rows, options))


def exp_diff(
    a: str = typer.Argument("HEAD"),
    b: str = typer.Argument("workspace"),
    as_json: bool = AS_JSON,
    md: bool = AS_MD,
    all_keys: bool = ALL,
) -> None:
    """Compare the params and metrics of two revisions or experiments."""
    root = find_root()
    result = diffs.exp_diff(root, a, b, files=show_files(root), all_keys=all_keys)
    if as_json:
        print_json(result)
        return
    for index, (kind, rounding) in enumerate((("metrics", "significant"), ("params", "none"))):
        if index:
            print()  # NOTE: DVC writes this separator even when a table is empty
        if result[kind] or md:
            print_block(
                diffs.diff_table(
                    result[kind],
                    kind="Metric" if kind == "metrics" else "Param",
                    labels=(a, b),
                    rounding=rounding,  # type: ignore[arg-type]
                    unsupported="diff not supported",
                    markdown=md,
                ),
                markdown=md,
            )


@params_app.command("diff")
def params_diff(
    a: str = typer.Argument("HEAD"),
    b: str = typer.Argument("workspace"),
    as_json: bool = AS_JSON,
    md: bool = AS_MD,
    all_keys: bool = ALL,
) -> None:
    """Compare params between two revisions (default: HEAD and the workspace)."""
    root = find_root()
    result = diffs.params_diff(root, a, b, files=show_files(root), all_keys=all_keys)
    result = paths_from_here(root, result)
    if as_json:
        print_json(result)
    elif result or md:
        print_block(
            diffs.diff_table(
                result, kind="Param", labels=(a, b), rounding="none", change=False, markdown=md
            ),
            markdown=md,
        )


@metrics_app.command("show")
def metrics_show(
    as_json: bool = AS_JSON,
    md: bool = AS_MD,
) -> None:
    """Show the workspace's metrics."""
    root = find_root()
    shown = diffs.metrics_show(root, files=show_files(root))
    shown = {
        rev: {**body, "data": paths_from_here(root, body["data"])} for rev, body in shown.items()
    }
    if as_json:
        print_json(shown)
    else:
        print_block(diffs.metrics_show_table(shown, markdown=md), markdown=md)


@metrics_app.command("diff")
def metrics_diff(
    a: str = typer.Argument("HEAD"),
    b: str = typer.Argument("workspace"),
    as_json: bool = AS_JSON,
    md: bool = AS_MD,
    all_keys: bool = ALL,
) -> None:
    """Compare metrics between two revisions (default: HEAD and the workspace)."""
    root = find_root()
    result = diffs.metrics_diff(root, a, b, files=show_files(root), all_keys=all_keys)
    result = paths_from_here(root, result)
    if as_json:
        print_json(result)
    elif result or md:
        print_block(
            diffs.diff_table(result, kind="Metric", labels=(a, b), rounding="decimal", markdown=md),
            markdown=md,
        )


_PAD = 2  # one space on each side of a column, none at the table's edges
_BREAK = re.compile(r"(?<=[./:])")


@dataclass(frozen=True)
class FittedColumn:
    """A column the table keeps: its index in the input, header lines and width."""

    index: int
    header: str
    width: int
    right: bool


def terminal_width() -> int | None:
    """``$COLUMNS`` if set, else the terminal's width, else ``None`` (not a terminal)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _wrap_header(header: str, width: int) -> str:
    """``header`` broken after ``.``, ``/`` or ``:`` into lines of at most ``width``."""
    lines: list[str] = []
    for part in _BREAK.split(header):
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(lines)


def _compact_width(header: str, values: Sequence[str]) -> int:
    longest_part = max(len(part) for part in _BREAK.split(header))
    return max([longest_part, *(len(v) for v in values)])


def _drop_order(columns: Sequence[tuple[str, str]], cells: Sequence[Sequence[str]]) -> list[int]:
    """Column indexes in the order they are given up (``Experiment`` never is)."""
    constant = {i for i in range(len(columns)) if len({line[i] for line in cells}) < 2}
    by_kind = {
        kind: [i for i, (_, k) in enumerate(columns) if k == kind] for kind in ("metrics", "params")
    }
    order = [i for i, (_, kind) in enumerate(columns) if kind == "deps"][::-1]
    for kind in ("params", "metrics"):
        order += [i for i in by_kind[kind][::-1] if i in constant]
    order += [i for i, (header, _) in enumerate(columns) if header == "Created"]
    params = [i for i in by_kind["params"][::-1] if i not in constant]
    metrics = [i for i in by_kind["metrics"][::-1] if i not in constant]
    while params or metrics:
        longer = params if len(params) >= len(metrics) else metrics
        order.append(longer.pop(0))
    return order


def fit_columns(
    columns: Sequence[tuple[str, str]], cells: Sequence[Sequence[str]], width: int | None
) -> list[FittedColumn]:
    """The columns to print and their widths so the table fits ``width`` (see module doc)."""
    values = [[line[i] for line in cells] for i in range(len(columns))]
    natural = [max([len(h), *(len(v) for v in values[i])]) for i, (h, _) in enumerate(columns)]
    widths = list(natural)
    kept = list(range(len(columns)))

    def total() -> int:
        return sum(widths[i] + _PAD for i in kept) - _PAD

    if width is not None and total() > width:
        widths = [
            natural[i] if kind == "fixed" else _compact_width(header, values[i])
            for i, (header, kind) in enumerate(columns)
        ]
        for index in _drop_order(columns, cells):
            if total() <= width:
                break
            kept.remove(index)
    return [
        FittedColumn(
            index=i,
            header=_wrap_header(columns[i][0], widths[i]),
            width=widths[i],
            right=columns[i][1] == "metrics",
        )
        for i in kept
    ]


def _print_table(columns: Sequence[tuple[str, str]], cells: Sequence[Sequence[str]]) -> None:
    width = terminal_width()
    fitted = fit_columns(columns, cells, width)
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for col in fitted:
        table.add_column(
            Text(col.header),
            justify="right" if col.right else "left",
            width=col.width,
            no_wrap=True,
        )
    for line in cells:
        # NOTE: Text, not str: "[name]" in a cell would otherwise be read as rich markup.
        table.add_row(*(Text(line[col.index]) for col in fitted))
    needed = sum(c.width + _PAD for c in fitted)
    Console(highlight=False, width=max(needed, width or 0), soft_wrap=True).print(table)
    hidden = len(columns) - len(fitted)
    if hidden:
        err_console.print(
            f"{hidden} of {len(columns)} columns hidden to fit {width} columns (dependency "
            "hashes first). See them all with --csv, --json or --md, or pick with "
            "--keep/--drop REGEX.",
            soft_wrap=True,
            highlight=False,
        )


def paths_from_here(root: Path, by_path: dict[str, Any]) -> dict[str, Any]:
    """``{repo path: value}`` keyed by paths relative to the current folder.

    ``dvc metrics show/diff`` and ``params diff`` print file paths from where
    they run (``metrics.json`` in ``sub/``), while ``exp show`` keeps them
    from the root.
    """
    scope = Scope.here(root)
    return {scope.show_path(path): value for path, value in by_path.items()}
