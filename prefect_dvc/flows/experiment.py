"""The ``exp_run`` flow: one experiment, from params overrides to a Git ref.

Provides:
    exp_run: the flow users run (``prefect-dvc exp run``) and deploy
        (entrypoint ``prefect_dvc/flows/experiment.py:exp_run``).
    prepare_experiment(...): checks made before anything changes (baseline,
        name, overrides), shared with the CLI and the queue.

The order matters for "nothing is lost": the name and every ``-S`` override
are validated before the first file is written, and the experiment commit
is made only when every stage succeeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_client
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, State

from prefect_dvc.checkpoints.resume import find_resume_point, resume_name
from prefect_dvc.cluster.spec import parse_cluster
from prefect_dvc.errors import ExperimentExistsError, GitError
from prefect_dvc.experiments.git import Git, check_remote
from prefect_dvc.experiments.names import new_name_for
from prefect_dvc.experiments.overrides import Override, apply_overrides, parse_override
from prefect_dvc.experiments.refs import ExpRef, validate_name
from prefect_dvc.experiments.userindex import kept_index
from prefect_dvc.flows.checkout import (
    Workspace,
    open_workspace,
    push_experiment,
    release_workspace,
)
from prefect_dvc.flows.failures import one_line_failures
from prefect_dvc.flows.lifecycle import cancelled_state, protect_secrets, tracked_run
from prefect_dvc.flows.parameters import plain_json_parameters
from prefect_dvc.flows.repro import run_repro
from prefect_dvc.interrupt import stop_requested
from prefect_dvc.runrecord import RUN_ENV
from prefect_dvc.tasks.checkpoint import failed_checkpoints, finish_checkpoints, start_checkpoints
from prefect_dvc.tasks.finalize import ExperimentResult, finalize
from prefect_dvc.tracked_data import place_tracked_data
from prefect_dvc.translators.flow import PipelineRun, failed_state


@dataclass(frozen=True)
class ExperimentPlan:
    """An experiment about to run: where, on which baseline, under which name."""

    root: Path
    baseline: str
    name: str
    overrides: tuple[Override, ...]


def prepare_experiment(
    root: Path, *, name: str | None, set_params: Sequence[str], force: bool
) -> ExperimentPlan:
    """Resolve the baseline and name and parse the overrides; writes nothing.

    Raises:
        GitError: no commit to use as a baseline.
        ExperimentExistsError: ``name`` is taken for this baseline and not ``force``.
        ConfigError: an override cannot be parsed.
    """
    git = Git(root)
    baseline = git.try_rev_parse("HEAD")
    if baseline is None:
        raise GitError(
            "the repository has no commit to use as the experiment's baseline",
            path=str(root),
            hint="Commit your project first (git add -A && git commit)",
        )
    if name:
        validate_name(name)
        if not force and git.try_rev_parse(ExpRef(baseline, name).ref):
            raise ExperimentExistsError(
                f"experiment '{name}' already exists for baseline {baseline[:7]}",
                hint="Use -f to overwrite it or -n to pick another name",
            )
    else:
        name = new_name_for(git, baseline)
    overrides = tuple(parse_override(text) for text in set_params)
    return ExperimentPlan(root, baseline, name, overrides)


def _flow_run_name() -> str:
    """The experiment's name when given, so runs are easy to find in the UI."""
    name = flow_run.parameters.get("name")
    return str(name) if name else "exp-run"


def _label_flow_run(name: str, *, rename: bool) -> None:
    """Tag the run ``prefect-dvc`` and ``exp:<name>`` (and name it) so the UI can filter it.

    Local runs get these tags from ``prefect.tags`` around the flow call and
    deployments from their ``tags``; only what is missing costs an API call.
    """
    run_id = flow_run.get_id()
    wanted = ["prefect-dvc", f"exp:{name}"]
    missing = [t for t in wanted if t not in flow_run.get_tags()]
    if run_id and (rename or missing):
        with get_client(sync_client=True) as client:
            client.update_flow_run(
                run_id,
                name=name if rename else None,
                tags=[*flow_run.get_tags(), *missing] if missing else None,
            )


@flow(name="exp_run", flow_run_name=_flow_run_name, log_prints=True)
@one_line_failures
def exp_run(
    repo: str = ".",
    rev: str | None = None,
    set_params: list[str] | None = None,
    name: str | None = None,
    targets: list[str] | None = None,
    remote: str | None = None,
    push: bool = False,
    run_cache: bool = True,
    force: bool = False,
    jobs: int | None = None,
    message: str | None = None,
    git_remote: str = "origin",
    workdir: str | None = None,
    config_local_secret: str | None = None,
    resume: str | None = None,
    reset: bool = False,
    plots: bool = True,
    cluster: str | None = None,
    cluster_workers: int | None = None,
    retries: int = 0,
) -> State:
    """Run a DVC experiment: apply params overrides, reproduce the pipeline, commit a Git ref.

    The result is the experiment ref refs/exps/<baseline>/<name>, readable by
    'prefect-dvc exp show' and by DVC 3's 'dvc exp show'. Stages whose inputs
    did not change are skipped or restored from the run-cache (local, then the
    DVC remote's), so a fresh worker with an empty cache only runs what is new.
    When the repository is a Git URL the run works in a fresh clone; with
    push on, the experiment ref goes to the Git remote and its outputs and
    run-cache entries to the DVC remote, so nothing is lost with the worker.

    Args:
        repo: the project: a local path (the folder with .dvc/ and dvc.yaml), or a Git URL
            (https://..., ssh://..., git@host:path, file:///...) to clone for this run.
        rev: branch, tag or commit to run on; Git URLs only (default: the default branch).
        set_params: overrides as for 'exp run -S', e.g. ["train.lr=0.01", "other.yaml:seed=3"].
        name: the experiment's name (default: a generated adjective-noun name).
        targets: stages to reproduce (default: all).
        remote: the DVC remote for run-cache lookups and the push (default: core.remote).
        push: at the end, push the experiment ref to the Git remote and its outputs plus
            run-cache entries to the DVC remote (as 'prefect-dvc exp push --run-cache').
        run_cache: look up the run-cache before running a stage.
        force: overwrite an existing experiment of the same name; re-run all stages.
        jobs: how many stages may run at once (default: the number of CPUs).
        message: the experiment commit's message (default: DVC's 'dvc: commit experiment <hash>').
        git_remote: the Git remote (name or URL) the experiment ref is pushed to.
        workdir: where to clone a Git URL (default: a new temporary folder, deleted after a
            successful push).
        config_local_secret: name of a Prefect Secret block holding the text of
            .dvc/config.local (e.g. the DVC remote's credentials), written into the clone.
        resume: checkpoint pipelines: the checkpoint (or experiment) to resume from, as
            'exp run --rev' (default: the checkpoint the workspace holds, if any).
        reset: checkpoint pipelines: delete the checkpoint outs and start a new chain.
        plots: publish the plots artifact, baseline against experiment (on for deployments;
            'exp run' in a terminal turns it on with --plots: rendering costs seconds).
    """
    protect_secrets()
    if push:
        check_remote(git_remote)  # before the pipeline runs, not at its very end
    ws = open_workspace(repo, rev=rev, workdir=workdir, config_local_secret=config_local_secret)
    if ws.cloned:  # a fresh clone has no .dvc-tracked data (data.xml.dvc) yet
        place_tracked_data(ws.root, remote=remote)
    with tracked_run(ws.root, "exp_run") as record, kept_index(ws.root, _index_locked):
        root = ws.root
        point = find_resume_point(root, resume=resume, reset=reset)
        plan = prepare_experiment(
            root, name=resume_name(point, name), set_params=set_params or [], force=force
        )
        apply_overrides(root, plan.overrides)
        ckpt = start_checkpoints(
            root,
            baseline=plan.baseline,
            name=plan.name,
            given_name=name,
            point=point,
            reset=reset,
            force=force,
        )
        if ckpt.active:
            plan = dataclasses.replace(plan, name=ckpt.name, baseline=ckpt.baseline)
        _label_flow_run(plan.name, rename=not name or ckpt.active)
        env = {
            "DVC_EXP_BASELINE_REV": plan.baseline,
            "DVC_EXP_NAME": plan.name,
            "DVC_ROOT": str(root),
            RUN_ENV: record.key,
        }
        run: PipelineRun = run_repro(
            root,
            targets=targets or (),
            force=force,
            jobs=jobs,
            run_cache=run_cache,
            env=env,
            extra_tags=(f"exp:{plan.name}",),
            remote=remote,
            checkpoints=ckpt.recorder,
            cluster=parse_cluster(cluster, cluster_workers) if cluster else None,
            retries=retries,
        )
        signum = stop_requested()
        if signum is not None:
            _keep(ws)
            return cancelled_state(run, signum)
        if not run.ok:
            _keep(ws)
            if ckpt.active:
                return failed_checkpoints(ckpt, run)
            return failed_state(run)
        result: ExperimentResult
        if ckpt.active:
            result = finish_checkpoints(ckpt, run, message=message)
        else:
            result = finalize(
                root,
                plan.baseline,
                plan.name,
                run.results,
                force=force,
                message=message,
                plots=plots,
            )
        if push:
            push_experiment(ws, ExpRef(plan.baseline, plan.name), remote, git_remote)
            release_workspace(ws, published=True)
        else:
            _keep(ws)
        return Completed(message=f"experiment '{plan.name}' at {result.commit[:7]}", data=result)


plain_json_parameters(exp_run)


def _keep(ws: Workspace) -> None:
    """Say where a clone that still holds unpushed work was left."""
    kept = release_workspace(ws, published=False)
    if kept is not None:
        get_run_logger().warning("The work is kept in %s (not pushed)", kept)


def _index_locked(path: Path) -> None:
    """Say that a stage's ``git add`` stays staged because Git's index was locked."""
    get_run_logger().warning(
        "Git's index is locked (%s.lock exists): files a stage staged stay staged; "
        "remove the lock if no git is running, then 'git restore --staged <path>'",
        path,
    )
