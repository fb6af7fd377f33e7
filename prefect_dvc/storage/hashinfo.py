"""Hash values as DVC 3 records them, and the ``.dir`` manifest format.

Provides:
    HashInfo: the ``md5``/``size``/``nfiles`` of a file or directory, with its
        lock-file spelling.
    DirEntry, Tree: a directory listing and its manifest bytes, which DVC
        stores as the object ``<md5>.dir``.

Pure data: computing hashes from files lives in ``hashing.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DIR_SUFFIX = ".dir"


@dataclass(frozen=True)
class HashInfo:
    """The identity of a file or directory in DVC 3's md5 scheme.

    ``md5`` ends with ``.dir`` for directories; ``size`` is the byte count
    (the sum of file sizes for a directory) and ``nfiles`` is set only for
    directories.
    """

    md5: str
    size: int
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)

    def to_lock(self, path: str) -> dict[str, Any]:
        """The ``dvc.lock`` entry for ``path``, fields in DVC's order."""
        entry: dict[str, Any] = {"path": path, "hash": "md5", "md5": self.md5, "size": self.size}
        if self.nfiles is not None:
            entry["nfiles"] = self.nfiles
        return entry

    @classmethod
    def from_lock(cls, entry: Mapping[str, Any]) -> HashInfo | None:
        """Read a lock/run-cache entry; ``None`` when it carries no DVC 3 md5.

        Entries without ``hash: md5`` are DVC 2's ``md5-dos2unix`` values,
        which are not comparable with raw-byte md5s.
        """
        md5 = entry.get("md5")
        if not md5 or entry.get("hash") != "md5":
            return None
        return cls(md5=str(md5), size=int(entry.get("size") or 0), nfiles=entry.get("nfiles"))


@dataclass(frozen=True)
class DirEntry:
    """One file of a directory: POSIX path relative to the directory, md5, size."""

    relpath: str
    md5: str
    size: int


@dataclass(frozen=True)
class Tree:
    """A directory as DVC 3 hashes it: its files sorted by ``relpath`` code points."""

    entries: tuple[DirEntry, ...]

    @classmethod
    def from_entries(cls, entries: Iterable[DirEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.relpath)))

    def manifest_bytes(self) -> bytes:
        """The exact bytes DVC writes to ``<md5>.dir`` (json.dumps defaults, sorted keys)."""
        listing = [{"md5": e.md5, "relpath": e.relpath} for e in self.entries]
        return json.dumps(listing, sort_keys=True).encode("utf-8")

    def hash_info(self) -> HashInfo:
        digest = hashlib.md5(self.manifest_bytes()).hexdigest()
        return HashInfo(
            md5=digest + DIR_SUFFIX,
            size=sum(e.size for e in self.entries),
            nfiles=len(self.entries),
        )

    @classmethod
    def from_manifest(cls, data: bytes) -> Tree:
        """Parse manifest bytes (sizes are not in the manifest and read as -1)."""
        listing = json.loads(data.decode("utf-8"))
        return cls.from_entries(
            DirEntry(relpath=item["relpath"], md5=item["md5"], size=-1) for item in listing
        )
