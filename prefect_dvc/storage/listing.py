"""Which objects a store holds, from directory listings (never one request per object).

Provides:
    existing(location, oids): the object ids among ``oids`` that are present.
    all_objects(location): every object id in the store (for ``gc`` and ``cache verify``).

Objects live in two layouts (``layout.py``): DVC 3's ``files/md5/<h[:2]>/<h[2:]>``
and DVC 2's ``<h[:2]>/<h[2:]>`` right under the root, which DVC 3.67.1 still
reads and garbage-collects (``dvc/cachemgr.py``, the ``legacy`` odb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from prefect_dvc.storage import layout
from prefect_dvc.storage.legacy import legacy_oid, split_oid
from prefect_dvc.storage.location import Location, storage_errors

# NOTE: beyond this many prefixes one recursive listing beats one listing each.
_FEW_PREFIXES = 8


def _ls(location: Location, path: str) -> list[str]:
    try:
        return [str(p) for p in location.fs.ls(path, detail=False)]
    except FileNotFoundError:
        return []


def existing(location: Location, oids: Iterable[str]) -> set[str]:
    """Which of ``oids`` are present: few prefixes are listed one by one (in
    parallel); many DVC 3 ones with one recursive listing of ``files/md5``.

    Raises:
        StorageError: an id that is not an object id; RemoteError/StorageError
            when the store cannot be listed.
    """
    wanted = {layout.check_oid(m) for m in oids}
    present: set[str] = set()
    for parts, to_oid in layout.LAYOUTS:
        ids = {m for m in wanted if to_oid(split_oid(m)[1]) == m}
        if ids:
            present |= _existing_in(location, parts, to_oid, ids)
    return wanted & present


def _existing_in(
    location: Location, parts: tuple[str, ...], to_oid: Callable[[str], str], ids: set[str]
) -> set[str]:
    prefixes = sorted({split_oid(m)[1][:2] for m in ids})
    base = location.join(*parts) if parts else location.root.rstrip("/")
    fs = location.fs
    with storage_errors(location, "list objects"):
        fs.invalidate_cache(base)
        # NOTE: a recursive listing of DVC 2's root would walk files/ and runs/ too.
        if len(prefixes) <= _FEW_PREFIXES or not parts:
            with ThreadPoolExecutor(max_workers=min(_FEW_PREFIXES, len(prefixes))) as pool:
                listings = list(pool.map(lambda p: _ls(location, f"{base}/{p}"), prefixes))
            names = [name for found in listings for name in found]
        else:
            names = list(fs.find(base)) if fs.exists(base) else []
    return {oid for n in names if (oid := layout.listed_oid(n, to_oid)) is not None}


def all_objects(location: Location) -> set[str]:
    """Every object id under ``files/md5`` and in DVC 2's ``<2 hex>/`` folders."""
    root = location.root.rstrip("/")
    base = location.join("files", "md5")
    fs = location.fs
    with storage_errors(location, "list objects"):
        fs.invalidate_cache(root)
        fs.invalidate_cache(base)
        names = list(fs.find(base)) if fs.exists(base) else []
        ids = {i for n in names if (i := layout.listed_oid(n, lambda m: m)) is not None}
        for folder in _ls(location, root):
            if layout.PREFIX_RE.match(folder.rstrip("/").split("/")[-1]):
                for name in _ls(location, folder):
                    if (oid := layout.listed_oid(name, legacy_oid)) is not None:
                        ids.add(oid)
    return ids
