"""``plots show`` and ``plots diff``: one offline HTML page, or DVC's JSON.

Provides:
    app: the ``plots`` command group (registered in ``cli/__init__.py``).

As in DVC, the page goes to ``dvc_plots/index.html`` (``-o`` to change the
folder) and its ``file://`` URL is printed; ``--json`` prints the filled
Vega-Lite specs instead (image plots are written under ``<out>/static`` when
``-o`` is given, else inlined as ``data:`` URIs); ``--open`` opens the page
in the default browser. Warnings about revisions without data go to stderr.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Sequence
from pathlib import Path

import typer

from prefect_dvc.cli.output import console, err_console, print_json
from prefect_dvc.experiments.collect import WORKSPACE
from prefect_dvc.plots import PlotSet, collect_plots, diff_revisions, to_json, write_html
from prefect_dvc.repo import find_root

app = typer.Typer(help="Show and compare plots.", no_args_is_help=True)

AS_JSON = typer.Option(False, "--json", help="Print the filled Vega-Lite specs as JSON.")
OUT = typer.Option(None, "-o", "--out", help="Folder for the page (default: dvc_plots).")
OPEN = typer.Option(False, "--open", help="Open the page in a browser.")
DEFAULT_OUT = "dvc_plots"


def _emit(
    root: Path, plot_set: PlotSet, as_json: bool, out: Path | None, open_page: bool, title: str
) -> None:
    for warning in plot_set.warnings:
        err_console.print(f"WARNING: {warning}", markup=False, highlight=False)
    if as_json:
        print_json(to_json(plot_set, image_dir=out / "static" if out else None))
        return
    page = write_html(plot_set, (out or Path(DEFAULT_OUT)).resolve(), title=title)
    url = page.as_uri()
    console.print(url, markup=False, soft_wrap=True)
    if open_page:
        webbrowser.open(url)


@app.command("show")
def show(
    targets: list[str] = typer.Argument(None, help="Plot ids or data files (default: all)."),
    as_json: bool = AS_JSON,
    out: Path = OUT,
    open_page: bool = OPEN,
) -> None:
    """Draw the workspace's plots."""
    root = find_root()
    plot_set = collect_plots(
        root, [WORKSPACE], targets=_rel_targets(root, targets or []), cwd=_cwd(root)
    )
    _emit(root, plot_set, as_json, out, open_page, "DVC plots")


@app.command("diff")
def diff(
    revisions: list[str] = typer.Argument(
        None, help="Commits, branches, tags or experiment names (default: HEAD vs workspace)."
    ),
    targets: list[str] = typer.Option(
        None, "-t", "--targets", help="Plot ids or data files to draw (default: all)."
    ),
    as_json: bool = AS_JSON,
    out: Path = OUT,
    open_page: bool = OPEN,
) -> None:
    """Draw plots of several revisions or experiments, one colour each, in one chart per plot."""
    root = find_root()
    revs = diff_revisions(revisions or [])
    plot_set = collect_plots(root, revs, targets=_rel_targets(root, targets or []), cwd=_cwd(root))
    _emit(root, plot_set, as_json, out, open_page, "DVC plots: " + ", ".join(revs))


def _rel_targets(root: Path, targets: Sequence[str]) -> list[str]:
    """Targets as typed; an absolute path inside the repository becomes repo-relative.

    A relative target is matched as shown from the current folder, or as a
    path from it (``plots/definitions.py::select``), as DVC does.
    """
    found = []
    for target in targets:
        path = Path(target)
        if not path.is_absolute():
            found.append(target)
            continue
        try:
            found.append(path.resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            found.append(target)
    return found


def _cwd(root: Path) -> str:
    """The current folder relative to the repository root (``""`` at the root or outside)."""
    try:
        rel = Path.cwd().resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""
    return "" if rel == "." else rel
