"""The data every data command moves: pipeline outs and ``.dvc``-tracked outs, by target.

Provides:
    tracked_info(out): the one mapping from a ``.dvc`` entry to its cache object.
    dvcfile_outs(root, names): the cached outs of ``.dvc`` files as :class:`UsedOut`.
    dvcfile_outs_at(root, rev): the same, read from Git at a commit.
    data_outs(root, targets, dvcfile, cwd): what ``push``/``pull``/``fetch``/
        ``checkout`` act on, DVC's way: every ``dvc.yaml`` out recorded in its
        lock and every ``.dvc`` file's outs, or only those the targets name.

DVC builds one index of all stages, ``.dvc`` files included
(``dvc/repo/index.py``), and resolves each target (``dvc/repo/index.py::
collect_targets``) as a ``.dvc`` file, an out's path or a path inside a
tracked folder (granular), or a stage name. A ``.dvc`` entry's ``push:
false`` and ``remote:`` travel with its :class:`UsedOut`; an entry of a
``dvc import`` from another Git repository is never pushed
(``dvc/repo/fetch.py::stage_filter``).
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.dvcfile import DvcFile, TrackedOut, find_dvcfiles, is_dvcfile_name, load_dvcfile
from prefect_dvc.errors import PipelineError, PrefectDvcError, UnsafePathError
from prefect_dvc.lockset import LockSet
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import in_repo_relative, out_refusal, symlink_escape
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.sync import UsedOut, used_outs
from prefect_dvc.translators.index import load_index
from prefect_dvc.translators.targets import Scope
from prefect_dvc.yamlio import parse_yaml


def tracked_info(out: TrackedOut) -> HashInfo | None:
    """The cache object a ``.dvc`` entry names, or ``None`` when it names none.

    Every object lookup of a ``.dvc`` entry goes through here: the entry is
    read as a lock entry (:meth:`HashInfo.from_lock`), so a DVC 2 entry (no
    ``hash: md5``) names its ``md5-dos2unix`` object in DVC 2's layout
    (``storage/layout.py``), as DVC 3 reads it.

    Returns ``None`` for ``cache: false``, an entry without a hash, or one
    outside the repository (an import's source).
    """
    if not out.cache or not out.md5 or out.repo_path is None:
        return None
    return HashInfo.from_lock({**out.raw, "md5": out.md5})


def _checked(root: Path, dvcfile: DvcFile, out: TrackedOut) -> str:
    """The out's repo path, refused when a checkout there would hit Git's or DVC's
    files or leave the repository through a symlinked folder (before anything moves)."""
    assert out.repo_path is not None
    reason = out_refusal(out.repo_path) or symlink_escape(root, out.repo_path)
    if reason is not None:
        raise UnsafePathError(
            f"its out '{out.path}' cannot be checked out or moved: {reason}",
            path=dvcfile.repo_path,
            hint="Fix the path in the .dvc file; nothing was changed",
        )
    return out.repo_path


def dvcfile_outs(root: Path, names: Sequence[str] | None = None) -> list[UsedOut]:
    """The cached outs of the ``.dvc`` files ``names`` (default: every one of the repository).

    Each :class:`UsedOut` has the ``.dvc`` file's path as its ``stage``, the
    entry's ``push``/``remote`` flags, and ``push=False`` for a repository
    import (DVC never pushes those).

    Raises:
        YamlSyntaxError, SchemaError: a ``.dvc`` file DVC would not read (named).
        UnsafePathError: an entry whose path is a Git/DVC file or folder.
    """
    result: list[UsedOut] = []
    for name in find_dvcfiles(root) if names is None else names:
        dvcfile = load_dvcfile(root, name)
        for out in dvcfile.outs:
            info = tracked_info(out)
            if info is None:
                continue
            push = out.push and not dvcfile.is_repo_import
            result.append(UsedOut(name, _checked(root, dvcfile, out), info, push, out.remote))
    return result


def dvcfile_outs_at(root: Path, rev: str) -> list[tuple[str, HashInfo]]:
    """``(repo path, object)`` of every cached ``.dvc`` out in commit ``rev``, read from Git.

    What ``exp apply`` must be able to restore before it changes anything.
    A file that does not read cleanly at ``rev`` is skipped: the workspace
    read after the apply reports it, naming the file.
    """
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", rev],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found: list[tuple[str, HashInfo]] = []
    for name in listing.split("\0"):
        if not is_dvcfile_name(name) or name.startswith(".dvc/"):
            continue
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=root, capture_output=True, text=True
        ).stdout
        try:
            data = parse_yaml(text)
        except PrefectDvcError:
            continue
        found += _text_outs(name, data)
    return found


def _text_outs(name: str, data: object) -> list[tuple[str, HashInfo]]:
    if not isinstance(data, dict) or not isinstance(data.get("outs"), list):
        return []
    folder = posixpath.dirname(name)
    wdir = data.get("wdir") if isinstance(data.get("wdir"), str) else "."
    result = []
    for item in data["outs"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        md5 = item.get("md5")
        if item.get("cache") is False or not isinstance(md5, str):
            continue
        rel = posixpath.normpath(posixpath.join(folder, wdir, item["path"]))
        if out_refusal(rel) is None:
            size = item.get("size") if isinstance(item.get("size"), int) else 0
            result.append((rel, HashInfo(md5.lower(), size, item.get("nfiles"))))
    return result


def _pipeline_outs(
    root: Path, dvcfile: str, targets: Sequence[str] = (), *, with_deps: bool = False
) -> list[UsedOut]:
    """Cached outs of every pipeline of the index (``dvcfile`` is kept for callers)."""
    del dvcfile
    pipeline = load_index(root)
    if not pipeline.stages:
        if targets:
            raise PipelineError(
                f"'{targets[0]}' is neither a .dvc file, a tracked path nor a stage",
                hint="Name a .dvc file, a path it tracks, or a stage of a dvc.yaml",
            )
        return []
    keys = Scope.here(root).select(pipeline, targets, outs=True) if targets else []
    lock = LockSet(RepoPaths(root), pipeline, pipeline.order()).read()
    return used_outs(pipeline, lock, keys, with_deps=with_deps or not keys)


def _covers(out_path: str, rel: str) -> bool:
    """``rel`` is the out itself or lies inside it (DVC's granular target)."""
    return rel == out_path or rel.startswith(out_path + "/")


def data_outs(
    root: Path,
    targets: Sequence[str] = (),
    dvcfile: str = "dvc.yaml",
    cwd: Path | None = None,
    *,
    with_deps: bool = False,
) -> list[UsedOut]:
    """What a data command acts on: every out, or those ``targets`` name, in a stable order.

    A target (relative to ``cwd``, default the current folder) is a ``.dvc``
    file, the path of an out (of a ``.dvc`` file or of the pipeline) or a
    path inside a tracked folder (the whole out is taken), else a stage name
    of ``dvcfile`` (that stage alone, or with the stages it depends on when
    ``with_deps``: DVC's ``--with-deps``). Duplicates are dropped.

    Raises:
        PipelineError: a target that is none of these.
        YamlSyntaxError, SchemaError, UnsafePathError: as :func:`dvcfile_outs`.
    """
    tracked = dvcfile_outs(root)
    if not targets:
        return _unique(_pipeline_outs(root, dvcfile) + tracked)
    here = (cwd or Path.cwd()).resolve()
    every = None
    chosen: list[UsedOut] = []
    for target in targets:
        rel = in_repo_relative(root, os.path.normpath(here / target)) or ""
        if is_dvcfile_name(rel) and (root / rel).is_file():
            chosen += [o for o in tracked if o.stage == rel] or dvcfile_outs(root, [rel])
            continue
        if every is None:
            every = tracked + _pipeline_outs_quiet(root, dvcfile)
        hits = [o for o in every if rel and _covers(o.repo_path, posixpath.normpath(rel))]
        chosen += hits or _pipeline_outs(root, dvcfile, [target], with_deps=with_deps)
    return _unique(chosen)


def _pipeline_outs_quiet(root: Path, dvcfile: str) -> list[UsedOut]:
    return _pipeline_outs(root, dvcfile)


def _unique(outs: list[UsedOut]) -> list[UsedOut]:
    seen: set[tuple[str, str]] = set()
    result: list[UsedOut] = []
    for out in outs:
        key = (out.repo_path, out.info.oid)
        if key not in seen:
            seen.add(key)
            result.append(out)
    return result
