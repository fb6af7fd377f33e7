"""Where an object id lives in a store, and how its content is checked.

Provides:
    check_oid(oid): validate an object id (``<md5>[.dir]`` or ``md5-dos2unix:<md5>[.dir]``).
    oid_parts(oid): the path parts of an object under a store's root.
    LAYOUTS: the folders objects live in (``files/md5`` for DVC 3, the root for DVC 2)
        and how a listed ``<2 hex>/<rest>`` name turns back into an object id.
    bytes_md5(oid, data), file_md5(oid, path, verify): the value the object's
        content must hash to, computed the way its id was.
    Dos2UnixMd5-backed streaming: :func:`new_digest`.

DVC 3.67.1 keeps two object databases per cache and per remote
(``dvc/cachemgr.py``, ``dvc/data_cloud.py``): ``files/md5/<h[:2]>/<h[2:]>``
for ``md5`` objects and DVC 2's ``<h[:2]>/<h[2:]>`` for ``md5-dos2unix`` ones
(``legacy``). A legacy file object's name is its ``md5-dos2unix``; a ``.dir``
manifest's name is the plain md5 of its bytes in both layouts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from prefect_dvc.errors import StorageError
from prefect_dvc.storage.legacy import (
    Dos2UnixMd5,
    legacy_oid,
    md5_dos2unix_bytes,
    md5_dos2unix_file,
    split_oid,
)

DIR_SUFFIX = ".dir"
_OID = re.compile(r"^(md5-dos2unix:)?[0-9a-f]{32}(\.dir)?$")
# NOTE: what a listing of a layout's folder may hold besides objects (DVC's
# `files/`, `runs/`, `tmp/`, our temp names) never matches these.
PREFIX_RE = re.compile(r"^[0-9a-f]{2}$")
_REST_RE = re.compile(r"^[0-9a-f]{30}(\.dir)?$")


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def check_oid(oid: str) -> str:
    """``oid`` itself when it is an object id, else a one-line :class:`StorageError`."""
    if not _OID.match(oid):
        raise StorageError(
            f"'{oid}' is not an md5 object id",
            hint="Expected 32 hex digits, with '.dir' for a directory; check the lock file",
        )
    return oid


def oid_parts(oid: str) -> tuple[str, ...]:
    """``("files", "md5", h[:2], h[2:])``, or ``(h[:2], h[2:])`` for a legacy object."""
    legacy, md5 = split_oid(check_oid(oid))
    return (md5[:2], md5[2:]) if legacy else ("files", "md5", md5[:2], md5[2:])


# (folder parts under the root, listed name -> oid)
LAYOUTS: tuple[tuple[tuple[str, ...], Callable[[str], str]], ...] = (
    (("files", "md5"), lambda md5: md5),
    ((), legacy_oid),
)


def listed_oid(name: str, to_oid: Callable[[str], str]) -> str | None:
    """The object id a listed path ``.../<2 hex>/<rest>`` names in a layout, or ``None``."""
    parts = name.rstrip("/").split("/")
    if len(parts) < 2 or not PREFIX_RE.match(parts[-2]) or not _REST_RE.match(parts[-1]):
        return None
    return to_oid(parts[-2] + parts[-1])


def is_dos2unix(oid: str) -> bool:
    """Is the content of ``oid`` hashed with ``md5-dos2unix`` (a legacy file, not a manifest)?"""
    legacy, md5 = split_oid(oid)
    return legacy and not md5.endswith(DIR_SUFFIX)


def expected(oid: str) -> str:
    """The hex digest the object's content must have (the md5 without ``.dir``)."""
    return split_oid(oid)[1].removesuffix(DIR_SUFFIX)


def bytes_md5(oid: str, data: bytes) -> str:
    """The digest of ``data`` computed the way object ``oid`` is named."""
    return md5_dos2unix_bytes(data) if is_dos2unix(oid) else hashlib.md5(data).hexdigest()


def file_md5(oid: str, path: Path, verify: Callable[[Path], str]) -> str:
    """The digest of the local file ``path`` as ``oid`` is named; ``verify`` for md5 objects."""
    return md5_dos2unix_file(path) if is_dos2unix(oid) else verify(path)


def new_digest(oid: str) -> Digest:
    """A streaming hasher for the content of ``oid``."""
    return Dos2UnixMd5() if is_dos2unix(oid) else hashlib.md5()
