"""Where a workspace path may land: the one rule every delete, replace and write obeys.

Provides:
    PROTECTED_DIRS: ``.git`` and ``.dvc``, compared case-insensitively.
    PIPELINE_FILES: the names no stage may write (``dvc.yaml``, ``dvc.lock``...).
    lexical_refusal(repo_path): why a normalised repo-relative path may never
        be touched (the root, outside it, ``.git``/``.dvc``), or ``None``.
    out_refusal(repo_path): the same plus DVC's "DVC file cannot be an output".
    symlink_escape(root, repo_path): which folder of the path is a symlink
        leaving the repository (or into ``.git``/``.dvc``), or ``None``.
    in_repo_relative(root, path): an absolute path inside the root, made
        repo-relative (POSIX), or ``None`` when it lands outside.
    workspace_refusal(root, path): why the checks below refuse ``path``, or ``None``.
    check_workspace_path(root, path) / check_write_target(root, path): the
        path, after the checks, with every parent symlink resolved.
    remove_workspace_path(root, path): delete a file, folder or symlink (never
        following the symlink) after the checks.
    cache_dir_refusal(root, cache_dir): why ``cache.dir`` may not hold the cache.

Why one module: DVC deletes an out with ``remove(out.fs_path)`` wherever it
is needed and trusts the stage's validation to have kept ``.git`` out of
reach; ``outs: [.]`` shows where that ends. Here the load-time validation
(``translators/build.py``) refuses hostile outs with the file and line, and
this module refuses them a second time at the only places that delete or
replace, so a path that slips past one check (a hostile ``dvc.lock`` in an
experiment commit, a symlink created after loading) still cannot do harm.

Case-insensitivity: macOS and Windows filesystems treat ``.GIT`` as ``.git``,
so the names are compared with :meth:`str.casefold` on every platform.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path

from prefect_dvc.errors import UnsafePathError

PROTECTED_DIRS = frozenset({".git", ".dvc"})
PIPELINE_FILES = frozenset({"dvc.yaml", "dvc.lock", ".dvcignore", ".gitignore"})
DVC_FILE_SUFFIX = ".dvc"
DVC_FILE_REFUSAL = "it is a DVC or Git file"


def _protected_part(parts: list[str]) -> str | None:
    for part in parts:
        if part.casefold() in PROTECTED_DIRS:
            return part
    return None


def lexical_refusal(repo_path: str) -> str | None:
    """Why the repo-relative POSIX ``repo_path`` may never be deleted or replaced.

    ``repo_path`` is normalised here too (``a/..`` is the root), so any
    spelling may be passed. Returns ``None`` for an acceptable path.
    """
    norm = posixpath.normpath(repo_path) if repo_path else "."
    if norm == ".":
        return "it is the repository root"
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        return "it is outside the repository"
    protected = _protected_part(norm.split("/"))
    if protected is not None:
        return f"it is inside '{protected}', which belongs to {_owner(protected)}"
    return None


def _owner(name: str) -> str:
    return "Git" if name.casefold() == ".git" else "DVC"


def out_refusal(repo_path: str) -> str | None:
    """:func:`lexical_refusal`, plus the pipeline files DVC refuses as outputs.

    DVC (``output.py::_validate_output_path``) refuses ``dvc.yaml`` and
    ``*.dvc``; we also refuse ``dvc.lock``, ``.dvcignore`` and ``.gitignore``,
    which deleting before the command runs would destroy.
    """
    reason = lexical_refusal(repo_path)
    if reason is not None:
        return reason
    name = posixpath.basename(posixpath.normpath(repo_path))
    if name.casefold() in PIPELINE_FILES or name.casefold().endswith(DVC_FILE_SUFFIX):
        return DVC_FILE_REFUSAL
    return None


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def symlink_escape(root: Path, repo_path: str) -> str | None:
    """Why a folder on the way to ``repo_path`` leads outside the repository, or ``None``.

    Every folder of the chain (not the last part: an out that is a symlink is
    unlinked, never followed) is resolved in turn; a symlink whose target
    is outside ``root`` or inside ``.git``/``.dvc`` is refused.
    """
    real_root = Path(os.path.realpath(root))
    parts = [p for p in posixpath.normpath(repo_path).split("/") if p not in ("", ".")]
    current = real_root
    for index, part in enumerate(parts[:-1]):
        current = current / part
        if not current.is_symlink():
            continue
        target = Path(os.path.realpath(current))
        shown = "/".join(parts[: index + 1])
        if not _is_within(target, real_root):
            return f"its folder '{shown}' is a symlink to '{target}', outside the repository"
        rel = target.relative_to(real_root).parts
        if _protected_part(list(rel)) is not None:
            return f"its folder '{shown}' is a symlink into '{'/'.join(rel)}'"
        current = target
    return None


def in_repo_relative(root: Path, path: str) -> str | None:
    """The absolute ``path`` relative to ``root`` (POSIX, normalised), or ``None`` if outside.

    The root is tried as given and with its symlinks resolved, so
    ``/tmp/x/a`` and ``/private/tmp/x/a`` both land in a root at ``/tmp/x``.
    A path equal to the root gives ``"."``.
    """
    norm = os.path.normpath(path)
    for base in dict.fromkeys((os.path.abspath(root), os.path.realpath(root))):
        rel = os.path.relpath(norm, base)
        if rel != ".." and not rel.startswith(".." + os.sep):
            return Path(rel).as_posix()
    return None


def _refusal(root: Path, path: str | os.PathLike[str]) -> tuple[str, Path | None]:
    raw = os.fspath(path)
    if raw == "":
        return "it is the repository root", None
    rel = in_repo_relative(root, raw) if os.path.isabs(raw) else posixpath.normpath(raw)
    if rel is None:
        return "it is outside the repository", None
    reason = lexical_refusal(rel) or symlink_escape(root, rel)
    if reason is not None:
        return reason, None
    real_root = Path(os.path.realpath(root))
    target = (
        Path(os.path.realpath(real_root.joinpath(*rel.split("/")).parent))
        / (rel.rsplit("/", 1)[-1])
    )
    if not _is_within(target, real_root) or target == real_root:
        return "it is outside the repository", None
    if target.is_dir() and not target.is_symlink():
        # NOTE: two lstat calls, not a listing: outs can be folders of 100k files.
        nested = [n for n in sorted(PROTECTED_DIRS) if os.path.lexists(target / n)]
        if nested:
            return f"it contains '{nested[0]}', another repository's own folder", None
    return "", target


def workspace_refusal(root: Path, path: str | os.PathLike[str]) -> str | None:
    """Why :func:`check_workspace_path` would refuse ``path``, or ``None``."""
    reason, target = _refusal(root, path)
    return None if target is not None else reason


def check_workspace_path(root: Path, path: str | os.PathLike[str]) -> Path:
    """The absolute path ``path`` (relative to ``root``, or absolute) names, checked.

    Returns the path with every parent folder's symlinks resolved and the
    last part kept as is (so a symlink there is the link, not its target).

    Raises:
        UnsafePathError: ``path`` is the root, outside it, is or is inside
            ``.git``/``.dvc`` (any case), reaches outside (or into those
            folders) through a symlinked folder, or is a folder holding a
            ``.git``/``.dvc`` of its own.
    """
    reason, target = _refusal(root, path)
    if target is None:
        raise UnsafePathError(
            f"refusing to touch '{os.fspath(path)}': {reason}",
            path=os.fspath(path) or ".",
            hint="Only a stage's declared outs inside the repository may be deleted or replaced",
        )
    return target


def check_write_target(root: Path, path: str | os.PathLike[str]) -> Path:
    """:func:`check_workspace_path` for a file about to be written (a params file, a metric).

    A write (unlike a delete) may go through a symlink in the last part, so
    when ``path`` is a symlink its final target must pass the same checks:
    ``params.yaml -> ../outside.yaml`` is refused. Returns the checked path
    (the link itself when it is one).

    Raises:
        UnsafePathError: as :func:`check_workspace_path`, for the path or the
            target of its last symlink.
    """
    target = check_workspace_path(root, path)
    if target.is_symlink():
        real = os.path.realpath(target)
        reason = workspace_refusal(root, real)
        if reason is not None:
            raise UnsafePathError(
                f"refusing to write '{os.fspath(path)}': it is a symlink to '{real}', "
                f"and that {reason.removeprefix('it ')}",
                path=os.fspath(path),
                hint="Replace the symlink by a file, or point it inside the repository",
            )
    return target


def remove_workspace_path(root: Path, path: str | os.PathLike[str]) -> bool:
    """Delete the file, folder or symlink at ``path`` after :func:`check_workspace_path`.

    A symlink is unlinked, never followed; a folder is removed with
    :func:`shutil.rmtree`, which unlinks the symlinks inside it too.

    Returns:
        Whether anything was there to delete.

    Raises:
        UnsafePathError: ``path`` is not a deletable workspace path.
    """
    target = check_workspace_path(root, path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
        return True
    if os.path.lexists(target):
        target.unlink()
        return True
    return False


def cache_dir_refusal(root: Path, cache_dir: Path) -> str | None:
    """Why ``cache.dir`` may not hold the cache, or ``None``.

    The cache writes objects and run-cache entries and ``gc`` deletes from
    it, so it may not be the repository root, a folder above it (the root
    would be inside the cache), or inside ``.git``. Inside ``.dvc`` (the
    default) and any other folder of its own are fine, as in DVC.
    """
    real_root = Path(os.path.realpath(root))
    real_cache = Path(os.path.realpath(cache_dir))
    if _is_within(real_root, real_cache):
        return "it is the repository root or a folder above it"
    if _is_within(real_cache, real_root):
        rel = real_cache.relative_to(real_root).parts
        if any(part.casefold() == ".git" for part in rel):
            return "it is inside '.git'"
    return None
