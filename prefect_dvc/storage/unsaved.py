"""Refusing a restore that would destroy workspace content the cache does not hold.

Provides:
    unsaved_paths(root, stores, outs, hash_path): workspace files a checkout
        of ``outs`` would replace or delete whose content is not in the cache.
    refuse_unsaved(...): raise :class:`UnsavedChangesError` naming them.

Follows DVC 3.67.1 ``dvc/repo/checkout.py::_check_can_delete``: each
workspace file the checkout would delete or modify (a changed file out, a
changed or extra file inside a folder out) counts as unsaved unless its
current content is an object of the local cache; then the checkout is
refused as a whole ("Can't remove the following unsaved files without
confirmation. Use `--force` to force.") and nothing changes. A version the
cache holds is replaced silently. Hashing goes through the state DB, so an
unchanged file costs a stat.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prefect_dvc.errors import UnsavedChangesError
from prefect_dvc.storage.hashinfo import HashInfo, Tree
from prefect_dvc.storage.stores import Stores
from prefect_dvc.storage.sync import UsedOut

HashPath = Callable[..., tuple[HashInfo, Tree | None]]

#: How many paths the one-line refusal names before "and N more".
SHOWN = 3


def _doomed(stores: Stores, out: UsedOut, current: HashInfo, tree: Tree | None) -> dict[str, str]:
    """Workspace files (repo path -> md5) a checkout of ``out`` would replace or delete."""
    if tree is None:
        return {out.repo_path: current.oid}
    wanted: dict[str, str] = {}
    if out.info.is_dir:
        wanted = {e.relpath: e.oid for e in stores.local.read_tree(out.info.oid).entries}
    return {
        f"{out.repo_path}/{e.relpath}": e.oid
        for e in tree.entries
        if wanted.get(e.relpath) != e.oid
    }


def unsaved_paths(
    root: Path, stores: Stores, outs: Iterable[UsedOut], hash_path: HashPath
) -> list[str]:
    """Repo paths of workspace files a checkout of ``outs`` would lose, sorted.

    Only outs the local cache can restore count (the others are left alone
    and reported missing by the checkout). ``.dvcignore``d files are skipped
    by ``hash_path`` and are kept by the checkout anyway.

    Raises:
        CorruptObjectError, MissingObjectError: a locked ``.dir`` manifest is unreadable.
    """
    outs = list(outs)
    local = stores.local.existing([o.info.oid for o in outs])
    doomed: dict[str, str] = {}
    for out in outs:
        dest = root / out.repo_path
        if out.info.oid not in local or not os.path.lexists(dest):
            continue
        if not dest.exists():  # a dangling link holds no content
            continue
        # NOTE: a DVC 2 out is compared (and its files looked up) as md5-dos2unix.
        current, tree = hash_path(dest, legacy=True) if out.info.legacy else hash_path(dest)
        if current.oid == out.info.oid:
            continue
        doomed.update(_doomed(stores, out, current, tree))
    held = stores.local.existing(set(doomed.values()))
    return sorted(path for path, md5 in doomed.items() if md5 not in held)


def refuse_unsaved(
    root: Path, stores: Stores, outs: Iterable[UsedOut], hash_path: HashPath, *, force: bool
) -> None:
    """Raise unless ``force`` when a checkout of ``outs`` would lose unsaved files.

    Raises:
        UnsavedChangesError: naming the first :data:`SHOWN` paths and the count.
    """
    if force:
        return
    paths = unsaved_paths(root, stores, outs, hash_path)
    if not paths:
        return
    shown = ", ".join(paths[:SHOWN])
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    raise UnsavedChangesError(
        f"can't remove {len(paths)} unsaved file(s) without confirmation: {shown}{more}; "
        "their content is not in the cache. Nothing was changed",
        hint="Use `--force` to overwrite them, or move them away first",
        paths=tuple(paths),
    )
