"""``add`` of a path inside a ``.dvc``-tracked directory: update that one entry.

Provides:
    add_inside(stores, hasher, writer, owner, target, options): DVC 3.67.1's
        granular add (``Output.add(path)`` with ``Output.apply``).

``dvc add data/new.csv`` while ``data`` is tracked by ``data.dvc`` does not
create ``data/new.csv.dvc``: it puts the file's current content into the
recorded tree of ``data`` (replacing what was recorded under that path, and
leaving every other file as recorded, even if it changed in the workspace)
and rewrites ``data.dvc``. The recorded ``size`` grows by the new files'
size when nothing was replaced; when an entry was replaced DVC no longer
knows the total and leaves ``size`` out (observed with 3.67.1).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from prefect_dvc.dvcfile import out_entry
from prefect_dvc.errors import MissingObjectError, TrackedDataError
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.stores import Stores
from prefect_dvc.tracked.dvcfiles import DvcFileWriter
from prefect_dvc.tracked.outs import OwnedOut
from prefect_dvc.tracked.save import save_to_cache
from prefect_dvc.tracked.targets import Target

_HASH_KEYS = ("md5", "size", "nfiles", "isexec", "hash", "path")


def add_inside(
    stores: Stores,
    hashed: tuple[HashInfo, Tree | None],
    writer: DvcFileWriter,
    owner: OwnedOut,
    target: Target,
    *,
    commit: bool = True,
    relink: bool = True,
) -> None:
    """Record ``target`` (in the tracked directory ``owner``, hashed as ``hashed``) in its tree.

    Raises:
        TrackedDataError: ``owner`` is tracked as a file (DVC: "Cannot modify
            ... which is being tracked as a file"), or its tree is not in the
            local cache.
    """
    previous = writer.read_entry(owner.dvcfile, owner.repo_path) or {}
    md5 = str(previous.get("md5") or "")
    if not md5.endswith(".dir"):
        raise TrackedDataError(
            f"Cannot modify '{owner.repo_path}' which is being tracked as a file"
        )
    try:
        old = stores.local.read_tree(md5)
    except MissingObjectError:
        raise TrackedDataError(
            f"{owner.dvcfile}: the recorded tree of '{owner.repo_path}' ({md5})"
            " is not in the cache.",
            path=owner.dvcfile,
            hint="Run 'prefect-dvc pull' first, or 'prefect-dvc add' the whole directory.",
        ) from None
    rel = posixpath.relpath(target.repo_path, owner.repo_path)
    info, tree = hashed
    added = (
        [DirEntry(relpath=rel, md5=info.md5, size=info.size)]
        if tree is None
        else [DirEntry(relpath=f"{rel}/{e.relpath}", md5=e.md5, size=e.size) for e in tree.entries]
    )
    kept = [e for e in old.entries if not (e.relpath == rel or e.relpath.startswith(rel + "/"))]
    replaced = len(kept) != len(old.entries)
    new = Tree.from_entries([*kept, *added])
    new_info = new.hash_info()
    if commit:
        save_to_cache(stores, Path(target.abspath), info, tree, relink=relink)
        stores.local.add_bytes(new.manifest_bytes(), new_info.md5)
    old_size = previous.get("size")
    size = None if replaced or not isinstance(old_size, int) else old_size + info.size
    flags = {k: v for k, v in previous.items() if k not in _HASH_KEYS}
    entry = out_entry(
        str(previous.get("path") or posixpath.basename(owner.repo_path)),
        new_info.md5,
        size,
        nfiles=new_info.nfiles,
        flags=flags,
    )
    writer.write(owner.dvcfile, entry)
