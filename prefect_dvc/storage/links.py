"""Putting a local cache object into the workspace: reflink, hardlink, symlink, copy.

Provides:
    LINK_TYPES: the names DVC accepts in ``cache.type``.
    DEFAULT_LINK_TYPES: ``("reflink", "copy")``, DVC's default.
    link(src, dest, types): try each strategy in order, return the one that worked.
    reflink, hardlink, symlink, copy: the strategies themselves.
    replace_file(dest, make), replace_dir(dest, files, make): build a file or
        folder beside ``dest`` and rename it into place, so a failed restore
        leaves the workspace as it was.
    sweep_leftovers(dests): remove what killed restores left beside outs.
    set_exec(path): give a checked-out file its owner execute bit, as DVC does
        for an out recorded with ``isexec: true``.

A strategy creates ``dest`` (which must not exist) and raises ``OSError``
when the filesystem cannot do it (cross-device hardlink, no reflink support),
so :func:`link` can fall back to the next one, as DVC does.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect_dvc import tmpnames
from prefect_dvc.errors import ConfigError, StorageError
from prefect_dvc.safety import check_workspace_path

logger = logging.getLogger(__name__)

DEFAULT_LINK_TYPES: tuple[str, ...] = ("reflink", "copy")
# NOTE: read once at import, as DVC does: os.umask() can only be read by setting it,
# which would race with threads creating files.
_UMASK = os.umask(0)
os.umask(_UMASK)
# NOTE: linux/fs.h: _IOW(0x94, 9, int). Not exposed by the fcntl module.
_FICLONE = 0x40049409


def reflink(src: Path, dest: Path) -> None:
    """Copy-on-write clone (Linux ``FICLONE``); free in time and space on btrfs/XFS."""
    with open(src, "rb") as fsrc:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fcntl.ioctl(fd, _FICLONE, fsrc.fileno())
        except OSError:
            os.close(fd)
            dest.unlink(missing_ok=True)
            raise
        os.close(fd)


def hardlink(src: Path, dest: Path) -> None:
    """A second name for the object (same inode; the file stays read-only)."""
    os.link(src, dest)


def symlink(src: Path, dest: Path) -> None:
    """A symbolic link to the object's absolute path."""
    os.symlink(os.path.abspath(src), dest)


def copy(src: Path, dest: Path) -> None:
    """A plain byte copy (the new file gets default permissions, not 0444)."""
    if os.path.lexists(dest):
        raise FileExistsError(f"{dest} exists")
    shutil.copyfile(src, dest)


_STRATEGIES: Mapping[str, Callable[[Path, Path], None]] = {
    "reflink": reflink,
    "hardlink": hardlink,
    "symlink": symlink,
    "copy": copy,
}
LINK_TYPES: tuple[str, ...] = tuple(_STRATEGIES)


def check_link_types(types: Sequence[str]) -> tuple[str, ...]:
    """Validate ``cache.type`` values before anything is touched.

    Raises:
        ConfigError: an empty list or an unknown name.
    """
    names = tuple(types)
    unknown = [t for t in names if t not in _STRATEGIES]
    if unknown or not names:
        raise ConfigError(
            f"unknown link type(s) {', '.join(unknown) or '(none given)'} in cache.type",
            path=".dvc/config",
            hint=f"Use a comma-separated list of {', '.join(LINK_TYPES)}",
        )
    return names


def link(src: Path, dest: Path, types: Sequence[str] = DEFAULT_LINK_TYPES) -> str:
    """Create ``dest`` from the object ``src`` with the first strategy that works.

    Returns:
        The name of the strategy used.

    Raises:
        ConfigError: an unknown link type.
        StorageError: every strategy failed; names both paths and the last error.
    """
    errors = []
    for name in check_link_types(types):
        try:
            _STRATEGIES[name](src, dest)
        except OSError as exc:
            errors.append(f"{name}: {exc.strerror or exc}")
            continue
        return name
    raise StorageError(
        f"cannot link '{src}' to '{dest}' ({'; '.join(errors)})",
        path=str(dest),
        hint="Add 'copy' to cache.type in .dvc/config, or check the folder's permissions",
    )


# --------------------------------------------------------------------------- placing


def _tmp_sibling(dest: Path, suffix: str) -> Path:
    """A hidden name beside ``dest`` naming this host and process (see ``tmpnames``)."""
    return dest.with_name(tmpnames.tmp_name(f".{dest.name}", suffix))


def _sweep_leftovers(dest: Path) -> None:
    """Remove what dead local writers left beside ``dest`` while replacing it."""
    tmpnames.sweep(dest.parent, tmpnames.prefix_of(f".{dest.name}"))


def sweep_leftovers(dests: Iterable[Path]) -> None:
    """Remove what dead local writers left beside each of ``dests``: one listing per folder.

    A restore killed between building an out and swapping it in leaves a
    hidden ``.<name>.~<host>~<pid>~...`` file or folder beside the out; the
    next run of the pipeline removes it, whether it restores the out or not.
    """
    by_folder: dict[Path, list[str]] = {}
    for dest in dests:
        by_folder.setdefault(dest.parent, []).append(tmpnames.prefix_of(f".{dest.name}"))
    for folder, prefixes in by_folder.items():
        tmpnames.sweep(folder, tuple(prefixes))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _checked(root: Path | None, dest: Path) -> Path:
    return dest if root is None else check_workspace_path(root, dest)


def _swap(new: Path, dest: Path) -> None:
    """Put ``new`` (file or folder) at ``dest``, replacing what is there."""
    if dest.is_dir() and not dest.is_symlink():
        aside = _tmp_sibling(dest, "old")
        os.rename(dest, aside)
        try:
            os.rename(new, dest)
        except OSError:
            os.rename(aside, dest)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    elif new.is_dir() and os.path.lexists(dest):
        dest.unlink()
        os.rename(new, dest)
    else:
        os.replace(new, dest)


def replace_file(dest: Path, make: Callable[[Path], None], *, root: Path | None = None) -> None:
    """Build a file with ``make(tmp)`` beside ``dest``, then rename it over ``dest``.

    If ``make`` raises, ``dest`` is untouched and the temp file is removed.
    With ``root`` (a workspace), ``dest`` must pass
    :func:`~prefect_dvc.safety.check_workspace_path` first.

    Raises:
        UnsafePathError: ``dest`` may not be replaced in the workspace ``root``.
    """
    dest = _checked(root, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(dest)
    tmp = _tmp_sibling(dest, "tmp")
    try:
        make(tmp)
        _swap(tmp, dest)
    finally:
        _remove(tmp)


def _safe_relpath(root: Path, relpath: str) -> Path:
    parts = relpath.split("/")
    if relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(
            f"directory manifest names an unsafe path {relpath!r}",
            path=str(root),
            hint="The manifest was not written by DVC; delete it from the cache and run again",
        )
    return root.joinpath(*parts)


def _carry_over(src: Path, target: Path) -> None:
    """Put a hard link (a copy where links fail) of ``src`` at ``target``; folders recursively.

    Links, not moves: until the swap succeeds the old folder stays whole.
    """
    if os.path.lexists(target):
        _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, target, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(src), str(target))


def _link_or_copy(src: str, target: str) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), target)
        return
    try:
        os.link(src, target)
    except OSError:
        shutil.copy2(src, target)


def replace_dir(
    dest: Path,
    files: Sequence[tuple[str, str]],
    make: Callable[[str, Path], None],
    jobs: int | None = None,
    keep: Sequence[str] = (),
    *,
    root: Path | None = None,
    executable: Collection[str] = (),
) -> None:
    """Build a folder of ``(md5, relpath)`` files beside ``dest``, then swap it in.

    ``make(md5, target)`` creates each file (in parallel threads). If any
    call raises, ``dest`` is untouched and the partial folder is removed.
    ``keep`` names paths (POSIX, relative to ``dest``) that are carried over
    from the old ``dest`` as they are: the ``.dvcignore``d files DVC never
    touches on checkout. ``root`` is checked as in :func:`replace_file`.
    ``executable`` names the relpaths whose files get :func:`set_exec`
    before the swap (manifest entries with ``isexec``).

    Raises:
        UnsafePathError: ``dest`` may not be replaced in the workspace ``root``.
    """
    dest = _checked(root, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(dest)
    tmp = _tmp_sibling(dest, "tmp")
    tmp.mkdir()
    try:
        targets = [(md5, _safe_relpath(tmp, rel)) for md5, rel in files]
        for parent in sorted({t.parent for _, t in targets}):
            parent.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=jobs or min(32, 4 * (os.cpu_count() or 1))) as pool:
            list(pool.map(lambda item: make(item[0], item[1]), targets))
        for relpath in sorted(set(executable)):
            set_exec(_safe_relpath(tmp, relpath))
        for relpath in keep:
            _carry_over(dest / relpath, _safe_relpath(tmp, relpath))
        _swap(tmp, dest)
    finally:
        _remove(tmp)


def set_exec(path: Path) -> None:
    """Add the owner execute bit to the file at ``path`` (following a symlink).

    DVC 3.67.1's rule (``LocalHashFileDB.set_exec`` and
    ``dvc_data.index.checkout._chmod_files``): ``chmod(mode | S_IXUSR)`` on
    the workspace path whatever the link type, so with ``hardlink`` or
    ``symlink`` the shared cache object itself becomes 0544 (DVC then
    re-hashes it instead of trusting its 0444 mode). A filesystem that
    refuses the chmod is not an error, as in DVC.
    """
    try:
        mode = os.stat(path).st_mode | stat.S_IXUSR
        os.chmod(path, mode)
    except OSError as exc:
        logger.debug("could not set the execute bit of '%s': %s", path, exc)


def is_cache_link(path: Path) -> bool:
    """Is ``path`` a symlink or a file with other hard links (what a link-type checkout made)?"""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)


def unprotect(path: Path) -> list[Path]:
    """Give every linked file at ``path`` (a file or folder) a private, writable copy.

    DVC 3.67.1 (``LocalHashFileDB._unprotect_file``) does this to a
    ``persist`` out before its command runs, so that a command writing to a
    hardlinked or symlinked out cannot change the cache object. The copy is
    made beside the file and renamed over it (a reader never sees half a
    file), with the umask's mode and the execute bits the file had. Regular
    files with one link are left as they are. Returns the paths copied.
    """
    top = Path(path)
    files = [top] if not top.is_dir() or top.is_symlink() else sorted(top.rglob("*"))
    done = []
    for file in files:
        if not is_cache_link(file) or not file.is_file():
            continue
        tmp = _tmp_sibling(file, "tmp")
        try:
            shutil.copyfile(file, tmp)
            exec_bits = os.stat(file).st_mode & 0o111
            os.chmod(tmp, (0o666 | exec_bits) & ~_UMASK)
            os.replace(tmp, file)
        finally:
            _remove(tmp)
        done.append(file)
    return done
