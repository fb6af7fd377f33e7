"""``exp show``, ``exp diff``, ``params diff``, ``metrics show`` and ``metrics diff``."""

from __future__ import annotations

import typer
from rich.table import Table

from prefect_dvc.cli.output import console, err_console, print_json
from prefect_dvc.experiments import diff as diffs
from prefect_dvc.experiments.collect import collect_experiments
from prefect_dvc.experiments.show import ShowOptions, to_csv, to_json, to_markdown, to_table
from prefect_dvc.project import show_files
from prefect_dvc.repo import find_root

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
) -> None:
    """Compare experiments: workspace, baselines and their experiments."""
    root = find_root()
    rows = collect_experiments(
        root, show_files(root), revs=rev or ("HEAD",), all_commits=all_commits, num=num
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
        console.print(to_table(rows, options))


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
    for kind, rounding in (("metrics", "significant"), ("params", "none")):
        if result[kind]:
            print(
                diffs.diff_table(
                    result[kind],
                    kind="Metric" if kind == "metrics" else "Param",
                    labels=(a, b),
                    rounding=rounding,  # type: ignore[arg-type]
                    unsupported="diff not supported",
                    markdown=md,
                )
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
    if as_json:
        print_json(result)
    elif result:
        print(
            diffs.diff_table(
                result, kind="Param", labels=(a, b), rounding="none", change=False, markdown=md
            )
        )


@metrics_app.command("show")
def metrics_show(
    as_json: bool = AS_JSON,
    md: bool = AS_MD,
) -> None:
    """Show the workspace's metrics."""
    root = find_root()
    shown = diffs.metrics_show(root, files=show_files(root))
    if as_json:
        print_json(shown)
    else:
        print(diffs.metrics_show_table(shown, markdown=md))


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
    if as_json:
        print_json(result)
    elif result:
        print(
            diffs.diff_table(result, kind="Metric", labels=(a, b), rounding="decimal", markdown=md)
        )


def print_run(run: object) -> None:
    """The per-stage outcome table of a pipeline run, on stderr."""
    results = getattr(run, "results", {})
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("Stage")
    table.add_column("Result")
    table.add_column("Time", justify="right")
    colours = {"ran": "cyan", "restored from run-cache": "magenta"}
    for name, result in results.items():
        outcome = result.outcome.value
        colour = colours.get(outcome, "green")
        table.add_row(name, f"[{colour}]{outcome}[/]", f"{result.seconds:.2f}s")
    for name in getattr(run, "failed", {}):
        table.add_row(name, "[red]failed[/]", "")
    for name in getattr(run, "not_run", {}):
        table.add_row(name, "[dim]not run[/]", "")
    err_console.print(table)
