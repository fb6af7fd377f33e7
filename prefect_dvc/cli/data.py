"""``push``, ``pull``, ``fetch``, ``checkout`` and ``gc``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import typer

from prefect_dvc.cli import checkout_text
from prefect_dvc.cli.output import console, err_console
from prefect_dvc.errors import ConfigError, GcRefusedError, MissingObjectError, PrefectDvcError
from prefect_dvc.locks import cache_collector, locked, locked_workspace
from prefect_dvc.project import open_stores_for
from prefect_dvc.repo import find_root, locate_dvcfile
from prefect_dvc.storage import sync
from prefect_dvc.storage.gc_scan import Unreadable, scan_used
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.stores import Stores
from prefect_dvc.storage.tracked_objects import data_outs
from prefect_dvc.storage.unsaved import refuse_unsaved
from prefect_dvc.translators.index import load_index

TARGETS = typer.Argument(
    None, help=".dvc files, tracked paths or stages whose outs to move (default: all)."
)
REMOTE = typer.Option(None, "-r", "--remote", help="Remote name (default: core.remote).")
RUN_CACHE = typer.Option(False, "--run-cache", help="Also move run-cache entries.")
JOBS = typer.Option(None, "-j", "--jobs", help="Transfers at once.")
WITH_DEPS = typer.Option(
    False, "-d", "--with-deps", help="Also the outs of the stages the target stages depend on."
)
FORCE = typer.Option(
    False, "-f", "--force", help="Overwrite or delete workspace files not in the cache."
)


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


def _outs(root: Path, targets: list[str] | None, with_deps: bool = False) -> list[sync.UsedOut]:
    """The outs of the pipeline here (a sub-folder's dvc.yaml too) and of every ``.dvc`` file.

    Targets are ``.dvc`` files, tracked paths (or paths inside a tracked
    folder) and stage names, as DVC resolves them.
    """
    return data_outs(root, targets or (), locate_dvcfile(root), with_deps=with_deps)


def _transfer(
    root: Path,
    outs: list[sync.UsedOut],
    *,
    remote: str | None,
    jobs: int | None,
    run_cache: bool,
    pushing: bool,
) -> sync.SyncReport:
    """Push or fetch ``outs``, each group to or from its remote (an out's ``remote:``).

    The run-cache travels with the default (or ``-r``) remote only.
    """
    groups = sync.by_remote(outs, remote, pushing=pushing)
    groups = {None: groups.pop(None, []), **groups}
    move = sync.push if pushing else sync.fetch
    total = sync.SyncReport()
    for name, group in groups.items():
        if not group and (name is not None or (len(groups) > 1 and not run_cache)):
            continue
        stores, hasher = _stores_for(root, name, group, remote=remote, jobs=jobs)
        try:
            report = move(stores, group, run_cache=run_cache and name is None)
        finally:
            hasher.close()
        total = sync.SyncReport(
            total.objects + report.objects,
            total.skipped + report.skipped,
            total.missing + report.missing,
            total.runs + report.runs,
        )
    return total


def _stores_for(
    root: Path, name: str | None, group: list[sync.UsedOut], *, remote: str | None, jobs: int | None
) -> tuple[Stores, Hasher]:
    """The stores for one remote group; an out's unknown ``remote:`` names its file."""
    try:
        return open_stores_for(root, remote=name or remote, jobs=jobs)
    except ConfigError as exc:
        if name is None:
            raise
        out = group[0]
        in_file = out.stage.endswith(".dvc")
        raise ConfigError(
            f"out '{out.repo_path}' names remote '{name}': {exc.msg}",
            path=out.stage if in_file else None,
            stage=None if in_file else out.stage,
            hint=f"Add the remote ('prefect-dvc remote add {name} <url>') or fix 'remote:'",
        ) from None


@locked
def push(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
    with_deps: bool = WITH_DEPS,
) -> None:
    """Upload the objects dvc.lock and the .dvc files need (and run-cache entries) to a remote."""
    root = find_root()
    report = _transfer(
        root,
        _outs(root, targets, with_deps),
        remote=remote,
        jobs=jobs,
        run_cache=run_cache,
        pushing=True,
    )
    if report.missing:
        raise MissingObjectError(
            f"{len(report.missing)} object(s) are not in the local cache ({report.missing[0]})",
            hint="Run 'prefect-dvc repro' to produce them, or pull them from another remote",
        )
    # DVC's log_summary: run-cache entries count as pushed files (dvc/repo/push.py)
    print(checkout_text.summary({"pushed": report.objects + report.runs}))


@locked
def fetch(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
    with_deps: bool = WITH_DEPS,
) -> None:
    """Download the objects dvc.lock and the .dvc files need into the local cache."""
    report = _fetch_all(find_root(), targets, remote, jobs, run_cache, with_deps)
    print(checkout_text.summary({"fetched": report.objects}))


@locked_workspace
def pull(
    targets: list[str] = TARGETS,
    remote: str = REMOTE,
    run_cache: bool = RUN_CACHE,
    jobs: int = JOBS,
    force: bool = FORCE,
    with_deps: bool = WITH_DEPS,
) -> None:
    """fetch, then checkout."""
    report = _fetch_all(find_root(), targets, remote, jobs, run_cache, with_deps)
    stats = _checkout_and_print(targets, force=force, with_deps=with_deps)
    # DVC's summary: objects fetched first, then the files checkout changed
    print(checkout_text.summary({"fetched": report.objects, **stats}))


@locked_workspace
def checkout(
    targets: list[str] = TARGETS, force: bool = FORCE, with_deps: bool = WITH_DEPS
) -> None:
    """Restore the workspace's outs from the local cache to match dvc.lock."""
    _checkout_and_print(targets, force=force, with_deps=with_deps)


def _checkout_and_print(
    targets: list[str] | None, *, force: bool = False, with_deps: bool = False
) -> dict[str, int]:
    """Check out, print DVC's ``A``/``M`` lines; returns DVC's file counts by kind.

    Raises:
        UnsavedChangesError: without ``force``, a changed out or a changed or
            extra file in a folder out is not in the cache (DVC's refusal).
    """
    root, stores, hasher = _open(None, None, use_remote=False)
    outs = _outs(root, targets, with_deps)
    refuse_unsaved(root, stores, outs, hasher.hash_path, force=force)
    changes = checkout_text.changes_before_checkout(
        root,
        [o for o in outs if stores.local.existing([o.info.oid])],
        stores.local.read_tree,
        hasher.hash_path,
    )
    restored, missing = sync.checkout(root, stores, outs, lambda p: hasher.hash_path(p)[0].md5)
    lines = checkout_text.change_lines(root, restored, changes)
    if lines:
        print("\n".join(lines))
    if missing:
        raise MissingObjectError(
            f"{len(missing)} out(s) are not in the local cache: {', '.join(missing)}",
            hint="Run 'prefect-dvc pull' or 'prefect-dvc repro'",
        )
    return checkout_text.file_stats(restored, changes)


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
    skip_failed: bool = typer.Option(
        False,
        "--skip-failed",
        help="Go on past unreadable dvc.lock/.dvc files, keeping all they may refer to.",
    ),
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation."),
) -> None:
    """Remove cache objects that no kept revision's dvc.lock or .dvc file refers to.

    Runs under the repository lock and the write side of the rwlock, so it is
    refused while any stage, experiment or queue of the repository runs.
    """
    if not (workspace or all_branches or all_tags or all_experiments or all_commits):
        raise ConfigError(
            "gc needs to know what to keep: none of -w, -a, -T, --all-experiments, -A was given",
            hint="Run 'prefect-dvc gc -w' to keep only what the workspace uses (add --dry first)",
        )
    root = find_root()
    with cache_collector(root):
        revs = sync.revisions(
            root,
            all_branches=all_branches,
            all_tags=all_tags,
            all_experiments=all_experiments,
            all_commits=all_commits,
        )
        _collect(
            revs,
            remote=remote,
            cloud=cloud,
            dry=dry,
            skip_failed=skip_failed,
            force=force,
            upload_age=timedelta(hours=upload_hours),
        )


def _collect(
    revs: list[str],
    *,
    remote: str | None,
    cloud: bool,
    dry: bool,
    skip_failed: bool,
    force: bool,
    upload_age: timedelta,
) -> None:
    """Scan what ``revs`` and the workspace need, list the rest, confirm, remove."""
    root, stores, hasher = _open(remote, None, use_remote=cloud)
    try:
        if cloud and stores.remote is None:
            raise ConfigError(
                "gc --cloud needs a remote, and none is configured",
                path=".dvc/config",
                hint="Pass -r <name>, or set one with: prefect-dvc remote default <name>",
            )
        used = scan_used(root, revs, workspace_extra=lambda: _workspace_out_md5s(root, hasher))
        _refuse_unreadable(used.unreadable, skip_failed)
        targets = [("local cache", stores.local)]
        if cloud and stores.remote is not None:
            targets.append((f"remote '{stores.remote.name}'", stores.remote.objects))
        plans = [
            (label, store, sync.gc(store, set(used.md5s), dry=True)) for label, store in targets
        ]
        console.print(_keeping(revs, cloud), soft_wrap=True)
        verb = "Would remove" if dry else "Will remove"
        for label, _store, doomed in plans:
            console.print(f"{verb} {len(doomed)} object(s) from the {label}:")
            for md5 in doomed:
                console.print(f"  {md5}")
        if dry:
            return
        if any(doomed for _l, _s, doomed in plans):
            _confirm(force)
        for label, store, doomed in plans:
            sync.remove_unused(store, doomed)
            if doomed:
                console.print(f"Removed {len(doomed)} object(s) from the {label}")
        if cloud and stores.remote is not None:
            aborted = sync.abort_stale_uploads(stores.remote.objects, upload_age)
            if aborted:
                console.print(
                    f"Aborted {aborted} incomplete upload(s) on remote '{stores.remote.name}'"
                )
    finally:
        hasher.close()


def _refuse_unreadable(unreadable: Sequence[Unreadable], skip_failed: bool) -> None:
    """Refuse on the first unreadable file unless ``--skip-failed``; then only warn."""
    if unreadable and not skip_failed:
        raise GcRefusedError(
            f"gc refuses to collect: {unreadable[0].describe()}, so what it refers to "
            "is unknown and would be deleted",
            hint="Restore the file (e.g. 'git checkout -- <file>'), or pass --skip-failed "
            "to keep everything it may refer to",
        )
    for bad in unreadable:
        err_console.print(f"WARNING: skipped {bad.describe()}; keeping all it may refer to")


def _keeping(revs: list[str], cloud: bool) -> str:
    """DVC's warning, first: what is kept, the rest goes."""
    where = "the workspace" + (f" and {len(revs)} Git revision(s)" if revs else "")
    also = " and the remote" if cloud else ""
    return f"This will remove all cache{also} except items used in {where} of the current repo."


def _workspace_out_md5s(root: Path, hasher: Hasher) -> set[str]:
    """Hashes of the pipeline's cached outs as they are on disk (what a lost lock pointed at)."""
    try:
        pipeline = load_index(root)
    except PrefectDvcError:
        return set()
    paths = [root / o.repo_path for st in pipeline.stages.values() for o in st.outs if o.cache]
    present = [p for p in paths if p.exists()]
    # NOTE: a lost lock may have been DVC 2's: keep the outs' legacy objects too.
    hashed = [*hasher.hash_many(present), *hasher.hash_many(present, legacy=True)]
    return {info.oid for info, _tree in hashed}


def _confirm(force: bool) -> None:
    """Ask as DVC's gc does; without a terminal, refuse unless -f."""
    if force:
        return
    if not sys.stdin.isatty():
        raise GcRefusedError(
            "gc needs confirmation before it deletes, and there is no terminal to ask on",
            hint="Check the list above (or run with --dry), then pass -f to proceed",
        )
    if not typer.confirm("Are you sure you want to proceed?", default=False):
        raise GcRefusedError("gc was not confirmed; nothing was removed")


def _fetch_all(
    root: Path,
    targets: list[str] | None,
    remote: str | None,
    jobs: int | None,
    run_cache: bool,
    with_deps: bool,
) -> sync.SyncReport:
    """``fetch``'s transfer, shared by ``pull``: every object downloaded, or one error line.

    Raises:
        MissingObjectError: objects the remote lacks (the first one named).
    """
    report = _transfer(
        root,
        _outs(root, targets, with_deps),
        remote=remote,
        jobs=jobs,
        run_cache=run_cache,
        pushing=False,
    )
    if report.missing:
        raise MissingObjectError(
            f"{len(report.missing)} object(s) are not on the remote ({report.missing[0]})",
            hint="Push them from the machine that produced them",
        )
    return report
