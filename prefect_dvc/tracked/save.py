"""Put a workspace path into the cache and link it back: the core of ``add`` and ``commit``.

Provides:
    hash_path(hasher, path): DVC 3's hash of a file or directory, with its tree.
    save_to_cache(stores, path, info, tree, *, relink): store the objects
        (moving the bytes in, not copying them) and link the workspace back
        per ``cache.type``.

DVC 3.67.1 (``Output.add``): the bytes are transferred into the cache
(copied, or hardlinked when ``cache.type`` starts with ``hardlink``), then
the workspace path is checked out again from the cache with ``relink``. With
the default ``reflink,copy`` on a filesystem without reflinks that is two
full copies. Here each file not yet in the cache is *moved* in: its inode
gets a second name in the cache (a hardlink, same filesystem), becomes the
read-only object, and the workspace path is then re-created from it per
``cache.type`` (a copy, reflink, hardlink or symlink) and renamed over the
old name, so the data is never absent from the workspace. That is one copy
for ``copy`` and none for the link types. Where the cache is on another
filesystem the object is copied as before (``ObjectStore.add_file``).

Every call that links or moves bytes between the workspace and the cache is
in this module, so a change to ``storage/links.py`` touches one place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prefect_dvc import tmpnames
from prefect_dvc.errors import StorageError
from prefect_dvc.safety import check_workspace_path
from prefect_dvc.storage.hashinfo import HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher, md5_file
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.stores import Stores

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def hash_path(hasher: Hasher, path: Path) -> tuple[HashInfo, Tree | None]:
    """The hash of the file or directory ``path`` (tree ``None`` for a file).

    Raises:
        FileNotFoundError: ``path`` or a symlink inside it is missing.
        StorageError: a FIFO or socket inside a directory.
    """
    return hasher.hash_path(path)


def save_to_cache(
    stores: Stores,
    path: Path,
    info: HashInfo,
    tree: Tree | None,
    *,
    relink: bool = True,
) -> None:
    """Store the out at ``path`` (hashed as ``info``/``tree``) and link it back.

    Args:
        stores: the local cache and ``cache.type`` link types.
        path: the absolute workspace path of the out.
        info / tree: its hash from :func:`hash_path`.
        relink: re-create ``path`` from the cache per ``cache.type`` (DVC's
            default; ``--no-relink`` copies the bytes in and leaves the
            workspace as it is).

    Raises:
        StorageError: a file changed between hashing and storing (nothing of
            it is stored); every link type failed.
        UnsafePathError: ``path`` is no replaceable workspace path (checked
            before anything is stored).
    """
    if stores.workspace is not None:
        # NOTE: before any byte moves: a hostile .dvc file may name .git/config,
        # and moving an inode into the cache makes it read-only.
        check_workspace_path(stores.workspace, path)
    store = stores.local
    if tree is None:
        files = [(path, info.md5)]
    else:
        files = [(path / e.relpath, e.md5) for e in tree.entries]
    present = store.existing({md5 for _, md5 in files})
    todo = list({md5: src for src, md5 in files if md5 not in present}.items())
    linked = len(todo) == len(files)  # every workspace file becomes its object's hardlink
    movable = relink and store.is_local
    moves = [(src, md5) for md5, src in todo if movable and not src.is_symlink()]
    copies = [(src, md5) for md5, src in todo if not movable or src.is_symlink()]
    linked = _move_many(store, moves) and linked and not copies
    for src, md5 in copies:
        store.add_file(src, md5)
    if tree is not None:
        store.add_bytes(tree.manifest_bytes(), info.md5)
    # NOTE: with 'hardlink' first in cache.type, a moved file already is what
    # the checkout would make (the object's second name): nothing to redo.
    done = linked and stores.link_types[:1] == ("hardlink",) and not info.isexec
    if relink and not done:
        stores.checkout(info, path)


def _move_many(store: ObjectStore, items: list[tuple[Path, str]]) -> bool:
    """Move each ``(src, md5)`` into the cache; ``True`` when every one was moved, not copied.

    The state DB is asked once for all files and told once about all objects
    (one SQLite transaction, not one per file: 10,000 files).
    """
    if not items:
        return True
    tmpnames.register_writer(Path(store.location.root))
    befores = [os.stat(src) for src, _ in items]
    state = store.state
    known = state.get_many(list(zip([s for s, _ in items], befores, strict=True))) if state else []
    records: list[tuple[Path, os.stat_result, str]] = []
    moved_all = True
    for index, ((src, md5), before) in enumerate(zip(items, befores, strict=True)):
        final = _move_in(store, src, md5, before, known[index] if known else None)
        if final is None:
            moved_all = False
        else:
            records.append((final, os.stat(final), md5))
    if state is not None and records:
        state.set_many(records)
    return moved_all


def _move_in(
    store: ObjectStore, src: Path, md5: str, before: os.stat_result, known: str | None
) -> Path | None:
    """Make the inode of ``src`` the object ``md5``; its path, or ``None`` after a copy.

    Where the cache is on another filesystem (no hardlink) the bytes are copied in.
    """
    final = Path(store.oid_path(md5))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(tmpnames.tmp_name(final.name))
    try:
        os.link(src, tmp)
    except OSError:  # another filesystem, or links not allowed: copy it in
        store.add_file(src, md5)
        return None
    try:
        _check_unchanged(src, tmp, md5, before, known)
        os.chmod(tmp, _READ_ONLY)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _check_unchanged(
    src: Path, tmp: Path, md5: str, before: os.stat_result, known: str | None
) -> None:
    """The linked inode still holds the bytes hashed as ``md5``.

    ``known`` is what the state DB vouched for under ``before`` (inode,
    size, mtime, ctime) when it was recorded while hashing; otherwise (a
    file written within the racy window) the object is read once more.
    """
    after = os.stat(tmp)
    same = (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    if known == md5 and same:
        return
    actual = md5_file(tmp)
    if actual != md5:
        raise StorageError(
            f"'{src}' changed while it was being added (now {actual}, hashed as {md5})",
            path=str(src),
            hint="Run the command again once nothing writes to it",
        )
