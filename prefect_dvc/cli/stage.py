"""``stage list``: the stages of the index, as ``dvc stage list`` prints them.

DVC's rules (``dvc/commands/stage.py``, 3.67.1): the targets default to the
current folder's ``dvc.yaml``; ``--all`` lists the whole index; each line is
the stage's addressing seen from the current folder and its description (the
first non-empty line of ``desc``, else "Outputs ...; Reports ..." built from
the outs as written, cut to 80 characters with an ellipsis), in two columns
two spaces apart (tabulate's ``plain`` format, trailing blanks dropped).
"""

from __future__ import annotations

import typer

from prefect_dvc.repo import find_root
from prefect_dvc.translators.index import load_index
from prefect_dvc.translators.pipeline import StageSpec
from prefect_dvc.translators.targets import Scope

app = typer.Typer(help="Stages of the project's pipelines.", no_args_is_help=True)

MAX_TEXT_LENGTH = 80  # dvc/commands/stage.py
ELLIPSIS = "…"


@app.command("list")
def list_stages(
    targets: list[str] = typer.Argument(
        None, help="dvc.yaml files, stages or folders (default: this folder's dvc.yaml)."
    ),
    every: bool = typer.Option(False, "--all", help="List every stage of the project."),
    recursive: bool = typer.Option(
        False, "-R", "--recursive", help="List every stage in the folders given."
    ),
    name_only: bool = typer.Option(
        False, "--name-only", "--names-only", help="Only the stage names."
    ),
    fail: bool = typer.Option(
        False, "--fail", help="Fail on a pipeline file that cannot be read (default: skip it)."
    ),
) -> None:
    """List stages with a short description, as 'dvc stage list' does."""
    root = find_root()
    scope = Scope.here(root)
    pipeline = load_index(root, skip_broken=not fail)
    keys = (
        list(pipeline.stages)
        if every
        else scope.select(pipeline, targets or ["dvc.yaml"], recursive=recursive)
    )
    rows = [
        (scope.show(key, pipeline), "" if name_only else description(pipeline.stages[key]))
        for key in keys
    ]
    if rows:  # NOTE: DVC prints nothing, not an empty line, when no stage matches
        print(table(rows))


def description(stage: StageSpec) -> str:
    """DVC's ``prepare_description``: ``desc``'s first line, else what the stage writes."""
    if stage.desc:
        lines = [line for line in stage.desc.splitlines() if line]
        if lines:
            return _truncate(lines[0].strip())
    return _truncate(_generated(stage))


def _generated(stage: StageSpec) -> str:
    """``generate_description`` in ``dvc/commands/stage.py``; deps are files then params files."""
    deps = [*stage.deps, *(p.path for p in stage.params)]
    if not deps and not stage.outs:
        return "No outputs or dependencies"
    if not stage.outs:
        return "Depends on " + ", ".join(deps)
    parts = []
    plain = [out.path for out in stage.outs if not out.is_metric_or_plot]
    if plain:
        parts.append("Outputs " + ", ".join(plain))
    reports = [out.path for out in stage.outs if out.is_metric_or_plot]
    if reports:
        parts.append("Reports " + ", ".join(reports))
    return "; ".join(parts)


def _truncate(text: str) -> str:
    if len(text) > MAX_TEXT_LENGTH:
        return text[: MAX_TEXT_LENGTH - 1] + ELLIPSIS
    return text


def table(rows: list[tuple[str, str]]) -> str:
    """Two left-aligned columns two spaces apart, trailing blanks dropped (tabulate ``plain``)."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name.ljust(width)}  {text}".rstrip() for name, text in rows)
