"""push, fetch, pull, checkout and gc: moving exactly the objects a lock file names.

Provides:
    used_outs(pipeline, lock, targets): the cached outs ``dvc.lock`` records.
    push(...), fetch(...), checkout(...), gc(...): the commands' library side,
        each returning a small report dataclass the CLI prints.
    abort_stale_uploads(store, older_than): ``gc -c``'s clean-up of the
        multipart uploads killed pushes left on S3.

Objects move in bulk through :meth:`ObjectStore.transfer` (one listing per
side, many transfers at a time). ``push --run-cache`` also pushes every
object the pushed run-cache entries refer to, so a remote entry can always
be restored; DVC 3 does not, which leaves such entries useless.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ConfigError, RemoteError, UnsafePathError
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.safety import check_write_target
from prefect_dvc.storage.hashinfo import HashInfo, is_exec
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.leases import leased_oids
from prefect_dvc.storage.links import set_exec
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.remote_errors import missing_folder
from prefect_dvc.storage.remotes import UnlistedObjectStore
from prefect_dvc.storage.runcache import RunCache
from prefect_dvc.storage.stores import Stores
from prefect_dvc.tmpnames import sweep_tree
from prefect_dvc.translators.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsedOut:
    """An out recorded in ``dvc.lock`` or a ``.dvc`` file: where it goes and what it is.

    ``stage`` is the stage name, or the ``.dvc`` file's path; ``push`` and
    ``remote`` are the out's flags (``push: false`` keeps it off every
    remote; ``remote:`` sends it to that remote instead of the default).
    """

    stage: str
    repo_path: str
    info: HashInfo
    push: bool = True
    remote: str | None = None


@dataclass(frozen=True)
class SyncReport:
    """What a push/fetch moved: objects and run-cache entries."""

    objects: int = 0
    skipped: int = 0
    missing: tuple[str, ...] = ()
    runs: int = 0


def used_outs(
    pipeline: Pipeline,
    lock: Mapping[str, Mapping[str, Any]],
    targets: Sequence[str] = (),
    *,
    with_deps: bool = True,
) -> list[UsedOut]:
    """Cached outs of the selected stages (all by default) with their locked hashes.

    ``with_deps=False`` takes the target stages alone, as DVC's data
    commands do unless ``--with-deps`` is given.
    """
    names = pipeline.select(targets, single=not with_deps) if targets else pipeline.order()
    result: list[UsedOut] = []
    for name in names:
        locked = {o["path"]: o for o in (lock.get(name) or {}).get("outs") or []}
        for out in pipeline.stages[name].outs:
            info = HashInfo.from_lock(locked.get(out.path, {}))
            if out.cache and info is not None:
                result.append(UsedOut(name, out.repo_path, info, out.push, out.remote))
    return result


def by_remote(
    outs: Iterable[UsedOut], remote: str | None, *, pushing: bool
) -> dict[str | None, list[UsedOut]]:
    """The outs grouped by the remote they travel to (``None``: ``remote`` or the default).

    As DVC's ``_collect_indexes`` (``dvc/repo/fetch.py``): with ``remote``
    given, an out whose own ``remote:`` differs is left out; when
    ``pushing``, so is an out with ``push: false``.
    """
    groups: dict[str | None, list[UsedOut]] = {}
    for out in outs:
        if pushing and not out.push:
            continue
        if remote and out.remote and out.remote != remote:
            continue
        key = None if out.remote in (None, remote) else out.remote
        groups.setdefault(key, []).append(out)
    return groups


def _require_remote(stores: Stores) -> None:
    if stores.remote is None:
        raise ConfigError(
            "no remote is configured",
            path=".dvc/config",
            hint="Add one with: prefect-dvc remote add -d <name> <url>",
        )


def _entry_objects(runs: RunCache) -> dict[tuple[str, str], set[str]]:
    """The objects each readable entry of ``runs`` names, by ``(key, value)``."""
    result: dict[tuple[str, str], set[str]] = {}
    for key, value in runs.entries():
        entry = runs.read_entry(key, value)
        if entry is None:
            continue
        infos = (HashInfo.from_lock(out) for out in entry.get("outs") or [])
        result[(key, value)] = {info.oid for info in infos if info is not None}
    return result


def restorable_runs(runs: RunCache, store: ObjectStore) -> tuple[set[tuple[str, str]], set[str]]:
    """Entries of ``runs`` whose every object (``.dir`` files included) ``store`` holds.

    Returns those entries and the objects they need. An entry whose outputs
    were garbage-collected would be useless on a remote (DVC 3 pushes it
    anyway), so it is left out.
    """
    by_entry = _entry_objects(runs)
    named = set().union(*by_entry.values()) if by_entry else set()
    present = store.existing(named)
    complete = {m for m in present if not m.endswith(".dir")}
    for md5 in present - complete:
        files = {e.oid for e in store.read_tree(md5).entries}
        if files <= store.existing(files):
            complete.add(md5)
    pairs = {pair for pair, md5s in by_entry.items() if md5s <= complete}
    needed = set().union(*(by_entry[p] for p in pairs)) if pairs else set()
    return pairs, needed


def push(stores: Stores, outs: Iterable[UsedOut], *, run_cache: bool = False) -> SyncReport:
    """Send the outs' objects (and with ``run_cache`` the restorable run entries and theirs).

    Objects go first, entries last, so the remote never holds an entry whose
    outputs it lacks.
    """
    _require_remote(stores)
    assert stores.remote is not None
    md5s = {o.info.oid for o in outs}
    pairs: set[tuple[str, str]] = set()
    if run_cache:
        pairs, needed = restorable_runs(stores.local_runs, stores.local)
        md5s |= needed
    result = stores.local.transfer(md5s, stores.remote.objects, jobs=stores.jobs)
    runs = 0
    if run_cache:
        runs = stores.local_runs.transfer(stores.remote.runs, jobs=stores.jobs, pairs=pairs)
    return SyncReport(len(result.transferred), len(result.skipped), result.missing, runs)


def fetch(stores: Stores, outs: Iterable[UsedOut], *, run_cache: bool = False) -> SyncReport:
    """Download the outs' objects (and with ``run_cache`` the remote's run entries)."""
    _require_remote(stores)
    assert stores.remote is not None
    runs = stores.remote.runs.transfer(stores.local_runs, jobs=stores.jobs) if run_cache else 0
    md5s = {o.info.oid for o in outs}
    result = stores.remote.objects.transfer(md5s, stores.local, jobs=stores.jobs)
    if result.missing:
        _check_remote_folder(stores.remote.objects)
    return SyncReport(len(result.transferred), len(result.skipped), result.missing, runs)


def _check_remote_folder(store: ObjectStore) -> None:
    """Objects were missing: say so if the remote's whole folder is (not "push them").

    Raises:
        RemoteError: the remote's root folder does not exist (a wrong url or
            a remote nothing was ever pushed to); asked once, only on failure.
    """
    location = store.location
    if isinstance(store, UnlistedObjectStore):
        return  # NOTE: an HTTP server need not answer for a folder URL
    if missing_folder(location.fs, location.root):
        raise RemoteError(
            f"remote '{location.safe_url}' has no folder '{location.root}': nothing was "
            "ever pushed there",
            hint="Check the remote's url, or push from the machine that produced the data",
        )


def checkout(
    root: Path, stores: Stores, outs: Iterable[UsedOut], hash_of: Any
) -> tuple[list[str], list[str]]:
    """Make the workspace match the lock; returns (restored paths, paths missing from cache)."""
    restored: list[str] = []
    missing: list[str] = []
    for out in outs:
        dest = root / out.repo_path
        if dest.exists() and _in_place(root, dest, out.info, hash_of):
            if _lost_exec_bit(dest, out.info) and _may_chmod(root, stores, dest):
                set_exec(dest)
                restored.append(out.repo_path)
            continue
        local = stores.local.existing([out.info.oid])
        if not local:
            missing.append(out.repo_path)
            continue
        stores.checkout(out.info, dest)
        restored.append(out.repo_path)
    return restored, missing


def _in_place(root: Path, dest: Path, info: HashInfo, hash_of: Any) -> bool:
    """Does ``dest`` hold ``info`` already? A DVC 2 hash is compared as ``md5-dos2unix``.

    ``hash_of`` (path -> md5) gives DVC 3 md5s; the rare legacy out is hashed
    here without the state DB.
    """
    if info.legacy:
        return Hasher(root=root).hash_path(dest, legacy=True)[0].md5 == info.md5
    return bool(hash_of(dest) == info.md5)


def _lost_exec_bit(dest: Path, info: HashInfo) -> bool:
    """An ``isexec`` file whose content is in place but has no execute bit left.

    DVC's checkout compares ``(isdir, isexec)`` as well as the hash
    (``dvc_data.index.checkout._compare``) and then only chmods the file.
    """
    return info.isexec and not info.is_dir and not is_exec(dest.stat().st_mode)


def _may_chmod(root: Path, stores: Stores, dest: Path) -> bool:
    """Is what a chmod of ``dest`` changes ours to change: a workspace file or a cache object?

    A chmod follows symlinks; DVC's ``symlink`` cache type points outs at
    cache objects, but a link to anything else outside the workspace is
    the user's, never touched.
    """
    if not dest.is_symlink():
        return True
    target = dest.resolve()
    if stores.local.is_local and target.is_relative_to(Path(stores.local.location.root).resolve()):
        return True
    try:
        check_write_target(root, dest)
    except UnsafePathError:
        return False
    return True


# ---------------------------------------------------------------------- gc


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False
    ).stdout


def revisions(
    root: Path, *, all_branches: bool, all_tags: bool, all_experiments: bool, all_commits: bool
) -> list[str]:
    """The commits whose ``dvc.lock`` files keep their objects alive."""
    if all_commits:
        return _git(root, "rev-list", "--all").split()
    patterns = []
    if all_branches:
        patterns.append("refs/heads")
    if all_tags:
        patterns.append("refs/tags")
    if all_experiments:
        patterns.append("refs/exps")
    if not patterns:
        return []
    lines = _git(root, "for-each-ref", "--format=%(objectname)", *patterns).split()
    return sorted(set(lines))


def lock_hashes(text: str, *, outs_only: bool = False, display: str = "dvc.lock") -> set[str]:
    """Every md5 a ``dvc.lock`` text names (outs, and deps unless ``outs_only``).

    Raises:
        DvcYamlError: the text is not a lock file DVC 3 accepts (named ``display``).
    """
    md5s: set[str] = set()
    # NOTE: a damaged lock is a one-line SchemaError, not a crash half-way through.
    for entry in parse_lock(text, display).values():
        deps = [] if outs_only else entry.get("deps") or []
        for item in (entry.get("outs") or []) + deps:
            info = HashInfo.from_lock(item)
            if info is not None:
                md5s.add(info.oid)
    return md5s


def _lock_names(root: Path, rev: str | None) -> list[str]:
    """Paths (relative to ``root``) of every ``dvc.lock`` in the workspace or at ``rev``."""
    if rev is None:
        listing = _git(root, "ls-files", "-co", "--exclude-standard", "--", ":(glob)**/dvc.lock")
    else:
        listing = _git(root, "ls-tree", "-r", "--name-only", rev)
    names = [n for n in listing.splitlines() if n == "dvc.lock" or n.endswith("/dvc.lock")]
    return sorted(set(names))


def used_hashes(root: Path, revs: Sequence[str]) -> set[str]:
    """Objects named by every ``dvc.lock`` of the workspace and of each rev.

    Every pipeline counts, not only the root's (sub-folder ``dvc.yaml``
    files included), as DVC's ``gc`` does. Lock files are found through Git,
    so a large data folder is never walked.
    """
    used: set[str] = set()
    names = _lock_names(root, None) or (["dvc.lock"] if (root / "dvc.lock").exists() else [])
    for name in names:
        if (root / name).is_file():
            used |= lock_hashes((root / name).read_text(), display=name)
    for rev in revs:
        for name in _lock_names(root, rev):
            text = _git(root, "show", f"{rev}:./{name}")
            if text:
                used |= lock_hashes(text, display=f"{rev[:7]}:{name}")
    return used


def expand_dirs(store: ObjectStore, md5s: Iterable[str]) -> set[str]:
    """``md5s`` plus the files of every ``.dir`` manifest among them that the store has."""
    result = set(md5s)
    for md5 in list(result):
        if md5.endswith(".dir") and store.existing([md5]):
            result |= {e.oid for e in store.read_tree(md5).entries}
    return result


def gc(store: ObjectStore, used: set[str], *, dry: bool) -> list[str]:
    """Remove (or with ``dry`` only list) the objects of ``store`` not in ``used``.

    On a local cache, temporary files that dead local writers left anywhere
    in it are removed too (``tmpnames``; never another host's).
    """
    # NOTE: a running cluster snapshot is named by no dvc.lock, only by its lease.
    keep = expand_dirs(store, used | leased_oids(store.location))
    doomed = sorted(store.all_objects() - keep)
    if not dry:
        remove_unused(store, doomed)
    return doomed


def remove_unused(store: ObjectStore, doomed: Sequence[str]) -> None:
    """Remove the objects ``doomed`` (:func:`gc` with ``dry`` lists them).

    On a local cache the temporary files dead local writers left in it go
    too, even when ``doomed`` is empty.
    """
    store.remove(doomed)
    if store.is_local:
        leftovers = sweep_tree(Path(store.location.root))
        if leftovers:
            logger.info("removed %d leftover temporary file(s)", len(leftovers))


DEFAULT_UPLOAD_AGE = timedelta(hours=24)


def abort_stale_uploads(store: ObjectStore, older_than: timedelta = DEFAULT_UPLOAD_AGE) -> int:
    """``gc -c``: abort the store's incomplete multipart uploads begun over ``older_than`` ago.

    The default of 24 h leaves a push that is still running alone. Returns
    how many were aborted (always 0 where the filesystem has no such uploads).
    """
    return store.abort_incomplete_uploads(older_than)
