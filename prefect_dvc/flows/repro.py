"""The ``repro`` flow: bring a DVC pipeline up to date on Prefect.

Provides:
    repro: a Prefect flow (deployable by entrypoint
        ``prefect_dvc/flows/repro.py:repro``) that loads ``dvc.yaml``, runs
        each selected stage as a task (independent stages in parallel) and
        fails if any stage failed.
    run_repro(...): the same body as a plain function, for flows that embed a
        pipeline run (``exp_run``).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, State

from prefect_dvc.cluster.spec import ClusterSpec, parse_cluster
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.execution import CheckpointHook, RunOptions, open_executor
from prefect_dvc.flows.failures import one_line_failures
from prefect_dvc.flows.lifecycle import cancelled_state, protect_secrets, tracked_run
from prefect_dvc.flows.parameters import plain_json_parameters
from prefect_dvc.interrupt import stop_requested
from prefect_dvc.repo import find_root
from prefect_dvc.runrecord import RUN_ENV
from prefect_dvc.tracked_data import place_tracked_data
from prefect_dvc.translators.flow import PipelineRun, failed_state, run_pipeline
from prefect_dvc.translators.index import load_index
from prefect_dvc.translators.targets import Scope


def run_repro(
    root: Path,
    *,
    dvcfile: str = "dvc.yaml",
    targets: Sequence[str] = (),
    force: bool = False,
    jobs: int | None = None,
    keep_going: bool = False,
    downstream: bool = False,
    single_item: bool = False,
    run_cache: bool = True,
    pull: bool = False,
    env: dict[str, str] | None = None,
    extra_tags: Sequence[str] = (),
    remote: str | None = None,
    checkpoints: CheckpointHook | None = None,
    cluster: ClusterSpec | None = None,
    retries: int = 0,
) -> PipelineRun:
    """Load the index of ``root`` and run the selected stages in the current flow.

    ``targets`` are read from the root (``train``, ``sub/dvc.yaml``,
    ``sub/dvc.yaml:train``); without them, the stages of ``dvcfile`` and
    those they need from other pipelines run, as ``dvc repro`` in its folder.
    With ``pull``, ``.dvc``-tracked data the stages read comes first.
    With ``cluster``, changed stages run on Dask workers (``cluster/runner.py``),
    each retried up to ``retries`` times.
    """
    pipeline = load_index(root)
    if pull:  # .dvc-tracked data the stages read (data.xml.dvc), before the first stage
        place_tracked_data(root, remote=remote, strict=True)
    at_root = Scope.here(root, root)
    if targets:
        seeds = at_root.select(pipeline, targets)
    else:
        folder = posixpath.dirname(posixpath.normpath(dvcfile))
        seeds = Scope.here(root, root / folder).default_stages(pipeline)
    names = pipeline.select(seeds, downstream=downstream, single=single_item)
    # NOTE: only --pull needs the remote; otherwise its run-cache is a bonus (issue #14 §3).
    executor = open_executor(root, pipeline, remote=remote, plan=names, consult_remote=not pull)
    options = RunOptions(
        force=force, use_run_cache=run_cache, pull=pull, env=env or {}, checkpoints=checkpoints
    )
    try:
        if cluster is not None:
            # NOTE: imported here so that only --cluster pays for importing Dask.
            from prefect_dvc.cluster.runner import run_on_cluster

            return run_on_cluster(
                pipeline,
                names,
                executor,
                options,
                spec=cluster,
                jobs=jobs or 10_000,  # NOTE: the cluster's workers bound it by default
                keep_going=keep_going,
                extra_tags=extra_tags,
                retries=retries,
            )
        return run_pipeline(
            pipeline,
            names,
            executor,
            options,
            jobs=jobs or os.cpu_count() or 1,
            keep_going=keep_going,
            extra_tags=extra_tags,
        )
    finally:
        executor.close()


def repro_run_name(repo: str | os.PathLike[str], targets: Sequence[str] | None) -> str:
    """``repro-<project folder>[-<target>,<target>…]``, e.g. ``repro-myproj-train,eval``.

    Named like experiment runs (after what ran), so the UI's list of runs
    reads as a history of the project; a path that is not (yet) a project
    is named after its own folder rather than failing the run's creation.
    """
    path = Path(repo)
    try:
        project = find_root(path).name
    except PrefectDvcError:
        project = path.resolve().name
    chosen = ",".join(str(target) for target in targets or ())
    return f"repro-{project}" + (f"-{chosen}" if chosen else "")


def _flow_run_name() -> str:
    params = flow_run.parameters
    return repro_run_name(params.get("repo") or ".", params.get("targets"))


@flow(name="repro", flow_run_name=_flow_run_name, log_prints=True)
@one_line_failures
def repro(
    repo: str = ".",
    dvcfile: str = "dvc.yaml",
    targets: list[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    keep_going: bool = False,
    downstream: bool = False,
    single_item: bool = False,
    run_cache: bool = True,
    pull: bool = False,
    cluster: str | None = None,
    cluster_workers: int | None = None,
    retries: int = 0,
) -> State:
    """Reproduce a DVC pipeline: every stage of dvc.yaml whose deps, params or cmd changed.

    Each stage is a task; stages that do not depend on each other run at the
    same time. Before running a stage, the run-cache is asked whether the same
    command already ran on the same deps and params; if so its outputs are
    restored instead. dvc.lock is updated after each finished stage.

    Args:
        repo: path of the project (the folder with .dvc/).
        dvcfile: the pipeline file, relative to the project root: without
            targets, its stages and the upstream stages they need run.
        targets: stages (``train``, ``sub/dvc.yaml:train``, foreach/matrix group
            names) or pipeline files (``sub/dvc.yaml``), read from the project root.
        force: run the stages even if nothing changed.
        jobs: how many stages may run at once (default: the number of CPUs).
        keep_going: after a stage fails, keep running the stages that do not depend on it.
        downstream: run the targets and every stage that depends on them.
        single_item: run only the targets, not the stages they depend on.
        run_cache: look up the run-cache before running a stage.
        pull: fetch missing inputs and run-cache entries from the default remote first.
        cluster: run changed stages on Dask: ``dask``/``dask:N`` (a local cluster of
            N worker processes) or a scheduler address ``tcp://host:8786``; needs
            a default remote (README "Stages on a Dask cluster").
        cluster_workers: worker processes of a local cluster (``dask`` only).
        retries: with ``cluster``, how often a failed stage task is retried.
    """
    protect_secrets()
    root = find_root(Path(repo))
    with tracked_run(root, "repro") as record:
        run = run_repro(
            root,
            env={RUN_ENV: record.key},
            dvcfile=dvcfile,
            targets=targets or (),
            force=force,
            jobs=jobs,
            keep_going=keep_going,
            downstream=downstream,
            single_item=single_item,
            run_cache=run_cache,
            pull=pull,
            cluster=parse_cluster(cluster, cluster_workers) if cluster else None,
            retries=retries,
        )
        signum = stop_requested()
    if signum is not None:
        return cancelled_state(run, signum)
    if run.ok:
        return Completed(message=run.summary(), data=run)
    return failed_state(run)


plain_json_parameters(repro)
