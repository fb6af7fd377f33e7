"""A command-line path as ``add`` sees it, and DVC's refusals of it, word for word.

Provides:
    Target: a path given on the command line, resolved against the cwd.
    resolve_target(root, cwd, raw): the path's repo-relative form, or the
        first refusal of DVC 3.67.1 (``resolve_paths``, ``Output._validate``).
    show(root, cwd, repo_path): a repo path as DVC prints it (relative to the cwd).

Messages are DVC's (``dvc/utils/__init__.py::resolve_paths``,
``dvc/output.py``: ``OutputIsStageFileError``, ``OutputIsIgnoredError``,
``OutputDoesNotExistError``, ``OutputAlreadyTrackedError``), each raised as
one :class:`TrackedDataError` line before anything is written.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from prefect_dvc.dvcfile import DVC_SUFFIX
from prefect_dvc.errors import TrackedDataError
from prefect_dvc.ignore import rules_for
from prefect_dvc.safety import in_repo_relative, workspace_refusal

PROJECT_FILE = "dvc.yaml"
_EXTERNAL_LINK = "https://dvc.org/doc/user-guide/data-management/importing-external-data"
_SYMLINK_LINK = "https://dvc.org/doc/user-guide/troubleshooting#add-symlink"


@dataclass(frozen=True)
class Target:
    """A path to track.

    Attributes:
        raw: as given.
        abspath: absolute, normalised, symlinks not resolved.
        repo_path: POSIX, relative to the root.
    """

    raw: str
    abspath: str
    repo_path: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.repo_path)

    @property
    def dvcfile(self) -> str:
        """``PATH.dvc`` beside the path (DVC's ``resolve_paths``)."""
        return self.repo_path + DVC_SUFFIX


def show(root: Path, cwd: Path, repo_path: str) -> str:
    """``repo_path`` relative to ``cwd``, as DVC's ``relpath`` prints paths."""
    return os.path.relpath(os.path.join(root, repo_path), cwd)


def _refuse(msg: str) -> TrackedDataError:
    return TrackedDataError(msg)


def resolve_target(root: Path, cwd: Path, raw: str) -> Target:
    """Resolve ``raw`` (relative to ``cwd``) or refuse it as DVC's ``add`` does.

    Whether the path exists is the caller's question (DVC asks it after
    looking for the path's owner).

    Raises:
        TrackedDataError: outside the repository, the root, inside a
            symlinked folder, inside ``.git``/``.dvc`` or ``.dvcignore``d, a
            ``dvc.yaml``/``.dvc`` file, or tracked by Git.
    """
    abspath = os.path.normpath(os.path.join(cwd, raw))
    rel = in_repo_relative(root, abspath)
    if rel is None:
        raise _refuse(
            f"Cached output(s) outside of DVC project: {abspath}. "
            f"See <{_EXTERNAL_LINK}> for more info."
        )
    if rel == ".":
        raise _refuse(
            f"Path: {os.path.dirname(abspath)} does not overlap with base path: {abspath}"
        )
    target = Target(raw, abspath, rel)
    _check_symlinks(root, target)
    _check_ignored(root, target)
    if target.name == PROJECT_FILE or target.name.endswith(DVC_SUFFIX):
        raise _refuse(f"DVC file '{target.name}' cannot be an output.")
    _check_git_tracked(root, target)
    reason = workspace_refusal(root, rel)
    if reason is not None:
        # NOTE: prefect_dvc/safety.py's rule, checked before the cache or workspace change
        raise TrackedDataError(
            f"refusing to track '{raw}': {reason}. Move the data to a folder of its own"
        )
    return target


def _check_symlinks(root: Path, target: Target) -> None:
    """DVC refuses a path below a symlinked folder, or a symlink to a folder."""
    parts = target.repo_path.split("/")
    folder = Path(os.path.abspath(root))
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            break
    else:
        if not (os.path.isdir(target.abspath) and os.path.islink(target.abspath)):
            return
    raise _refuse(
        "Cannot add files inside symlinked directories to DVC. "
        f"See <{_SYMLINK_LINK}> for more information."
    )


def _check_ignored(root: Path, target: Target) -> None:
    """``.git``/``.dvc`` (DVC's default ignore patterns) and ``.dvcignore``d paths."""
    parts = target.repo_path.split("/")
    if ".git" in parts:
        raise _refuse(f"Path '{target.abspath}' is ignored by :.git")
    if ".dvc" in parts[:-1] or parts[0] == ".dvc":
        raise _refuse(f"Path '{target.abspath}' is ignored by :.dvc/")
    rules = rules_for(root, root)
    walked = ""
    for index, part in enumerate(parts):
        walked = f"{walked}/{part}" if walked else part
        is_dir = index < len(parts) - 1 or os.path.isdir(target.abspath)
        if rules is None:
            return
        if rules.is_ignored(walked, is_dir):
            source = _ignore_source(root, walked, is_dir)
            raise _refuse(f"Path '{target.abspath}' is ignored by {source}")
        if is_dir:
            rules = rules.descend(walked)


def _ignore_source(root: Path, repo_path: str, is_dir: bool) -> str:
    """``.dvcignore:LINE:PATTERN`` of the last pattern matching ``repo_path`` (DVC's text)."""
    found = ".dvcignore"
    folders = repo_path.split("/")[:-1]
    for depth in range(len(folders) + 1):
        base = "/".join(folders[:depth])
        ignore_file = Path(root, base, ".dvcignore")
        if not ignore_file.is_file():
            continue
        sub = repo_path[len(base) + 1 :] if base else repo_path
        candidate = sub + "/" if is_dir else sub
        lines = ignore_file.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            pattern = GitIgnoreSpecPattern(line)
            if pattern.include is not None and pattern.match_file(candidate) is not None:
                shown = f"{base}/.dvcignore" if base else ".dvcignore"
                found = f"{shown}:{number}:{line}"
    return found


def _check_git_tracked(root: Path, target: Target) -> None:
    """DVC's ``OutputAlreadyTrackedError``: the path is in Git's index."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--", target.repo_path],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if done.returncode == 0 and done.stdout:
        name = target.name
        raise TrackedDataError(
            f"output '{name}' is already tracked by SCM (e.g. Git). You can remove it from "
            f"Git, then add to DVC. To stop tracking from Git: git rm -r --cached '{name}' "
            f'git commit -m "stop tracking {name}"'
        )
