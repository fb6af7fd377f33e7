"""``move`` and ``remove`` of tracked data, as ``dvc move``/``dvc remove`` 3.67.1.

Provides:
    move(root, cwd, src, dst): rename a ``.dvc``-tracked file or directory
        and its ``.dvc`` file (``dvc/repo/move.py``); returns the files Git
        should stage.
    remove(root, cwd, targets, outs): delete ``.dvc`` files or ``dvc.yaml``
        stages with their lock entries, and with ``outs`` their outs
        (``dvc/repo/remove.py``, ``Stage.remove``).

``move``: when the ``.dvc`` file is named after its out (``a`` in
``a.dvc``) it follows the data (``data/a`` gets ``data/a.dvc``, written
anew with the old out's flags and the file's ``desc``/``meta``); otherwise
only the entry's ``path`` changes. The ``.gitignore`` line moves too. Only
data sources move: a stage out is refused in DVC's words.

``remove``: without ``--outs`` the data stays in the workspace and only
its ``.gitignore`` line goes; ``dvc.yaml`` and ``dvc.lock`` lose the stage
(round-trip, so comments and flow style stay) and are deleted when no
stage is left. All deletes go through ``prefect_dvc/safety.py``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import DVC_SUFFIX, format_dvcfile, load_dvcfile
from prefect_dvc.errors import TrackedDataError
from prefect_dvc.gitignore import ensure_ignored
from prefect_dvc.imports.stage_md5 import stage_md5
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import check_workspace_path, remove_workspace_path
from prefect_dvc.tracked.ignorelines import ignore_remove
from prefect_dvc.tracked.outs import collect_outs
from prefect_dvc.tracked.stagefiles import is_parametrized, remove_stage
from prefect_dvc.translators import load_pipeline
from prefect_dvc.yamlio import atomic_write

NOT_DATA_SOURCE = (
    "move is not permitted for stages that are not data sources. You need to either move "
    "'{path}' to a new location and edit it by hand, or remove '{path}' and create a new "
    "one at the desired location."
)


def move(root: Path, cwd: Path, src: str, dst: str) -> list[str]:
    """Move the tracked ``src`` to ``dst`` (both relative to ``cwd``); the files for ``git add``.

    Raises:
        TrackedDataError: "failed to move 'SRC' -> 'DST' - ..." when ``src``
            is no out, is a stage's out, or the new ``.dvc`` file exists.
    """
    try:
        return _move(root, cwd, src, dst)
    except TrackedDataError as exc:
        raise TrackedDataError(f"failed to move '{src}' -> '{dst}' - {exc.msg}") from exc


def _rel(root: Path, cwd: Path, path: str) -> str:
    rel = os.path.relpath(os.path.normpath(os.path.join(cwd, path)), root)
    return rel.replace(os.sep, "/")


def _move(root: Path, cwd: Path, src: str, dst: str) -> list[str]:
    src_rel = _rel(root, cwd, src)
    owner = next((o for o in collect_outs(root) if o.repo_path == src_rel), None)
    if owner is None:
        raise TrackedDataError(f"Unable to find DVC file with output '{os.path.normpath(src)}'")
    if not owner.is_data_source:
        raise TrackedDataError(NOT_DATA_SOURCE.format(path=owner.addressing))
    if os.path.isdir(os.path.join(cwd, dst)):
        dst = os.path.join(dst, os.path.basename(os.path.normpath(src)))
    dst_rel = _rel(root, cwd, dst)
    check_workspace_path(root, dst_rel)
    old_file = owner.dvcfile
    dvcfile = load_dvcfile(root, old_file)
    entry = next(dict(o.raw) for o in dvcfile.outs if o.repo_path == src_rel)
    renames = posixpath.basename(old_file)[: -len(DVC_SUFFIX)] == posixpath.basename(src_rel)
    new_file = dst_rel + DVC_SUFFIX if renames else old_file
    if renames and (root / new_file).exists():
        shown = os.path.join(os.path.dirname(dst), os.path.basename(dst) + DVC_SUFFIX)
        raise TrackedDataError(f"'{shown}' already exists")
    if os.path.lexists(root / dst_rel):
        # NOTE: DVC renames over it; an untracked file there would be lost for good.
        raise TrackedDataError(
            f"'{os.path.normpath(dst)}' already exists. Remove it or choose another destination."
        )
    folder = posixpath.dirname(new_file) if renames else dvcfile.wdir
    entry["path"] = posixpath.relpath(dst_rel, folder or ".")
    touched = _rename_data(root, src_rel, dst_rel, entry.get("cache", True) is not False)
    if renames:
        kept = ("md5", "frozen", "meta", "desc", "always_changed", "deps")
        data = {k: v for k, v in dvcfile.data.items() if k in kept}
        data["outs"] = [entry]
        _follow_import(data, dvcfile.wdir, folder)
        atomic_write(check_workspace_path(root, new_file), format_dvcfile(data))
        remove_workspace_path(root, old_file)
        return [new_file, *touched, old_file]
    data = dict(dvcfile.data)
    data["outs"] = [entry if o.repo_path == src_rel else dict(o.raw) for o in dvcfile.outs]
    _follow_import(data, dvcfile.wdir, folder)
    path = check_workspace_path(root, old_file)
    atomic_write(path, format_dvcfile(data, path.read_text(encoding="utf-8")))
    return [old_file, *touched]


def _rename_data(root: Path, src_rel: str, dst_rel: str, cached: bool) -> list[str]:
    """Rename the workspace data and move its ``.gitignore`` line; returns the files changed."""
    source = check_workspace_path(root, src_rel)
    target = check_workspace_path(root, dst_rel)
    if os.path.lexists(source):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
    touched: list[str] = []
    if cached:
        removed = ignore_remove(root, src_rel)
        if removed:
            touched.append(removed)
        if ensure_ignored(root, dst_rel):
            folder = posixpath.dirname(dst_rel)
            touched.append(f"{folder}/.gitignore" if folder else ".gitignore")
    return touched


def remove(root: Path, cwd: Path, targets: Sequence[str], *, outs: bool = False) -> None:
    """Remove the ``.dvc`` files or stages ``targets`` (and with ``outs`` their data).

    Raises:
        TrackedDataError: a target names neither (DVC's messages).
    """
    for target in targets:
        rel = _rel(root, cwd, target)
        if rel.endswith(DVC_SUFFIX) and posixpath.basename(rel) != DVC_SUFFIX:
            _remove_dvcfile(root, cwd, rel, target, outs)
        else:
            _remove_stage(root, cwd, target, outs)


def _remove_dvcfile(root: Path, cwd: Path, rel: str, target: str, outs: bool) -> None:
    if not (root / rel).is_file():
        raise TrackedDataError(f"'{os.path.normpath(os.path.join(cwd, target))}' does not exist")
    dvcfile = load_dvcfile(root, rel)
    if outs:
        _check_deletable(root, [o.repo_path for o in dvcfile.outs if o.repo_path is not None])
    for out in dvcfile.outs:
        if out.repo_path is None:
            continue
        if outs:
            remove_workspace_path(root, out.repo_path)
        if out.cache:
            ignore_remove(root, out.repo_path)
    remove_workspace_path(root, rel)


def _remove_stage(root: Path, cwd: Path, target: str, outs: bool) -> None:
    file, _, name = target.rpartition(":")
    dvcyaml = _rel(root, cwd, file) if file else _rel(root, cwd, "dvc.yaml")
    if not (root / dvcyaml).is_file():
        raise TrackedDataError(f"'{os.path.relpath(root / dvcyaml, cwd)}' does not exist")
    pipeline = load_pipeline(root, dvcyaml)
    stage = pipeline.stages.get(name)
    if stage is None:
        shown = os.path.relpath(root / dvcyaml, cwd)
        message = f"Stage '{name}' not found inside '{shown}' file"
        if os.path.exists(os.path.join(cwd, target + DVC_SUFFIX)):
            hint = f"Do you mean '{target}{DVC_SUFFIX}'?"
            message = f"'{target}' is not a .dvc file. {hint}: {message}"
        raise TrackedDataError(message)
    if is_parametrized(root / dvcyaml, name):
        raise TrackedDataError(f"cannot remove a parametrized stage: '{name}'")
    if outs:
        _check_deletable(root, [o.repo_path for o in stage.outs])
    for out in stage.outs:
        if outs:
            remove_workspace_path(root, out.repo_path)
        if out.cache:
            ignore_remove(root, out.repo_path)
    remove_stage(root / dvcyaml, RepoPaths(root).lock_path(dvcyaml), name)


def _check_deletable(root: Path, repo_paths: Sequence[str]) -> None:
    """Every path passes ``safety.py`` before the first one is deleted."""
    for repo_path in repo_paths:
        check_workspace_path(root, repo_path)


def _follow_import(data: dict[str, Any], old_folder: str, new_folder: str) -> None:
    """An import's deps and stage md5 after its out moved, as DVC's ``move`` does.

    A relative local dep path is rebased onto the file's new folder
    (``with_dep_path_adjusted``); URLs and absolute paths stay. The stage
    ``md5`` of an import is recomputed (``compute_md5``); ``dvc add``'s files
    have none.
    """
    deps = data.get("deps")
    if not deps:
        return
    rebased = []
    for dep in deps:
        dep = dict(dep)
        path = dep.get("path")
        if isinstance(path, str) and "://" not in path and not posixpath.isabs(path):
            full = posixpath.normpath(posixpath.join(old_folder or ".", path))
            dep["path"] = posixpath.relpath(full, new_folder or ".")
        rebased.append(dep)
    data["deps"] = rebased
    if data.get("md5"):
        data["md5"] = stage_md5(data)
