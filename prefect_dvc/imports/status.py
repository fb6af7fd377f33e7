"""``status`` of import ``.dvc`` files, as ``dvc status`` reports them.

Provides:
    frozen_warning(dvc): DVC's warning line for a frozen URL import, or ``None``.
    import_status(root, dvc, check_updates=True): ``{file: [changes]}`` in the
        shape of ``status --json`` (render with ``cli.status_text.status_lines``).

DVC 3.67.1 (``dvc/repo/status.py::_joint_status``, ``Stage.status``): a
frozen import's deps are not checked, with a warning, except a repository
import's, which says ``update available`` when its ``rev`` (or ``HEAD``) has
moved past ``rev_lock``; the out is ``deleted``/``modified`` against the
file's hash; ``changed checksum`` when the stage md5 does not match (also a
``--no-exec`` file, which has none). A URL import that is not frozen reports
its source ``modified``/``deleted`` under ``changed deps``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import DvcFile
from prefect_dvc.external import dep_value
from prefect_dvc.imports.repo_source import open_repo
from prefect_dvc.imports.stage_md5 import stage_md5
from prefect_dvc.imports.target import scratch_dir
from prefect_dvc.imports.update import url_source_of
from prefect_dvc.imports.url import current_entry
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher


def frozen_warning(dvc: DvcFile) -> str | None:
    """``WARNING: stage: '<file>' is frozen. ...`` for a frozen import that is not a repo import."""
    if not dvc.frozen or dvc.is_repo_import:
        return None
    return (
        f"WARNING: stage: '{dvc.repo_path}' is frozen. Its dependencies are not going "
        "to be shown in the status output."
    )


def import_status(root: Path, dvc: DvcFile, *, check_updates: bool = True) -> dict[str, list[Any]]:
    """What ``dvc status`` lists for the import ``dvc``: ``{}`` when up to date.

    Raises:
        ImportSourceError: a repository import whose source cannot be read
            (only with ``check_updates``).
        RemoteError: a URL import that is not frozen and whose URL cannot be read.
    """
    changes: list[Any] = []
    if dvc.deps and (not dvc.frozen or (dvc.is_repo_import and check_updates)):
        deps = _dep_status(root, dvc)
        if deps:
            changes.append({"changed deps": deps})
    outs = _out_status(root, dvc)
    if outs:
        changes.append({"changed outs": outs})
    if dvc.md5 is None or stage_md5(dvc.data) != dvc.md5:
        changes.append("changed checksum")
    return {dvc.repo_path: changes} if changes else {}


def _dep_status(root: Path, dvc: DvcFile) -> dict[str, str]:
    dep = dvc.deps[0]
    if dvc.is_repo_import:
        repo = dep.raw.get("repo") or {}
        with scratch_dir(root) as scratch:
            source = open_repo(str(repo.get("url")), repo.get("rev"), scratch, root / dvc.wdir)
        moved = source.rev_lock != repo.get("rev_lock")
        return {f"{dep.path} ({repo.get('url')})": "update available"} if moved else {}
    entry = current_entry(root, url_source_of(root, dvc))
    if entry is None:
        return {dep.path: "deleted"}
    return {dep.path: "modified"} if dep_value(entry) != dep_value(dep.raw) else {}


def _out_status(root: Path, dvc: DvcFile) -> dict[str, str]:
    found: dict[str, str] = {}
    for out in dvc.outs:
        if out.repo_path is None:
            continue
        path = root / out.repo_path
        if not os.path.lexists(path):
            found[out.path] = "deleted"
            continue
        recorded = HashInfo.from_lock(out.raw)
        try:
            current = Hasher(None, root=root).hash_path(path)[0]
        except OSError:
            found[out.path] = "modified"
            continue
        if recorded is None or current.md5 != recorded.md5:
            found[out.path] = "modified"
    return found
