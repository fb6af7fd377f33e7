"""``init``, ``repro``, ``status`` and ``dag``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer

from prefect_dvc.cli.live import live_stages
from prefect_dvc.cli.output import console, err_console, print_json
from prefect_dvc.cli.show import print_run
from prefect_dvc.cli.status_text import (
    EMPTY_PROJECT,
    UP_TO_DATE,
    frozen_warnings,
    status_lines,
)
from prefect_dvc.errors import StageError
from prefect_dvc.execution import open_executor
from prefect_dvc.locks import cache_reader, locked_workspace
from prefect_dvc.repo import find_root, init_repo, locate_dvcfile
from prefect_dvc.status import StageStatus, status_json, with_cache_status
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.tracked_data import place_tracked_data
from prefect_dvc.translators import load_pipeline
from prefect_dvc.translators.pipeline import Pipeline

TARGETS = typer.Argument(None, help="Stages or foreach/matrix groups (default: all).")
JOBS = typer.Option(None, "-j", "--jobs", help="Stages to run at once (default: CPU count).")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("repro")(repro)
    app.command("status")(status)
    app.command("dag")(dag)


def init() -> None:
    """Create .dvc/ in the current folder, as 'dvc init' does (no-op if it exists)."""
    root = Path.cwd()
    if init_repo(root):
        console.print(f"Initialized a DVC project in {root}")
    else:
        console.print(f"{root} is already a DVC project; nothing to do.")


def _stale(pipeline: Pipeline, names: list[str], statuses: dict[str, StageStatus]) -> list[str]:
    """Stages that must run: changed ones and everything downstream of them."""
    stale: set[str] = set()
    for name in names:
        if statuses[name].changed or any(u in stale for u in pipeline.upstream[name]):
            stale.add(name)
    return [n for n in names if n in stale]


@locked_workspace
def repro(
    targets: list[str] = TARGETS,
    force: bool = typer.Option(False, "-f", "--force", help="Run even if nothing changed."),
    dry: bool = typer.Option(False, "--dry", help="Only print what would run and why."),
    jobs: int = JOBS,
    keep_going: bool = typer.Option(False, "-k", "--keep-going", help="Continue after failures."),
    downstream: bool = typer.Option(
        False, "--downstream", help="Also run what depends on targets."
    ),
    single_item: bool = typer.Option(False, "-s", "--single-item", help="Only the targets."),
    no_run_cache: bool = typer.Option(
        False, "--no-run-cache", help="Do not look up the run-cache."
    ),
    pull: bool = typer.Option(
        False, "--pull", help="Fetch what stale stages need from the remote."
    ),
) -> None:
    """Bring the pipeline up to date, running stages as Prefect tasks."""
    root = find_root()
    dvcfile = locate_dvcfile(root)
    pipeline = load_pipeline(root, dvcfile)
    names = (
        pipeline.select(targets, downstream=downstream, single=single_item)
        if targets
        else pipeline.order()
    )
    if pull and not dry:  # .dvc-tracked data (data.xml.dvc) first: the statuses read it
        place_tracked_data(root, strict=True)
    executor = open_executor(root, pipeline, dvcfile=dvcfile, use_remote=False)
    try:
        statuses = {name: executor.status(name) for name in names}
    finally:
        executor.close()
    stale = names if force else _stale(pipeline, names, statuses)
    if dry:
        _print_plan(names, stale, statuses)
        return
    if not stale:
        console.print("Data and pipelines are up to date.")
        return
    _check_params(stale, statuses)
    # NOTE: Prefect is imported only from here on: a no-op repro never pays for it.
    from prefect_dvc.flows.local import run_repro_locally

    with cache_reader(root), live_stages(enabled=True) as shown:
        run = run_repro_locally(
            root,
            dvcfile=dvcfile,
            targets=targets or [],
            force=force,
            jobs=jobs,
            keep_going=keep_going,
            downstream=downstream,
            single_item=single_item,
            run_cache=not no_run_cache,
            pull=pull,
        )
    if not shown:
        print_run(run)
    if not run.ok:
        raise StageError(run.summary())


def _check_params(stale: list[str], statuses: dict[str, StageStatus]) -> None:
    """Fail before anything runs when a stage to run lacks a param (DVC: MissingParamsError)."""
    for name in stale:
        error = statuses[name].params_error
        if error is not None:
            raise error


def _print_plan(names: list[str], stale: list[str], statuses: dict[str, StageStatus]) -> None:
    for name in names:
        st = statuses[name]
        if name not in stale:
            console.print(f"[green]{name}[/]: up to date")
        elif st.changed:
            console.print(f"[yellow]{name}[/]: will run ({'; '.join(map(str, st.changes))})")
        else:
            console.print(f"[yellow]{name}[/]: will run if its upstream outputs change")


def status(
    targets: list[str] = TARGETS,
    as_json: bool = typer.Option(False, "--json", help="Print DVC's status JSON."),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Say why stages skip the run-cache."
    ),
) -> None:
    """Show which stages are out of date, and what changed."""
    root = find_root()
    dvcfile = locate_dvcfile(root)
    if not targets and not (root / dvcfile).exists():
        # DVC's answer for a project with no pipeline yet (dvc/commands/status.py)
        if as_json:
            print_json({})
        else:
            print(EMPTY_PROJECT)
        return
    pipeline = load_pipeline(root, dvcfile)
    names = pipeline.select(targets) if targets else pipeline.order()
    executor = open_executor(root, pipeline, dvcfile=dvcfile, use_remote=False)
    try:
        locked = executor.lock.read()
        statuses = [
            with_cache_status(
                executor.status(name),
                pipeline.stages[name],
                locked.get(name),
                partial(_in_cache, executor.stores.local),
            )
            for name in names
        ]
    finally:
        executor.close()
    if as_json:
        print_json(status_json(statuses, pipeline.stages))
        return
    # DVC's words and layout (dvc/commands/status.py), from the JSON we match
    lines = status_lines(status_json(statuses, pipeline.stages))
    for warning in frozen_warnings(names, pipeline.stages):
        err_console.print(warning, markup=False, soft_wrap=True)
    print("\n".join(lines or [UP_TO_DATE]))
    if verbose:
        for name in names:
            reason = pipeline.stages[name].uncacheable_reason()
            if reason:
                console.print(f"[dim]{name}: not run-cached because {reason}[/]")


def _in_cache(store: ObjectStore, info: HashInfo) -> bool:
    """Whether ``info``'s object (a ``.dir`` with every file) is in ``store``."""
    if not store.exists(info.md5):
        return False
    if not info.is_dir:
        return True
    files = {entry.md5 for entry in store.read_tree(info.md5).entries}
    return not (files - store.existing(files))


def dag(
    targets: list[str] = TARGETS,
    mermaid: bool = typer.Option(False, "--mermaid", help="Print a Mermaid flowchart."),
    dot: bool = typer.Option(False, "--dot", help="Print Graphviz DOT."),
) -> None:
    """Show the stage graph."""
    root = find_root()
    pipeline = load_pipeline(root, locate_dvcfile(root))
    names = pipeline.select(targets) if targets else pipeline.order()
    edges = [(up, name) for name in names for up in pipeline.upstream[name] if up in names]
    if mermaid:
        ids = {name: f"s{i}" for i, name in enumerate(names)}
        lines = ["flowchart TD"] + [f'\t{ids[n]}["{n}"]' for n in names]
        lines += [f"\t{ids[a]}-->{ids[b]}" for a, b in edges]
    elif dot:
        lines = ["strict digraph {"] + [f'"{n}";' for n in names]
        lines += [f'"{a}" -> "{b}";' for a, b in edges] + ["}"]
    else:
        downstream = pipeline.downstream()
        lines = []
        for name in names:
            after = [d for d in downstream[name] if d in names]
            lines.append(f"{name}" + (f" -> {', '.join(after)}" if after else ""))
    print("\n".join(lines))
