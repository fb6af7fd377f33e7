"""Hash values as DVC 3 records them, and the ``.dir`` manifest format.

Provides:
    HashInfo: the ``md5``/``size``/``nfiles``/``isexec`` of a file or
        directory, with its lock-file spelling.
    is_exec(mode): DVC's test of a stat mode for ``isexec``.
    meta_problem(item): why a lock dep/out item's hash metadata breaks DVC's
        schema, or ``None``.
    DirEntry, Tree: a directory listing and its manifest bytes, which DVC
        stores as the object ``<md5>.dir``.

Pure data: computing hashes from files lives in ``hashing.py``.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect_dvc.storage.legacy import legacy_oid

DIR_SUFFIX = ".dir"
_ANY_EXEC = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


def is_exec(mode: int) -> bool:
    """True when ``mode`` (a ``st_mode``) has any execute bit, user, group or other.

    The test DVC 3.67.1 applies to a file's stat for its ``isexec`` meta
    (``dvc_objects.fs.utils.is_exec``).
    """
    return bool(mode & _ANY_EXEC)


# NOTE: DVC's lock schema (`dvc/output.py` META_SCHEMA): bool is an int to voluptuous.
_META_TYPES: Mapping[str, tuple[type, ...]] = {
    "size": (int,),
    "nfiles": (int,),
    "isexec": (bool,),
}


def meta_problem(item: Mapping[str, Any]) -> str | None:
    """Why ``item`` (one dep or out of a lock entry) fails DVC 3.67.1's META_SCHEMA.

    DVC refuses such a ``dvc.lock`` ("validation failed: expected bool ...")
    and ignores such a run-cache entry. Returns ``None`` when ``size`` and
    ``nfiles`` are integers and ``isexec`` is a YAML boolean (or absent).
    """
    for key, types in _META_TYPES.items():
        if key in item and not isinstance(item[key], types):
            expected = "true or false" if key == "isexec" else "an integer"
            return f"'{key}' of '{item.get('path')}' is {item[key]!r}, expected {expected}"
    return None


def _lock_isexec(entry: Mapping[str, Any]) -> bool:
    # NOTE: DVC's lock schema takes only a YAML boolean here; anything else is not "true".
    return entry.get("isexec") is True


@dataclass(frozen=True)
class HashInfo:
    """The identity of a file or directory in DVC 3's md5 scheme.

    ``md5`` ends with ``.dir`` for directories; ``size`` is the byte count
    (the sum of file sizes for a directory) and ``nfiles`` is set only for
    directories. ``isexec`` is True for a file with any execute bit (never
    for a directory): DVC 3 writes it to ``dvc.lock`` and run-cache entries
    (``Meta.to_dict``, after ``size``), hashes it into the run-cache key, and
    sets the owner's execute bit again when it checks the file out.
    """

    md5: str
    size: int
    nfiles: int | None = None
    isexec: bool = False
    legacy: bool = False

    @property
    def oid(self) -> str:
        """The object id in the stores: the md5, or ``md5-dos2unix:<md5>`` when legacy."""
        return legacy_oid(self.md5) if self.legacy else self.md5

    @classmethod
    def for_file(cls, md5: str, size: int, mode: int) -> HashInfo:
        """A file's hash whose ``isexec`` comes from its ``st_mode`` (:func:`is_exec`)."""
        return cls(md5=md5, size=size, isexec=is_exec(mode))

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)

    def to_lock(self, path: str) -> dict[str, Any]:
        """The ``dvc.lock`` entry for ``path``: ``path, hash, md5, size[, nfiles][, isexec]``.

        The order of DVC 3.67.1's ``to_single_stage_lockfile``; ``isexec``
        appears only when true (``Meta.to_dict``). A legacy hash is written
        as DVC 3 keeps an unchanged DVC 2 entry: without ``hash: md5``.
        """
        entry: dict[str, Any] = {"path": path, "hash": "md5", "md5": self.md5, "size": self.size}
        if self.legacy:
            del entry["hash"]
        if self.nfiles is not None:
            entry["nfiles"] = self.nfiles
        if self.isexec:
            entry["isexec"] = True
        return entry

    @classmethod
    def from_lock(cls, entry: Mapping[str, Any]) -> HashInfo | None:
        """Read a lock/run-cache entry; ``None`` when it carries no md5.

        An ``md5`` without ``hash: md5`` is DVC 2's ``md5-dos2unix`` value
        (``legacy``), as DVC 3.67.1 reads it (``Output._compute_hash_info_from_meta``);
        any other ``hash`` name is not an md5 we can compare.
        """
        md5 = entry.get("md5")
        if not md5 or entry.get("hash") not in ("md5", None):
            return None
        return cls(
            md5=str(md5),
            size=int(entry.get("size") or 0),
            nfiles=entry.get("nfiles"),
            isexec=_lock_isexec(entry),
            legacy="hash" not in entry,
        )


@dataclass(frozen=True)
class DirEntry:
    """One file of a directory: POSIX path relative to the directory, md5, size.

    ``isexec`` is True only when read from a manifest entry that says so:
    DVC writes manifests without meta (``Tree.as_bytes()``), so a file's
    execute bit inside a directory is not recorded, but DVC's reader
    (``Tree.from_list``) honours an ``isexec`` it finds, and so do we.
    """

    relpath: str
    md5: str
    size: int
    isexec: bool = False
    legacy: bool = False

    @property
    def oid(self) -> str:
        """The entry's object id: legacy when its manifest is a legacy object."""
        return legacy_oid(self.md5) if self.legacy else self.md5


@dataclass(frozen=True)
class Tree:
    """A directory as DVC 3 hashes it: its files sorted by ``relpath`` code points."""

    entries: tuple[DirEntry, ...]

    @classmethod
    def from_entries(cls, entries: Iterable[DirEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.relpath)))

    def manifest_bytes(self) -> bytes:
        """The exact bytes DVC writes to ``<md5>.dir`` (json.dumps defaults, sorted keys)."""
        listing = [_manifest_item(e) for e in self.entries]
        return json.dumps(listing, sort_keys=True).encode("utf-8")

    def hash_info(self, *, legacy: bool = False) -> HashInfo:
        """The ``.dir`` hash: the plain md5 of the manifest, also for a legacy tree
        (whose entries hold ``md5-dos2unix`` values; DVC's ``Tree.digest``)."""
        digest = hashlib.md5(self.manifest_bytes()).hexdigest()
        return HashInfo(
            md5=digest + DIR_SUFFIX,
            size=sum(e.size for e in self.entries),
            nfiles=len(self.entries),
            legacy=legacy,
        )

    @classmethod
    def from_manifest(cls, data: bytes, *, legacy: bool = False) -> Tree:
        """Parse manifest bytes (sizes are not in the manifest and read as -1).

        ``legacy``: the manifest is a DVC 2 object, so its files are legacy objects.
        """
        listing = json.loads(data.decode("utf-8"))
        return cls.from_entries(
            DirEntry(
                relpath=item["relpath"],
                md5=item["md5"],
                size=-1,
                # NOTE: truthiness, as DVC's Meta.from_dict then `if meta.isexec`.
                isexec=bool(item.get("isexec")),
                legacy=legacy,
            )
            for item in listing
        )


def _manifest_item(entry: DirEntry) -> dict[str, Any]:
    """One manifest item; ``isexec`` only where a parsed manifest carried it (round trip)."""
    item: dict[str, Any] = {"md5": entry.md5, "relpath": entry.relpath}
    if entry.isexec:
        item["isexec"] = True
    return item
