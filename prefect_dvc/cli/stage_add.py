"""``stage add``: write a stage into the current folder's ``dvc.yaml``, as ``dvc stage add``.

Registered on the ``stage`` group of ``cli/stage.py`` by :func:`register`.

The options and their letters are DVC 3.67.1's (``dvc/commands/stage.py``);
the command words come last, and everything after the first of them belongs
to the command (argparse's ``REMAINDER`` there, click's
``allow_interspersed_args=False`` here).
"""

from __future__ import annotations

from pathlib import Path

import typer

from prefect_dvc.cli.output import console
from prefect_dvc.locks import repo_lock
from prefect_dvc.repo import find_root
from prefect_dvc.stage_write import add_stage
from prefect_dvc.translators.stage_add import (
    OUT_OPTIONS,
    OutArg,
    StageArgs,
    parse_cmd,
    parse_params,
)


def register(stage_app: typer.Typer) -> None:
    """Add ``add`` to the ``stage`` command group (``cli/stage.py`` holds ``list``)."""
    stage_app.command("add", context_settings={"allow_interspersed_args": False})(add)


def _paths(flag: str, long: str, text: str) -> typer.models.OptionInfo:
    names = (flag, long) if flag else (long,)
    return typer.Option(None, *names, help=text, metavar="PATH")


DEPS = _paths("-d", "--deps", "Dependency (file or directory).")
OUTS = _paths("-o", "--outs", "Out, cached.")
OUTS_NO_CACHE = _paths("-O", "--outs-no-cache", "Out, not cached.")
OUTS_PERSIST = _paths("", "--outs-persist", "Out kept across runs, cached.")
OUTS_PERSIST_NO_CACHE = _paths("", "--outs-persist-no-cache", "Out kept across runs, not cached.")
METRICS = _paths("-m", "--metrics", "Metrics file, cached.")
METRICS_NO_CACHE = _paths("-M", "--metrics-no-cache", "Metrics file, not cached.")
PLOTS = _paths("", "--plots", "Plots file, cached.")
PLOTS_NO_CACHE = _paths("", "--plots-no-cache", "Plots file, not cached.")


def add(
    name: str = typer.Option(..., "-n", "--name", help="Name of the stage to add."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite an existing stage."),
    deps: list[str] = DEPS,
    params: list[str] = typer.Option(
        None, "-p", "--params", help="[<file>:]<key1>,<key2>: params dependency."
    ),
    outs: list[str] = OUTS,
    outs_no_cache: list[str] = OUTS_NO_CACHE,
    outs_persist: list[str] = OUTS_PERSIST,
    outs_persist_no_cache: list[str] = OUTS_PERSIST_NO_CACHE,
    metrics: list[str] = METRICS,
    metrics_no_cache: list[str] = METRICS_NO_CACHE,
    plots: list[str] = PLOTS,
    plots_no_cache: list[str] = PLOTS_NO_CACHE,
    wdir: str = typer.Option(None, "-w", "--wdir", help="Folder to run the command in."),
    always_changed: bool = typer.Option(
        False, "--always-changed", help="Always consider the stage changed."
    ),
    desc: str = typer.Option(None, "--desc", help="Description of the stage."),
    run: bool = typer.Option(False, "--run", help="Run the stage after adding it."),
    command: list[str] = typer.Argument(None, help="The command and its arguments."),
) -> None:
    """Add a stage to dvc.yaml in the current folder (the same bytes 'dvc stage add' writes)."""
    given = {
        "outs_persist": outs_persist,
        "outs_persist_no_cache": outs_persist_no_cache,
        "metrics": metrics,
        "metrics_no_cache": metrics_no_cache,
        "plots": plots,
        "plots_no_cache": plots_no_cache,
        "outs_no_cache": outs_no_cache,
        "outs": outs,
    }
    args = StageArgs(
        name=name,
        cmd=parse_cmd(command or []),
        deps=tuple(deps or ()),
        params=parse_params(params or []),
        outs=tuple(
            OutArg(path, cache=cache, persist=persist, kind=kind)
            for key, cache, persist, kind in OUT_OPTIONS
            for path in given[key] or []
        ),
        wdir=wdir,
        always_changed=always_changed,
        desc=desc,
    )
    root = find_root()
    with repo_lock(root).hold():
        added = add_stage(root, Path.cwd().resolve(), args, force=force)
    console.print(f"Added stage '{name}' in '{added.dvcfile}'", soft_wrap=True, markup=False)
    to_add = " ".join([*added.gitignores, added.dvcfile])
    console.print(
        f"\nTo track the changes with git, run:\n\n\tgit add {to_add}",
        soft_wrap=True,
        markup=False,
    )
    if run:
        _run_stage(name)


def _run_stage(name: str) -> None:
    """``--run``: reproduce just this stage, as DVC's ``stage.run()`` after the dump."""
    from prefect_dvc.cli.pipeline import repro

    repro(
        targets=[name],
        force=False,
        dry=False,
        jobs=None,
        keep_going=False,
        downstream=False,
        single_item=True,
        no_run_cache=False,
        pull=False,
        # NOTE: every parameter, always: one left out keeps typer's OptionInfo
        # default, which is truthy (and not a value) when called as a function.
        all_pipelines=False,
        recursive=False,
        cluster=None,
        cluster_workers=None,
        retries=None,
    )
