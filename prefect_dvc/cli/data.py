"""``push``, ``pull``, ``fetch``, ``checkout`` and ``gc``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from prefect_dvc.cli.output import console
from prefect_dvc.errors import ConfigError, MissingObjectError
from prefect_dvc.project import open_stores_for, workspace_outs
from prefect_dvc.repo import find_root, locate_dvcfile
from prefect_dvc.storage import sync
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.stores import Stores

TARGETS = typer.Argument(None, help="Stages whose outs to move (default: all).")
REMOTE = typer.Option(None, "-r", "--remote", help="Remote name (default: core.remote).")
RUN_CACHE = typer.Option(False, "--run-cache", help="Also move run-cache entries.")
JOBS = typer.Option(None, "-j", "--jobs", help="Transfers at once.")


def register(app: typer.Typer) -> None:
    for name, fn in [("push", push), ("pull", pull), ("fetch", fetch), ("checkout", checkout)]:
        app.command(name)(fn)
    app.command("gc")(gc)


def _open(
    remote: str | None, jobs: int | None, use_remote: bool = True
) -> tuple[Path, Stores, Hasher]:
    root = find_root()
    stores, hasher = open_stores_for(root, remote=remote, use_remote=use_remote, jobs=jobs)
    return root, stores, hasher


def _outs(root: Path, targets: list[str] | None) -> list[sync.UsedOut]:
    """The outs of the pipeline ``repro`` would run here (a sub-folder's dvc.yaml too)."""
    return workspace_outs(root, targets or (), locate_dvcfile(root))


def push(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
) -> None:
    """Upload the objects dvc.lock needs (and run-cache entries) to a remote."""
    root, stores, _ = _open(remote, jobs)
    report = sync.push(stores, _outs(root, targets), run_cache=run_cache)
    runs = f", {report.runs} run-cache entries" if run_cache else ""
    console.print(f"{report.objects} object(s) pushed, {report.skipped} already there{runs}")
    if report.missing:
        raise MissingObjectError(
            f"{len(report.missing)} object(s) are not in the local cache ({report.missing[0]})",
            hint="Run 'prefect-dvc repro' to produce them, or pull them from another remote",
        )


def fetch(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
) -> None:
    """Download the objects dvc.lock needs into the local cache (workspace untouched)."""
    root, stores, _ = _open(remote, jobs)
    report = sync.fetch(stores, _outs(root, targets), run_cache=run_cache)
    runs = f", {report.runs} run-cache entries" if run_cache else ""
    console.print(f"{report.objects} object(s) fetched, {report.skipped} already local{runs}")
    if report.missing:
        raise MissingObjectError(
            f"{len(report.missing)} object(s) are not on the remote ({report.missing[0]})",
            hint="Push them from the machine that produced them",
        )


def pull(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
) -> None:
    """fetch, then checkout."""
    fetch(targets, remote, run_cache, jobs)
    checkout(targets)


def checkout(targets: list[str] = TARGETS) -> None:
    """Restore the workspace's outs from the local cache to match dvc.lock."""
    root, stores, hasher = _open(None, None, use_remote=False)
    restored, missing = sync.checkout(
        root, stores, _outs(root, targets), lambda p: hasher.hash_path(p)[0].md5
    )
    for path in restored:
        console.print(f"M\t{path}")
    if missing:
        raise MissingObjectError(
            f"{len(missing)} out(s) are not in the local cache: {', '.join(missing)}",
            hint="Run 'prefect-dvc pull' or 'prefect-dvc repro'",
        )
    if not restored:
        console.print("Everything is in place.")


def gc(
    workspace: bool = typer.Option(
        False, "-w", "--workspace", help="Keep what the workspace uses."
    ),
    all_branches: bool = typer.Option(False, "-a", "--all-branches", help="...and every branch."),
    all_tags: bool = typer.Option(False, "-T", "--all-tags", help="...and every tag."),
    all_experiments: bool = typer.Option(False, "--all-experiments", help="...and experiments."),
    all_commits: bool = typer.Option(False, "-A", "--all-commits", help="...and every commit."),
    cloud: bool = typer.Option(False, "-c", "--cloud", help="Also collect the remote."),
    remote: str = REMOTE,
    dry: bool = typer.Option(False, "--dry", help="Only list what would be removed."),
    upload_hours: float = typer.Option(
        24.0,
        "--abort-uploads-older-than",
        help="With -c: abort incomplete multipart uploads begun this many hours ago or more.",
    ),
) -> None:
    """Remove cache objects that no kept revision's dvc.lock refers to."""
    if not (workspace or all_branches or all_tags or all_experiments or all_commits):
        raise ConfigError(
            "gc needs to know what to keep: none of -w, -a, -T, --all-experiments, -A was given",
            hint="Run 'prefect-dvc gc -w' to keep only what the workspace uses (add --dry first)",
        )
    root, stores, _ = _open(remote, None, use_remote=cloud)
    if cloud and stores.remote is None:
        raise ConfigError(
            "gc --cloud needs a remote, and none is configured",
            path=".dvc/config",
            hint="Pass -r <name>, or set one with: prefect-dvc remote default <name>",
        )
    revs = sync.revisions(
        root,
        all_branches=all_branches,
        all_tags=all_tags,
        all_experiments=all_experiments,
        all_commits=all_commits,
    )
    used = sync.used_hashes(root, revs)
    targets = [("local cache", stores.local)]
    if cloud and stores.remote is not None:
        targets.append((f"remote '{stores.remote.name}'", stores.remote.objects))
    for label, store in targets:
        doomed = sync.gc(store, used, dry=dry)
        verb = "Would remove" if dry else "Removed"
        for md5 in doomed if dry else ():
            console.print(f"  {md5}")
        console.print(f"{verb} {len(doomed)} object(s) from the {label}")
    if cloud and stores.remote is not None and not dry:
        aborted = sync.abort_stale_uploads(stores.remote.objects, timedelta(hours=upload_hours))
        if aborted:
            console.print(
                f"Aborted {aborted} incomplete upload(s) on remote '{stores.remote.name}'"
            )
