"""``init``, ``repro``, ``status`` and ``dag``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import typer

from prefect_dvc.cli import dag_text
from prefect_dvc.cli.live import live_stages
from prefect_dvc.cli.output import console, err_console, print_json, print_run
from prefect_dvc.cli.status_text import (
    EMPTY_PROJECT,
    UP_TO_DATE,
    frozen_warnings,
    status_lines,
)
from prefect_dvc.cluster.spec import check_cluster, cluster_parameters
from prefect_dvc.errors import StageError
from prefect_dvc.execution import open_executor
from prefect_dvc.locks import cache_reader, locked_workspace
from prefect_dvc.repo import check_init_place, find_root, init_repo
from prefect_dvc.status import StageStatus, status_json, with_cache_status
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.tracked import status as tracked_status
from prefect_dvc.tracked_data import place_tracked_data
from prefect_dvc.translators.index import PROJECT_FILE, load_index
from prefect_dvc.translators.pipeline import Pipeline
from prefect_dvc.translators.targets import Scope

TARGETS = typer.Argument(None, help="Stages or foreach/matrix groups (default: all).")
JOBS = typer.Option(None, "-j", "--jobs", help="Stages to run at once (default: CPU count).")
CLUSTER = typer.Option(
    None,
    "--cluster",
    help="Run stages on Dask: 'dask', 'dask:N' (local workers) or tcp://host:8786.",
)
CLUSTER_WORKERS = typer.Option(
    None, "--cluster-workers", help="Worker processes of '--cluster dask' (default 2)."
)
# NOTE: None, not 0: an option left unset costs no pydantic import (cli/lazy_coercion.py).
RETRIES = typer.Option(
    None, "--retries", help="With --cluster: retries of a failed stage task (default 0)."
)
ALL_PIPELINES = typer.Option(
    False, "-P", "--all-pipelines", help="Every pipeline of the project, not this folder's."
)
RECURSIVE = typer.Option(
    False, "-R", "--recursive", help="Targets that are folders take every pipeline inside."
)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("repro")(repro)
    app.command("status")(status)
    app.command("dag")(dag)


def init(
    subdir: bool = typer.Option(
        False, "--subdir", help="The project is a folder inside a Git repository (as DVC)."
    ),
) -> None:
    """Create .dvc/ in the current folder, as 'dvc init' does (no-op if it exists)."""
    root = Path.cwd()
    check_init_place(root, subdir)
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
    all_pipelines: bool = ALL_PIPELINES,
    recursive: bool = RECURSIVE,
    cluster: str = CLUSTER,
    cluster_workers: int = CLUSTER_WORKERS,
    retries: int | None = RETRIES,
) -> None:
    """Bring the pipeline up to date, running stages as Prefect tasks.

    Without targets, the stages of this folder's dvc.yaml and the stages of
    any pipeline they depend on (DVC's scope); -P takes every pipeline.
    """
    root = find_root()
    check_cluster(root, cluster, cluster_workers)
    scope = Scope.here(root)
    pipeline = load_index(root)
    seeds = scoped_stages(scope, pipeline, targets, all_pipelines, recursive)
    names = pipeline.select(seeds, downstream=downstream, single=single_item)
    if pull and not dry:  # .dvc-tracked data (data.xml.dvc) first: the statuses read it
        place_tracked_data(root, strict=True)
    executor = open_executor(root, pipeline, use_remote=False)
    try:
        statuses = {name: executor.status(name) for name in names}
    finally:
        executor.close()
    stale = names if force else _stale(pipeline, names, statuses)
    if dry:
        _print_plan(names, stale, statuses, force)
        return
    if not stale:
        console.print("Data and pipelines are up to date.")
        return
    chosen = seeds if targets or all_pipelines else []
    _check_params(stale, statuses)
    from prefect_dvc.flows.background import start_early

    start_early()  # NOTE: the server starts up while Prefect is imported below
    # NOTE: Prefect is imported only from here on: a no-op repro never pays for it.
    from prefect_dvc.flows.local import run_repro_locally

    with cache_reader(root), live_stages(enabled=True) as shown:
        run = run_repro_locally(
            root,
            dvcfile=scope.dvcfile,
            targets=chosen,
            force=force,
            jobs=jobs,
            keep_going=keep_going,
            downstream=downstream,
            single_item=single_item,
            run_cache=not no_run_cache,
            pull=pull,
            **cluster_parameters(cluster, cluster_workers, retries),
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


def _print_plan(
    names: list[str], stale: list[str], statuses: dict[str, StageStatus], force: bool = False
) -> None:
    for name in names:
        st = statuses[name]
        if name not in stale:
            console.print(f"[green]{name}[/]: up to date")
        elif st.changed or force:
            why = "; ".join(map(str, st.changes)) if st.changed else "forced with -f"
            console.print(f"[yellow]{name}[/]: will run ({why})")
        else:
            console.print(f"[yellow]{name}[/]: will run if its upstream outputs change")


def status(
    targets: list[str] = TARGETS,
    as_json: bool = typer.Option(False, "--json", help="Print DVC's status JSON."),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Say why stages skip the run-cache."
    ),
    recursive: bool = RECURSIVE,
    with_deps: bool = typer.Option(
        False, "--with-deps", help="Also the stages the targets depend on."
    ),
) -> None:
    """Show which stages are out of date, and what changed."""
    root = find_root()
    scope = Scope.here(root)
    cwd = Path.cwd()
    tracked = tracked_status.for_command(root, cwd, targets or [])
    pipeline_targets = list(tracked.rest)
    pipeline = load_index(root)
    if not targets and not pipeline.stages and not tracked.any_files:
        # DVC's answer for a project with no pipeline yet (dvc/commands/status.py)
        if as_json:
            print_json({})
        else:
            print(EMPTY_PROJECT)
        return
    names: list[str] = []
    stage_json: dict[str, Any] = {}
    # NOTE: a target no .dvc file took must name a stage or an out, even in a
    # project without dvc.yaml (DVC: "'x' does not exist as an output or a stage name").
    if pipeline_targets or (pipeline.stages and not targets):
        # NOTE: as DVC, a target's status is its own unless --with-deps adds its upstream
        names = (
            pipeline.select(
                scope.select(pipeline, pipeline_targets, outs=True, recursive=recursive),
                single=not with_deps,
            )
            if pipeline_targets
            else pipeline.order()
        )
        stage_json = _seen_from(scope, pipeline, _stage_status_json(root, pipeline, names))
    merged = tracked_status.merge(root, cwd, tracked.entries, PROJECT_FILE, stage_json)
    if as_json:
        # DVC prints this one compact (json.dumps defaults), scripts compare its bytes
        print(json.dumps(merged))
        return
    # DVC's words and layout (dvc/commands/status.py), from the JSON we match
    lines = status_lines(merged)
    for warning in frozen_warnings(names, pipeline.stages):
        err_console.print(warning, markup=False, soft_wrap=True)
    print("\n".join(lines or [UP_TO_DATE]))
    if verbose:
        for name in names:
            reason = pipeline.stages[name].uncacheable_reason()
            if reason:
                console.print(f"[dim]{name}: not run-cached because {reason}[/]")


def _stage_status_json(root: Path, pipeline: Pipeline, names: list[str]) -> dict[str, Any]:
    """DVC's status JSON of the pipeline's stages ``names``."""
    executor = open_executor(root, pipeline, use_remote=False)
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
    return status_json(statuses, pipeline.stages)


def _in_cache(store: ObjectStore, info: HashInfo) -> bool:
    """Whether ``info``'s object (a ``.dir`` with every file) is in ``store``."""
    if not store.exists(info.oid):
        return False
    if not info.is_dir:
        return True
    files = {entry.oid for entry in store.read_tree(info.oid).entries}
    return not (files - store.existing(files))


def dag(
    targets: list[str] = TARGETS,
    mermaid: bool = typer.Option(False, "--mermaid", help="Print a Mermaid flowchart."),
    dot: bool = typer.Option(False, "--dot", help="Print Graphviz DOT."),
    md: bool = typer.Option(False, "--md", help="Mermaid in a Markdown code block (as DVC)."),
) -> None:
    """Show the stage graph."""
    root = find_root()
    scope = Scope.here(root)
    pipeline = load_index(root)
    names = pipeline.select(scope.select(pipeline, targets)) if targets else pipeline.order()
    edges = [(up, name) for name in names for up in pipeline.upstream[name] if up in names]
    shown = {name: scope.show(name, pipeline) for name in names}
    if mermaid or md:
        seen = [(shown[a], shown[b]) for a, b in edges]
        lines = [dag_text.mermaid([shown[n] for n in names], seen, markdown=md)]
    elif dot:
        lines = ["strict digraph {"] + [f'"{shown[n]}";' for n in names]
        lines += [f'"{shown[a]}" -> "{shown[b]}";' for a, b in edges] + ["}"]
    else:
        downstream = pipeline.downstream()
        lines = []
        for name in names:
            after = [shown[d] for d in downstream[name] if d in names]
            lines.append(f"{shown[name]}" + (f" -> {', '.join(after)}" if after else ""))
    print("\n".join(lines))


def scoped_stages(
    scope: Scope, pipeline: Pipeline, targets: list[str] | None, every: bool, recursive: bool
) -> list[str]:
    """The stages ``repro``/``exp run`` start from, before adding what they need.

    Targets as DVC reads them from the current folder; else every stage with
    ``-P``; else the current folder's ``dvc.yaml`` (DVC's error if it has none).
    """
    if targets:
        return scope.select(pipeline, targets, recursive=recursive)
    if every:
        return list(pipeline.stages)
    return scope.default_stages(pipeline)


def _seen_from(scope: Scope, pipeline: Pipeline, data: dict[str, Any]) -> dict[str, Any]:
    """Status JSON with stage names and paths as DVC prints them from the current folder."""
    return {scope.show(name, pipeline): _paths_seen(scope, items) for name, items in data.items()}


def _paths_seen(scope: Scope, items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            item = {
                section: {scope.show_path(path): what for path, what in changes.items()}
                for section, changes in item.items()
            }
        seen.append(item)
    return seen
