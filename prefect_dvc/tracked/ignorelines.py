"""Removing a ``.gitignore`` line when an out stops being tracked (scmrepo's ``ignore_remove``).

Provides:
    ignore_remove(root, repo_path): drop the out's line from its folder's
        ``.gitignore``; the file is deleted when nothing is left in it, as
        scmrepo does. Returns the ``.gitignore`` changed (repo path) or ``None``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from prefect_dvc.gitignore import ignore_entry
from prefect_dvc.safety import remove_workspace_path
from prefect_dvc.yamlio import atomic_write


def ignore_remove(root: Path, repo_path: str) -> str | None:
    """Remove ``/<name>`` of ``repo_path`` from its ``.gitignore``; returns that file or ``None``.

    Raises:
        UnsafePathError: the ``.gitignore`` would be outside the repository.
    """
    entry, gitignore = ignore_entry(root, repo_path)
    if not gitignore.is_file():
        return None
    lines = gitignore.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != entry.strip()]
    if kept == lines:
        return None
    folder = posixpath.dirname(repo_path)
    shown = f"{folder}/.gitignore" if folder else ".gitignore"
    if not kept:
        remove_workspace_path(root, shown)
    else:
        atomic_write(gitignore, "".join(kept))
    return shown
