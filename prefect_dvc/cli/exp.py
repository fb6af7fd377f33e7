"""``exp ...``, ``queue ...``, ``params diff`` and ``metrics show/diff``.

Messages are printed with ``soft_wrap`` so a ref or a path is never cut in
two at column 80 when the output goes to a file or a pipe.

Queued experiments run as child ``prefect-dvc exp run`` processes; they all
report to the same Prefect API as this process (``PREFECT_API_URL``, the
profile's URL, or a running local server). With none of these, one
temporary server is started for the whole batch instead of one per child
(each would cost ~5 s and lose task runs at exit, ``prefect-notes.md`` 0.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from prefect_dvc.checkpoints.resume import find_resume_point, resume_name
from prefect_dvc.cli import show as show_cmds
from prefect_dvc.cli.exp_list_text import describe, exp_list_lines
from prefect_dvc.cli.exp_pool import check_pool_name, run_queue_on_pool
from prefect_dvc.cli.output import console, err_console, print_json, print_run
from prefect_dvc.cli.pipeline import CLUSTER, CLUSTER_WORKERS, RETRIES, scoped_stages
from prefect_dvc.cluster.spec import check_cluster, cluster_parameters
from prefect_dvc.errors import ConfigError, MissingObjectError, StageError
from prefect_dvc.experiments import manage, sync
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.inputs import check_copy_paths
from prefect_dvc.experiments.overrides import apply_overrides, expand_sweeps, rebase_to_root
from prefect_dvc.experiments.queue import Queue, QueuedExp, run_now
from prefect_dvc.experiments.refs import (
    ExpRef,
    list_exp_refs,
    list_remote_exp_refs,
    resolve_exp,
)
from prefect_dvc.flows.background import api_for_command, start_early
from prefect_dvc.locks import (
    cache_reader,
    locked,
    locked_workspace,
    repo_lock,
    workspace_experiment,
)
from prefect_dvc.project import (
    fetch_experiment_objects,
    missing_experiment_outs,
    push_experiment_objects,
    restore_outs,
)
from prefect_dvc.redact import redact
from prefect_dvc.repo import find_root
from prefect_dvc.translators.index import PROJECT_FILE, load_index
from prefect_dvc.translators.targets import Scope

app = typer.Typer(help="Run, compare and share experiments.", no_args_is_help=True)
queue_app = typer.Typer(help="Manage queued experiments.", no_args_is_help=True)

SET_PARAM = typer.Option(
    None, "-S", "--set-param", help="[file:]key=value, Hydra grammar; sweeps need --queue."
)
LOG_TAIL = 15
POOL = typer.Option(
    None, "--pool", help="Run queued experiments as flow runs on this Prefect work pool."
)
GIT_REMOTE = typer.Option(
    "origin", "--git-remote", help="With --pool: the Git remote workers clone and push to."
)


def _say(text: str) -> None:
    console.print(redact(text), soft_wrap=True)


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
    rev: str = typer.Option(
        None, "--rev", help="Checkpoint pipelines: resume from this checkpoint or experiment."
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Checkpoint pipelines: delete the checkpoint outs, start anew."
    ),
    copy_paths: list[str] = typer.Option(
        None,
        "-C",
        "--copy-paths",
        help="Ignored or untracked paths to copy into a queued run's clone (as DVC).",
    ),
    plots: bool = typer.Option(
        False, "--plots", help="Also publish the plots artifact (rendering takes seconds)."
    ),
    all_pipelines: bool = typer.Option(
        False, "-P", "--all-pipelines", help="Every pipeline of the project, not this folder's."
    ),
    temp: bool = typer.Option(
        False, "--temp", help="Run in a temporary clone (.dvc/tmp/exps); workspace untouched."
    ),
    pool: str = POOL,
    git_remote: str = GIT_REMOTE,
    cluster: str = CLUSTER,
    cluster_workers: int = CLUSTER_WORKERS,
    retries: int | None = RETRIES,
) -> None:
    """Apply -S overrides, reproduce the pipeline on Prefect, and commit an experiment ref.

    A pipeline with a 'checkpoint: true' out resumes from the checkpoint the
    workspace holds (or --rev), records a checkpoint commit on every signal
    and grows the experiment's chain; --reset starts a new chain.
    """
    root = find_root()
    if pool is not None and not run_all:
        raise ConfigError(
            "--pool sends queued experiments to a work pool: use it with --run-all",
            hint="Queue with 'exp run --queue -S k=v', then 'prefect-dvc queue start --pool P'",
        )
    if pool is not None:
        check_pool_name(pool)
    check_cluster(root, cluster, cluster_workers)
    targets = exp_targets(root, targets, all_pipelines)
    combos = expand_sweeps(rebase_to_root(set_param or [], root, Path.cwd()), queue=queue)
    if cluster and (queue or run_all or temp or len(combos) > 1):
        raise ConfigError(
            "--cluster runs one experiment in the workspace, not --queue, --run-all, "
            "--temp or a sweep",
            hint="Run the experiments one at a time with --cluster",
        )
    if temp and not queue:
        _run_temp(root, combos[0], name, targets, force, no_run_cache, copy_paths)
        return
    if queue or len(combos) > 1:
        q = Queue(root)
        with q.claims.mutex():
            entries = q.plan(
                combos,
                name=name,
                targets=targets or [],
                force=force,
                run_cache=not no_run_cache,
                copy_paths=check_copy_paths(root, copy_paths or [], cwd=Path.cwd()),
            )
            q.add(entries)
        for entry in entries:
            overrides = ", ".join(entry.set_params) or "no overrides"
            _say(f"Queued experiment '{entry.name}' ({overrides})")
        if not run_all:
            _say("Run them with 'prefect-dvc queue start -j N' or 'prefect-dvc exp run --run-all'.")
            return
    if run_all and pool is not None:
        run_queue_on_pool(root, pool, jobs or 1, git_remote)
        return
    if run_all:
        _run_queue(root, jobs or 1)
        return
    # NOTE: DVC's @locked exp run, plus the workspace claim held for the whole
    # run: a second exp run here is refused before it changes anything.
    with repo_lock(root).hold(), workspace_experiment(root), cache_reader(root):
        start_early()  # NOTE: the server starts up while Prefect is imported below
        from prefect_dvc.flows.experiment import prepare_experiment

        point = find_resume_point(root, resume=rev, reset=reset)
        plan = prepare_experiment(
            root, name=resume_name(point, name), set_params=combos[0], force=force
        )
        run_name = point.exp.name if point and resume_name(point, name) is None else plan.name
        apply_overrides(root, plan.overrides, dry_run=True)
        # NOTE: Prefect is imported only once an experiment really runs.
        from prefect_dvc.flows.local import run_experiment_locally

        failed, result, summary = run_experiment_locally(
            root,
            name=run_name,
            set_params=list(combos[0]),
            targets=targets or [],
            force=force,
            jobs=jobs,
            run_cache=not no_run_cache,
            message=message,
            resume=rev,
            reset=reset,
            plots=plots,
            **cluster_parameters(cluster, cluster_workers, retries),
        )
        if failed is not None:
            print_run(failed)
            raise StageError(summary if "checkpoint" in summary else failed.summary())
        assert result is not None
        _say(f"Ran experiment '{result.name}' ({result.commit[:7]}): {result.ref}")
        _say("Experiment results have been applied to your workspace.")


def _say_err(line: str) -> None:
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def _children_api() -> Iterator[dict[str, str]]:
    """The environment that points child runs at this process's Prefect API.

    Prefect is imported here only to read the profile's URL; failing that,
    the local (background) server is used, or with
    ``PREFECT_DVC_SERVER=temporary`` one temporary server for the batch.
    """
    start_early()  # NOTE: the server starts up while Prefect's settings are imported
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or api_for_command(_say_err)
    if url:
        yield {"PREFECT_API_URL": str(url)}
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    err_console.print(f"Started a temporary Prefect server for the queue at {server.api_url}")
    try:
        yield {"PREFECT_API_URL": server.api_url}
    finally:
        server.stop()


def _run_queue(root: Path, jobs: int) -> None:
    q = Queue(root)
    if not any(q.claims.runnable(e) for e in q.entries()):
        _say(_nothing_to_run(q))
        return
    with _children_api() as env:
        results = q.run_all(jobs, env=env)
    if not results:
        _say(_nothing_to_run(q))
    failed = [r for r in results if r.state != "success"]
    for r in results:
        if r.state == "success":
            _say(f"{r.name}: [green]success[/] ({r.commit[:7]})")
        else:
            _say(f"{r.name}: [red]failed[/]: {r.message}")
    for r in failed:
        _print_log_tail(q, r)
    if failed:
        raise StageError(
            f"{len(failed)} of {len(results)} queued experiment(s) failed: "
            + ", ".join(r.name for r in failed),
            hint="See 'prefect-dvc queue logs <name>'",
        )


def _nothing_to_run(q: Queue) -> str:
    running = q.claims.running()
    if not running:
        from prefect_dvc.experiments.queue_rows import nothing_queued

        return nothing_queued(q.entries())
    return (
        f"Every queued experiment is already being run by another process "
        f"(PID {running[0]['pid']}: {running[0]['cmd']}); see 'prefect-dvc queue status'."
    )


def _print_log_tail(q: Queue, entry: QueuedExp) -> None:
    """The end of a failed run's log on stderr, so the reason shows without a second command."""
    lines = q.log(entry.id).splitlines()[-LOG_TAIL:]
    err_console.print(
        f"--- last {len(lines)} line(s) of the log of '{entry.name}' "
        f"(all of it: prefect-dvc queue logs {entry.name}) ---",
        soft_wrap=True,
        markup=False,
    )
    for line in lines:
        err_console.print(line, soft_wrap=True, markup=False, highlight=False)


@queue_app.command("status")
def queue_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """List queued, running, finished and failed experiments."""
    entries = Queue(find_root()).entries()
    if as_json:
        print_json([e.__dict__ for e in entries])
        return
    for e in entries:
        _say(f"{e.name}\t{e.state}\t{' '.join(e.set_params)}\t{e.message}")
    if not entries:
        _say("The queue is empty.")


@queue_app.command("remove")
def queue_remove(
    names: list[str] = typer.Argument(None),
    all_: bool = typer.Option(False, "-A", "--all", help="Remove every entry."),
    queued: bool = typer.Option(False, "--queued", help="Remove every queued entry."),
    success: bool = typer.Option(False, "--success", help="Remove every successful entry."),
    failed: bool = typer.Option(False, "--failed", help="Remove every failed entry."),
) -> None:
    """Remove queued experiments (and their logs)."""
    states = [s for s, on in (("queued", queued), ("success", success), ("failed", failed)) if on]
    if bool(names) == bool(all_ or states):
        # NOTE: DVC's words (dvc/commands/queue/remove.py::check_arguments)
        raise ConfigError(
            "Either provide an `tasks` argument, or use the "
            "`--all`, `--queued`, `--failed`, `--success` flag."
        )
    removed = Queue(find_root()).remove(names or [], all_=all_, states=states)
    # NOTE: DVC's lines for either case, whatever state the removed entries were in
    if removed:
        print(f"Removed tasks in queue: {', '.join(removed)}")
    else:
        print(f"No tasks found named {list(names or [])}")


@queue_app.command("logs")
def queue_logs(name: str) -> None:
    """Print the log of a queued experiment's run."""
    print(Queue(find_root()).log(name), end="")


@queue_app.command("start")
def queue_start(
    jobs: int = typer.Option(1, "-j", "--jobs"), pool: str = POOL, git_remote: str = GIT_REMOTE
) -> None:
    """Run every queued experiment, JOBS at a time (here, or on a work pool with --pool)."""
    if pool is not None:
        run_queue_on_pool(find_root(), pool, jobs, git_remote)
        return
    _run_queue(find_root(), jobs)


@app.command("apply")
@locked_workspace
def apply(
    name: str,
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite local changes."),
) -> None:
    """Bring an experiment's files and cached outs into the workspace (HEAD stays)."""
    root = find_root()
    exp, sha = resolve_exp(Git(root), name)
    missing = missing_experiment_outs(root, sha)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise MissingObjectError(
            f"cannot apply experiment '{exp.name}': {len(missing)} out(s) are in neither the "
            f"local cache nor the default remote: {shown}",
            hint="Pull them where the experiment ran ('prefect-dvc exp push <git remote> "
            f"{exp.name}' there pushes them), or rerun it; nothing was changed",
        )
    changed = manage.apply_experiment(root, name, force=force)
    restored = restore_outs(root)
    _say(f"Applied experiment '{name}': {len(changed)} file(s), {len(restored)} out(s) restored.")


@app.command("branch")
@locked
def branch(name: str, branch_name: str = typer.Argument(None)) -> None:
    """Create a Git branch from an experiment."""
    sha = manage.branch_experiment(find_root(), name, branch_name)
    created = branch_name or f"{name}-branch"
    _say(f"Git branch '{created}' has been created from experiment '{name}' ({sha[:7]}).")


@app.command("list")
def list_(
    git_remote: str = typer.Argument(None, help="List a Git remote's experiments instead."),
    all_: bool = typer.Option(
        False, "-A", "--all-commits", "--all", help="Experiments of every baseline."
    ),
    name_only: bool = typer.Option(False, "--name-only", "--names-only", help="Names only."),
    sha_only: bool = typer.Option(False, "--sha-only", "--shas-only", help="SHAs only."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List experiments (of HEAD by default), as 'dvc exp list' prints them."""
    if sha_only and git_remote:
        raise ConfigError("--sha-only not supported with git_remote")
    if sha_only and name_only:
        raise ConfigError("--name-only and --sha-only are mutually exclusive")
    git = Git(find_root())
    baseline = None if all_ else git.head_commit()
    exps: list[tuple[ExpRef, str | None]]
    if git_remote:
        exps = [
            (exp, None)
            for exp, _sha in list_remote_exp_refs(git, git_remote)
            if baseline is None or exp.baseline == baseline
        ]
    else:
        exps = list(list_exp_refs(git, baseline))
    if as_json:
        grouped: dict[str, list[str]] = {}
        for exp, _sha in exps:
            grouped.setdefault(exp.baseline, []).append(exp.name)
        print_json(grouped)
        return
    names = {} if name_only or sha_only else describe(git, [exp.baseline for exp, _ in exps])
    lines = exp_list_lines(exps, names, name_only=name_only, sha_only=sha_only)
    if lines:
        print("\n".join(lines))


@app.command("remove")
@locked
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
    _say(f"Removed experiments: {', '.join(removed) or 'none'}")


@app.command("push")
@locked
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
    _say(f"Pushed experiment(s) {', '.join(e.name for e in exps) or 'none'} to '{git_remote}'")
    if not no_cache and exps:
        report = push_experiment_objects(root, exps, remote=remote, run_cache=run_cache)
        _say(f"{report.objects} object(s) pushed to the DVC remote")


@app.command("pull")
@locked
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
    _say(f"Pulled experiment(s) {', '.join(e.name for e in exps) or 'none'}")
    if not no_cache and exps:
        report = fetch_experiment_objects(root, exps, remote=remote, run_cache=run_cache)
        err_console.print(f"{report.objects} object(s) fetched from the DVC remote")


def exp_targets(root: Path, targets: list[str] | None, every: bool) -> list[str]:
    """The targets an experiment runs, read from the current folder, spelled from the root.

    As ``dvc exp run``: without targets, this folder's ``dvc.yaml`` (and the
    stages it needs); ``-P`` every pipeline. An empty list means the root's
    ``dvc.yaml``, which the flow reads itself (``flows/repro.py``).
    """
    scope = Scope.here(root)
    # NOTE: loaded here so a bad target or pipeline fails before -S edits any file
    chosen = scoped_stages(scope, load_index(root), targets, every, False)
    if targets or every:
        return chosen
    return [] if scope.dvcfile == PROJECT_FILE else [scope.dvcfile]


def _run_temp(
    root: Path,
    overrides: list[str],
    name: str | None,
    targets: list[str] | None,
    force: bool,
    no_run_cache: bool,
    copy_paths: list[str] | None,
) -> None:
    """``exp run --temp``: checked as a queued entry, run now in a clone, the ref fetched back."""
    q = Queue(root)
    with q.claims.mutex():
        (entry,) = q.plan(
            [overrides],
            name=name,
            targets=targets or [],
            force=force,
            run_cache=not no_run_cache,
            copy_paths=check_copy_paths(root, copy_paths or [], cwd=Path.cwd()),
        )
    with _children_api() as env:
        result = run_now(q, entry, env=env)
    if result.state != "success":
        raise StageError(
            f"experiment '{entry.name}' failed in its temporary clone: {result.message}",
            hint="Its output is above; the workspace was not changed",
        )
    ref = ExpRef(result.baseline, result.name).ref
    _say(f"Ran experiment '{result.name}' ({result.commit[:7]}): {ref}")
