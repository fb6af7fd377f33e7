"""``update``: re-check imports' sources and refresh what changed.

Provides:
    UpdateOptions: ``--rev``, ``-R``, ``--no-download``, ``-j``.
    UpdateResult: one file's outcome.
    collect_imports(root, targets, recursive, cwd): the ``.dvc`` files named.
    update_imports(root, targets, options, cwd): the command.

DVC 3.67.1 (``dvc/repo/update.py``, ``dvc/stage/imports.py::update_import``):
the dep is re-read (``rev_lock`` of a repository import re-resolved from
``--rev`` or the recorded ``rev``); when neither it nor the workspace out
changed the file is left alone ("didn't change, skipping"); otherwise the
data is fetched again and the file rewritten with the new hashes, keeping
its comments, ``frozen`` and the out's flags. ``--no-download`` records the
new dep and, when it moved, clears the out's hash and removes the stale
workspace out (the stage md5 still covers the old hash, as DVC's does). ``--rev`` given for
a URL import is ignored, as DVC ignores it for sources without versions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prefect_dvc.dvcfile import DVC_SUFFIX, DvcFile, find_dvcfiles, is_dvcfile_name, load_dvcfile
from prefect_dvc.errors import (
    ImportSourceError,
    PrefectDvcError,
    UnsafePathError,
    UnsavedChangesError,
)
from prefect_dvc.external import dep_value, is_url
from prefect_dvc.imports.repo import fetch_repo_path, repo_dep
from prefect_dvc.imports.repo_source import find_tracked, open_repo
from prefect_dvc.imports.target import ImportTarget, rewrite_dvcfile, scratch_dir, target_of
from prefect_dvc.imports.url import UrlSource, check_url, fetch_into, source_entry
from prefect_dvc.project import open_stores_for
from prefect_dvc.safety import (
    in_repo_relative,
    out_refusal,
    remove_workspace_path,
    symlink_escape,
)
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher


@dataclass(frozen=True)
class UpdateOptions:
    """``update``'s options.

    Attributes:
        rev: the revision a repository import moves to (recorded as ``rev``).
        recursive: targets are folders; every ``.dvc`` file under them.
        no_download: record the new source state, do not fetch the data.
        jobs: parallel hashing/copying.
    """

    rev: str | None = None
    recursive: bool = False
    no_download: bool = False
    jobs: int | None = None


@dataclass(frozen=True)
class UpdateResult:
    """``dvcfile`` (repo path) was rewritten (``changed``) or left alone; ``source`` names it."""

    dvcfile: str
    out: str
    source: str
    changed: bool


def collect_imports(
    root: Path, targets: Sequence[str], recursive: bool, cwd: Path
) -> list[DvcFile]:
    """The import ``.dvc`` files ``targets`` name (typed in ``cwd``), in order, each once.

    A target is a ``.dvc`` file or the out it tracks; with ``recursive`` a
    folder stands for every ``.dvc`` file under it (non-imports skipped).

    Raises:
        PrefectDvcError: a target that names no ``.dvc`` file, or (not
            recursive) one that is not an import.
    """
    chosen: list[str] = []
    everything = find_dvcfiles(root) if recursive else []
    for target in targets:
        rel = in_repo_relative(root, os.path.join(cwd, target))
        if rel is None:
            raise _not_found(target)
        if recursive and (root / rel).is_dir():
            inside = [f for f in everything if rel == "." or f.startswith(rel.rstrip("/") + "/")]
            chosen.extend(f for f in inside if load_dvcfile(root, f).is_import)
            continue
        name = rel if is_dvcfile_name(rel) else rel + DVC_SUFFIX
        if not (root / name).is_file():
            raise _not_found(target)
        chosen.append(name)
    files = [load_dvcfile(root, name) for name in dict.fromkeys(chosen)]
    for dvc in files:
        if not dvc.is_import or not dvc.outs:
            raise PrefectDvcError(
                f"'{dvc.repo_path}' is not an import",
                hint="update refreshes files written by 'import' or 'import-url'",
            )
    return files


def _not_found(target: str) -> PrefectDvcError:
    return PrefectDvcError(
        f"'{target}' does not exist", hint="Name an import's .dvc file or the path it tracks"
    )


def _out_intact(target: ImportTarget, recorded: HashInfo | None) -> bool:
    """Whether the workspace out holds what the file records.

    Raises:
        UnsavedChangesError: the out was changed and its bytes are in no cache:
            replacing it would lose them (DVC's checkout refuses the same
            without ``--force``).
    """
    if not os.path.lexists(target.out_path):
        return False
    hasher = Hasher(None, root=target.root)
    try:
        current = hasher.hash_path(target.out_path)[0]
    except (OSError, PrefectDvcError):
        return False
    if recorded is not None and current.md5 == recorded.md5:
        return True
    stores, own = open_stores_for(target.root, use_remote=False)
    try:
        cached = stores.local.exists(current.md5)
    finally:
        own.close()
    if not cached:
        raise UnsavedChangesError(
            f"'{target.out}' was changed in the workspace and its content is in no cache",
            paths=(target.out,),
            hint=f"Move it away, then update '{target.dvcfile}' again",
        )
    return False


def _target(root: Path, dvc: DvcFile) -> ImportTarget:
    """The import's out, refused (before any download) when it may not be written."""
    out = dvc.outs[0].repo_path
    reason = "it is outside the repository" if out is None else out_refusal(out)
    if out is not None and reason is None:
        reason = symlink_escape(root, out)
    if out is None or reason is not None:
        raise UnsafePathError(
            f"'{dvc.repo_path}': cannot update its out '{dvc.outs[0].path}': {reason}",
            hint="Import it again to a path inside the repository",
        )
    return target_of(root, dvc.repo_path, out)


def url_source_of(root: Path, dvc: DvcFile) -> UrlSource:
    """The source of the URL import ``dvc``, its dep ``path`` resolved from the file's folder."""
    written = dvc.deps[0].path
    check_url(written)
    if is_url(written) and urlsplit(written).scheme.lower() != "file":
        return UrlSource(url=written, written=written, location=written)
    path = unquote(urlsplit(written).path) if is_url(written) else written
    location = os.path.normpath(os.path.join(root, dvc.wdir, path))
    in_repo = in_repo_relative(root, location) is not None
    return UrlSource(url=written, written=written, location=location, in_repo=in_repo)


@dataclass(frozen=True)
class _Refresh:
    """What one update found: the new dep, the out's new hash, and what to do."""

    dep: dict[str, Any]
    out_info: HashInfo | None
    changed: bool
    cleared: bool = False  # --no-download and the source moved: the out is stale


def _no_download(dep: dict[str, Any], recorded: HashInfo | None, moved: bool) -> _Refresh:
    return _Refresh(dep, None if moved else recorded, True, cleared=moved)


def _update_url(root: Path, dvc: DvcFile, options: UpdateOptions) -> _Refresh:
    target = _target(root, dvc)
    source = url_source_of(root, dvc)
    dep = source_entry(root, source)
    recorded = _recorded_out(dvc)
    moved = dep_value(dep) != dep_value(dvc.deps[0].raw)
    intact = _out_intact(target, recorded)  # NOTE: first: it refuses to lose unsaved bytes
    if not moved and intact:
        return _Refresh(dep, recorded, False)
    if options.no_download:
        return _no_download(dep, recorded, moved)
    return _Refresh(dep, fetch_into(target, source, jobs=options.jobs), True)


def _recorded_out(dvc: DvcFile) -> HashInfo | None:
    return HashInfo.from_lock(dvc.outs[0].raw)


def _update_repo(root: Path, dvc: DvcFile, options: UpdateOptions) -> _Refresh:
    target = _target(root, dvc)
    raw = dvc.deps[0].raw
    repo = raw.get("repo") if isinstance(raw.get("repo"), dict) else {}
    url = str(repo.get("url") or "")
    if not url:
        raise ImportSourceError(
            f"'{dvc.repo_path}': its dep has no repository URL", hint="Import it again"
        )
    rev = options.rev or repo.get("rev")
    recorded = _recorded_out(dvc)
    with scratch_dir(root) as scratch:
        source = open_repo(url, rev, scratch, root / dvc.wdir)
        dep = repo_dep(url, dvc.deps[0].path, rev, source.rev_lock)
        moved = source.rev_lock != repo.get("rev_lock")
        intact = _out_intact(target, recorded)  # NOTE: first: it refuses to lose unsaved bytes
        if not moved and intact:
            return _Refresh(dep, recorded, dep != {"path": raw.get("path"), "repo": repo})
        tracked = find_tracked(source, dvc.deps[0].path)
        if options.no_download:
            return _no_download(dep, recorded, moved)
        info = fetch_repo_path(target, source, tracked, scratch, options.jobs)
        return _Refresh(dep, info, True)


def update_imports(
    root: Path, targets: Sequence[str], options: UpdateOptions, cwd: Path | None = None
) -> list[UpdateResult]:
    """Update the imports ``targets`` name; returns one result per file, in order.

    Each file is checked and fetched before it is rewritten; an error stops
    at that file (earlier ones stay updated, as in DVC).

    Raises:
        ImportSourceError / RemoteError: a source that cannot be read (named).
        PrefectDvcError: a target that is no import.
    """
    here = Path(os.path.abspath(cwd or Path.cwd()))
    results = []
    for dvc in collect_imports(root, targets, options.recursive, here):
        update = _update_repo if dvc.is_repo_import else _update_url
        found = update(root, dvc, options)
        target = _target(root, dvc)
        if found.changed:
            md5_out = _recorded_out(dvc) if found.cleared else None
            rewrite_dvcfile(target, dvc.data, found.dep, found.out_info, md5_out=md5_out)
        if found.cleared:
            # NOTE: as DVC: the out no longer matches its (cleared) record; its
            # bytes stay in the cache under the old hash.
            remove_workspace_path(root, target.out)
        shown = _shown_source(root, dvc, here)
        results.append(UpdateResult(dvc.repo_path, target.out, shown, found.changed))
    return results


def _shown_source(root: Path, dvc: DvcFile, cwd: Path) -> str:
    """The source as DVC's "Importing '<source>' -> '<out>'" names it."""
    repo = dvc.deps[0].raw.get("repo")
    if isinstance(repo, dict):
        return f"{dvc.deps[0].path} ({repo.get('url')})"
    return url_source_of(root, dvc).shown(cwd)
