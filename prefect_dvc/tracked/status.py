"""``.dvc`` files in ``status``: DVC's ``changed outs`` of each data source, in DVC's order.

Provides:
    project_files(root): ``.dvc`` files and ``dvc.yaml`` files in the order
        DVC's index collects them (``os.walk`` top-down, folder listing order).
    out_state(root, out, hasher, in_cache): ``not in cache``, ``deleted``,
        ``modified``, ``new`` or ``None`` for one out.
    dvcfile_status(root, cwd, dvcfile, hasher, in_cache): one file's entry.
    split_targets(root, targets): which targets name ``.dvc`` files.
    merge(order, dvc_entries, pipeline_file, stage_entries): one status dict.

DVC 3.67.1 (``Output.status``): an out whose object (or any file of its
``.dir``) is missing from the cache is ``not in cache`` whatever the
workspace holds; otherwise a missing path is ``deleted``, a different hash
``modified``, an entry without hash ``new``. The key is the ``.dvc`` file
and the out's path, both relative to the cwd. Stages come in the order
DVC's index lists them: the ``os.walk`` order of the repository (a folder's
files in the order the filesystem lists them, then its sub-folders), a
``dvc.yaml``'s stages together where that file is met.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import DvcFile, TrackedOut, is_dvcfile_name, load_dvcfile
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.ignore import IgnoreRules, rules_for
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.tracked.outs import PROJECT_FILE, isin_or_eq

InCache = Callable[[HashInfo], bool]


def project_files(root: Path) -> list[str]:
    """``.dvc`` and ``dvc.yaml`` files (POSIX, repo-relative) in DVC's index order."""
    top = os.path.abspath(root)
    found: list[str] = []
    stack: list[tuple[str, str, IgnoreRules | None]] = [(top, "", rules_for(Path(top), Path(top)))]
    while stack:
        folder, prefix, rules = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        subdirs: list[tuple[str, str, IgnoreRules | None]] = []
        for entry in entries:
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if rules is not None and rules.is_ignored(rel, is_dir):
                continue
            if is_dir:
                if entry.name in (".git", ".dvc") or os.path.lexists(entry.path + "/.git"):
                    continue
                nxt = rules.descend(rel) if rules is not None else None
                subdirs.append((entry.path, rel + "/", nxt))
            elif entry.name == PROJECT_FILE or is_dvcfile_name(entry.name):
                found.append(rel)
        stack.extend(reversed(subdirs))
    return found


def out_state(root: Path, out: TrackedOut, hasher: Hasher, in_cache: InCache) -> str | None:
    """DVC's word for the out's state, or ``None`` when it is as recorded."""
    if out.repo_path is None:
        return None
    if out.md5 and out.cache and not in_cache(HashInfo(out.md5, out.size or 0)):
        return "not in cache"
    path = root / out.repo_path
    if not os.path.lexists(path):
        return "deleted"
    if not out.md5:
        return "new"
    try:
        actual = hasher.hash_path(path)[0].md5
    except OSError:
        return "deleted"
    return None if actual == out.md5 else "modified"


def dvcfile_status(
    root: Path, cwd: Path, dvcfile: DvcFile, hasher: Hasher, in_cache: InCache
) -> list[Any]:
    """``[{"changed outs": {path: state}}]`` for one ``.dvc`` file, ``[]`` when up to date."""
    changes: dict[str, str] = {}
    for out in dvcfile.outs:
        state = out_state(root, out, hasher, in_cache)
        if state is not None and out.repo_path is not None:
            changes[_shown(root, cwd, out.repo_path)] = state
    return [{"changed outs": changes}] if changes else []


def _shown(root: Path, cwd: Path, repo_path: str) -> str:
    return os.path.relpath(os.path.join(root, repo_path), cwd)


def split_targets(root: Path, cwd: Path, targets: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(dvc files, other targets)``: a target naming a ``.dvc`` file or a path it tracks.

    A path tracked by a ``.dvc`` file (or inside its directory) selects that
    file, as DVC's ``collect_granular`` does; anything else is left for the
    pipeline (stage names, ``dvc.yaml:stage``, stage outs).
    """
    files = [f for f in project_files(root) if f.endswith(".dvc")]
    chosen: list[str] = []
    rest: list[str] = []
    for target in targets:
        rel = os.path.relpath(os.path.join(cwd, target), root).replace(os.sep, "/")
        if rel in files:
            chosen.append(rel)
            continue
        owner = next((f for f in files if _tracks(root, f, rel)), None)
        if owner is None:
            rest.append(target)
        else:
            chosen.append(owner)
    return list(dict.fromkeys(chosen)), rest


def _tracks(root: Path, dvcfile: str, rel: str) -> bool:
    try:
        outs = load_dvcfile(root, dvcfile).outs
    except Exception:  # an unreadable file is reported when its status is asked
        return False
    return any(o.repo_path and isin_or_eq(rel, o.repo_path) for o in outs)


def collect(
    root: Path, cwd: Path, files: Sequence[str], hasher: Hasher, in_cache: InCache
) -> dict[str, list[Any]]:
    """The status entry of each of ``files`` that changed, keyed by the path shown."""
    result: dict[str, list[Any]] = {}
    for path in files:
        entry = dvcfile_status(root, cwd, load_dvcfile(root, path), hasher, in_cache)
        if entry:
            result[_shown(root, cwd, path)] = entry
    return result


def merge(
    root: Path,
    cwd: Path,
    dvc_entries: Mapping[str, list[Any]],
    pipeline_file: str | None,
    stage_entries: Mapping[str, list[Any]],
) -> dict[str, list[Any]]:
    """One status dict: ``.dvc`` entries and the pipeline's stages in DVC's index order."""
    result: dict[str, list[Any]] = {}
    placed = False
    for path in project_files(root):
        shown = _shown(root, cwd, path)
        if shown in dvc_entries:
            result[shown] = dvc_entries[shown]
        elif path == pipeline_file and not placed:
            result.update(stage_entries)
            placed = True
    if not placed:
        result.update(stage_entries)
    for shown, entry in dvc_entries.items():
        result.setdefault(shown, entry)
    return result


@dataclass(frozen=True)
class TrackedStatus:
    """The ``.dvc`` part of one ``status`` command.

    Attributes:
        entries: ``{shown .dvc path: [{"changed outs": {...}}]}`` for changed files.
        rest: the targets left for the pipeline (all of them when none named a ``.dvc`` file).
        any_files: the repository has ``.dvc`` files (it is not an empty project).
    """

    entries: Mapping[str, list[Any]]
    rest: tuple[str, ...]
    any_files: bool


def for_command(root: Path, cwd: Path, targets: Sequence[str]) -> TrackedStatus:
    """Status of the ``.dvc`` files ``targets`` select (all when ``targets`` is empty).

    Raises:
        SchemaError, YamlSyntaxError: a selected ``.dvc`` file cannot be read.
    """
    all_files = [f for f in project_files(root) if f.endswith(".dvc")]
    if targets:
        files, rest = split_targets(root, cwd, targets)
    else:
        files, rest = all_files, []
    if not files:
        return TrackedStatus({}, tuple(rest), bool(all_files))
    stores, hasher = open_stores_for(root, use_remote=False)
    try:
        entries = collect(root, cwd, files, hasher, partial(in_cache, stores.local))
    finally:
        hasher.close()
    return TrackedStatus(entries, tuple(rest), True)


def in_cache(store: ObjectStore, info: HashInfo) -> bool:
    """Whether ``info``'s object (a ``.dir`` with every file) is in ``store``."""
    if not store.exists(info.oid):
        return False
    if not info.is_dir:
        return True
    try:
        files = {entry.oid for entry in store.read_tree(info.oid).entries}
    except PrefectDvcError:
        return False
    return not (files - store.existing(files))
