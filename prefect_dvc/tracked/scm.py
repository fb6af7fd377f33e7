"""After a command changed files Git should know about: DVC's hint, or ``core.autostage``.

Provides:
    autostage_enabled(root): ``core.autostage`` of ``.dvc/config``.
    git_add_hint(paths): DVC's text (``dvc/repo/scm_context.py``), a list of lines.
    stage_files(root, paths): ``git add`` them (autostage).

DVC collects the files a command wrote (``.dvc`` files, ``.gitignore``) in
``SCMContext.track_file`` and, at the end, either stages them or prints::

    <blank>
    To track the changes with git, run:
    <blank>
    \tgit add data.xml.dvc .gitignore
    <blank>
    To enable auto staging, run:
    <blank>
    \tdvc config core.autostage true

with paths relative to the cwd, each ``shlex.quote``d. DVC keeps them in a
``set`` (their order depends on the process's hash seed); we keep the order
in which they were written.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.config import merged_sections
from prefect_dvc.errors import GitError

_TRUE = frozenset({"true", "yes", "1", "on"})


def autostage_enabled(root: Path) -> bool:
    """Whether ``core.autostage`` is true (DVC's boolean spellings)."""
    value = merged_sections(root).get("core", {}).get("autostage", "")
    return str(value).strip().lower() in _TRUE


def git_add_hint(paths: Sequence[str]) -> list[str]:
    """DVC's hint lines for ``paths`` (already relative to the cwd)."""
    files = " ".join(shlex.quote(p) for p in paths)
    return [
        "",
        "To track the changes with git, run:",
        "",
        f"\tgit add {files}",
        "",
        "To enable auto staging, run:",
        "",
        "\tdvc config core.autostage true",
    ]


def is_git_repo(root: Path) -> bool:
    """Whether ``root`` is inside a Git work tree (DVC prints no hint without Git)."""
    done = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, check=False
    )
    return done.returncode == 0


def stage_files(root: Path, repo_paths: Sequence[str]) -> None:
    """``git add`` the files (``core.autostage``), as DVC's ``track_changed_files``.

    Raises:
        GitError: ``git add`` failed (its stderr quoted).
    """
    if not repo_paths:
        return
    done = subprocess.run(
        ["git", "add", "--", *repo_paths], cwd=root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitError(f"git add failed: {done.stderr.strip()}", hint="Stage the files by hand")
