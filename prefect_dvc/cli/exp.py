"""``exp ...``, ``queue ...``, ``params diff`` and ``metrics show/diff``."""

from __future__ import annotations

import typer

from prefect_dvc.cli import show as show_cmds
from prefect_dvc.cli.output import console, err_console, print_json
from prefect_dvc.errors import StageError
from prefect_dvc.experiments import manage, sync
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.overrides import apply_overrides, expand_sweeps, parse_override
from prefect_dvc.experiments.queue import Queue
from prefect_dvc.experiments.refs import list_exp_refs
from prefect_dvc.project import (
    fetch_experiment_objects,
    push_experiment_objects,
    restore_outs,
)
from prefect_dvc.repo import find_root

app = typer.Typer(help="Run, compare and share experiments.", no_args_is_help=True)
queue_app = typer.Typer(help="Manage queued experiments.", no_args_is_help=True)

SET_PARAM = typer.Option(None, "-S", "--set-param", help="[file:]key=value override; sweeps ok.")


def register_top_level(root_app: typer.Typer) -> None:
    root_app.add_typer(queue_app, name="queue")
    show_cmds.register(app, root_app)


@app.command("run")
def run(
    targets: list[str] = typer.Argument(None, help="Stages to reproduce (default: all)."),
    set_param: list[str] = SET_PARAM,
    name: str = typer.Option(None, "-n", "--name", help="Experiment name (default: generated)."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite; re-run all stages."),
    no_run_cache: bool = typer.Option(False, "--no-run-cache", help="Skip the run-cache."),
    jobs: int = typer.Option(None, "-j", "--jobs", help="Stages (or queued experiments) at once."),
    queue: bool = typer.Option(False, "--queue", help="Record the experiment; run it later."),
    run_all: bool = typer.Option(False, "--run-all", help="Run every queued experiment."),
    message: str = typer.Option(None, "-m", "--message", help="Experiment commit message."),
) -> None:
    """Apply -S overrides, reproduce the pipeline on Prefect, and commit an experiment ref."""
    root = find_root()
    combos = expand_sweeps(set_param or [])
    if queue or len(combos) > 1:
        _enqueue(root, combos, name, targets or [])
        if not run_all:
            return
    if run_all:
        _run_queue(root, jobs or 1)
        return
    from prefect_dvc.flows.experiment import prepare_experiment

    plan = prepare_experiment(root, name=name, set_params=combos[0], force=force)
    apply_overrides(root, plan.overrides, dry_run=True)
    # NOTE: Prefect is imported only once an experiment really runs.
    from prefect_dvc.flows.local import run_experiment_locally

    failed, result, _summary = run_experiment_locally(
        root,
        name=plan.name,
        set_params=list(combos[0]),
        targets=targets or [],
        force=force,
        jobs=jobs,
        run_cache=not no_run_cache,
        message=message,
    )
    if failed is not None:
        show_cmds.print_run(failed)
        raise StageError(failed.summary())
    assert result is not None
    console.print(f"Ran experiment '{result.name}' ({result.commit[:7]}): {result.ref}")
    console.print("Experiment results have been applied to your workspace.")


def _enqueue(root, combos: list[list[str]], name: str | None, targets: list[str]) -> None:
    from prefect_dvc.flows.experiment import prepare_experiment

    q = Queue(root)
    for i, combo in enumerate(combos):
        wanted = f"{name}-{i + 1}" if name and len(combos) > 1 else name
        plan = prepare_experiment(root, name=wanted, set_params=combo, force=False)
        for override in combo:
            parse_override(override)
        entry = q.add(name=plan.name, baseline=plan.baseline, set_params=combo, targets=targets)
        console.print(f"Queued experiment '{entry.name}' ({', '.join(combo) or 'no overrides'})")


def _run_queue(root, jobs: int) -> None:
    results = Queue(root).run_all(jobs)
    if not results:
        console.print("The queue is empty.")
        return
    failed = [r for r in results if r.state != "success"]
    for r in results:
        mark = "[green]success[/]" if r.state == "success" else f"[red]failed[/]: {r.message}"
        console.print(f"{r.name}: {mark}")
    if failed:
        raise StageError(
            f"{len(failed)} of {len(results)} queued experiment(s) failed: "
            + ", ".join(r.name for r in failed),
            hint="See 'prefect-dvc queue logs <name>'",
        )


@queue_app.command("status")
def queue_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """List queued, running, finished and failed experiments."""
    entries = Queue(find_root()).entries()
    if as_json:
        print_json([e.__dict__ for e in entries])
        return
    for e in entries:
        console.print(f"{e.name}\t{e.state}\t{' '.join(e.set_params)}\t{e.message}")
    if not entries:
        console.print("The queue is empty.")


@queue_app.command("remove")
def queue_remove(
    names: list[str] = typer.Argument(None),
    all_: bool = typer.Option(False, "-A", "--all", help="Remove every entry."),
) -> None:
    """Remove queued experiments (and their logs)."""
    removed = Queue(find_root()).remove(names or [], all_=all_)
    console.print(f"Removed {len(removed)} queued experiment(s): {', '.join(removed)}")


@queue_app.command("logs")
def queue_logs(name: str) -> None:
    """Print the log of a queued experiment's run."""
    print(Queue(find_root()).log(name), end="")


@queue_app.command("start")
def queue_start(jobs: int = typer.Option(1, "-j", "--jobs")) -> None:
    """Run every queued experiment, JOBS at a time."""
    _run_queue(find_root(), jobs)


@app.command("apply")
def apply(
    name: str,
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite local changes."),
) -> None:
    """Bring an experiment's files and cached outs into the workspace (HEAD stays)."""
    root = find_root()
    changed = manage.apply_experiment(root, name, force=force)
    restored = restore_outs(root)
    console.print(
        f"Applied experiment '{name}': {len(changed)} file(s), {len(restored)} out(s) restored."
    )


@app.command("branch")
def branch(name: str, branch_name: str = typer.Argument(None)) -> None:
    """Create a Git branch from an experiment."""
    created = manage.branch_experiment(find_root(), name, branch_name)
    console.print(f"Git branch '{created}' has been created from experiment '{name}'.")


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "-A", "--all", help="Experiments of every baseline."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List experiments (of HEAD by default)."""
    git = Git(find_root())
    baseline = None if all_ else git.head_commit()
    exps = list_exp_refs(git, baseline)
    if as_json:
        grouped: dict[str, list[str]] = {}
        for exp, _sha in exps:
            grouped.setdefault(exp.baseline, []).append(exp.name)
        print_json(grouped)
        return
    for exp, sha in exps:
        console.print(f"{exp.name}\t{sha[:7]}\tbaseline {exp.baseline[:7]}")


@app.command("remove")
def remove(
    names: list[str] = typer.Argument(None),
    all_: bool = typer.Option(False, "-A", "--all", help="Remove every experiment."),
    queue: bool = typer.Option(False, "--queue", help="Also clear the queue."),
    git_remote: str = typer.Option(None, "-g", "--git-remote", help="Remove on a Git remote."),
) -> None:
    """Remove experiments (locally, or on a Git remote with -g)."""
    root = find_root()
    removed: list[str] = []
    if names or all_:
        exps = manage.remove_experiments(root, names or None, all_=all_, git_remote=git_remote)
        removed = [e.name for e in exps]
    if queue:
        removed += Queue(root).remove(all_=True)
    console.print(f"Removed experiments: {', '.join(removed) or 'none'}")


@app.command("push")
def push(
    git_remote: str,
    names: list[str] = typer.Argument(None),
    force: bool = typer.Option(False, "-f", "--force"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not push outs to the DVC remote."),
    remote: str = typer.Option(None, "-r", "--remote", help="DVC remote for the outs."),
    run_cache: bool = typer.Option(False, "--run-cache", help="Also push run-cache entries."),
) -> None:
    """Push experiment refs to a Git remote and their outs to the DVC remote."""
    root = find_root()
    exps = sync.push_experiments(root, git_remote, names or None, force=force)
    console.print(f"Pushed experiment(s) {', '.join(e.name for e in exps)} to '{git_remote}'")
    if not no_cache and exps:
        report = push_experiment_objects(root, exps, remote=remote, run_cache=run_cache)
        console.print(f"{report.objects} object(s) pushed to the DVC remote")


@app.command("pull")
def pull(
    git_remote: str,
    names: list[str] = typer.Argument(None),
    force: bool = typer.Option(False, "-f", "--force"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not fetch outs."),
    remote: str = typer.Option(None, "-r", "--remote", help="DVC remote for the outs."),
    run_cache: bool = typer.Option(False, "--run-cache", help="Also fetch run-cache entries."),
) -> None:
    """Fetch experiment refs from a Git remote and their outs from the DVC remote."""
    root = find_root()
    exps = sync.pull_experiments(root, git_remote, names or None, force=force)
    console.print(f"Pulled experiment(s) {', '.join(e.name for e in exps) or 'none'}")
    if not no_cache and exps:
        report = fetch_experiment_objects(root, exps, remote=remote, run_cache=run_cache)
        err_console.print(f"{report.objects} object(s) fetched from the DVC remote")
