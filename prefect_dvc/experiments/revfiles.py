"""Read a file of any revision that lives in a cached out: through ``dvc.lock`` and the cache.

Provides:
    locked_outs(dvcyaml, lock, base=): repo path -> md5 of each cached out a
        revision's ``dvc.lock`` records (DVC 3 ``hash: md5`` entries).
    out_object(outs, rel, objects): the md5 of file ``rel`` at that revision:
        an out itself, or a file inside a directory out (its ``.dir`` manifest).
    owner(outs, rel), unreadable(outs, rel, objects): the out holding ``rel``;
        whether its object (or manifest) cannot be read from any store.
    files_under(outs, rel, objects): the repo paths of the files a cached
        directory (or a folder inside one) holds at that revision.
    ObjectReader: verified object bytes and manifests, each object read once;
        an object only on the default remote is fetched into the local cache
        (short timeouts, ``RemoteGate`` in consult mode). A failure is one
        warning line and ``None``, never an exception: a remote is never
        required to show a table.
    MISSING: the ``FileError`` DVC 3.67.1 reports for such a file
        (``dvc metrics show -a``: ``No storage files available``).

Why: DVC's get-started project keeps ``eval/metrics.json`` and its plots in
the cached out ``eval/``; the file is in no Git commit, so ``exp show``,
``metrics diff`` and ``plots diff`` must read it as DVC's ``DvcFileSystem``
does: the revision's lock entry, then the object in the cache.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect_dvc.config import load_config
from prefect_dvc.errors import (
    CorruptObjectError,
    MissingObjectError,
    PrefectDvcError,
    StorageError,
)
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage import layout
from prefect_dvc.storage.hashinfo import Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.legacy import legacy_oid, split_oid
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import Stores, open_stores
from prefect_dvc.yamlio import parse_yaml

__all__ = [
    "ObjectReader",
    "files_under",
    "locked_outs",
    "missing_error",
    "out_object",
    "owner",
    "unreadable",
]

logger = logging.getLogger(__name__)

_DIR = ".dir"


def missing_error(rel: str) -> tuple[str, str]:
    """DVC's ``(type, msg)`` for a file whose object is in no store it could reach."""
    return "FileNotFoundError", f"[Errno 2] No storage files available: '{rel}'"


def locked_outs(dvcyaml: bytes | None, lock: bytes | None, base: str = "") -> dict[str, str]:
    """Repo path -> md5 (``.dir`` for folders) of each out ``lock`` records with a DVC 3 hash.

    Lock paths are relative to the stage's ``wdir`` (from the raw ``dvc.yaml``)
    inside ``base``, the folder of the pipeline file. A file that does not
    parse gives no outs (the caller shows its own error for it).
    """
    if not lock:
        return {}
    try:
        stages = parse_lock(lock.decode("utf-8"), posixpath.join(base, "dvc.lock"))
        raw = parse_yaml(dvcyaml.decode("utf-8"), "dvc.yaml") if dvcyaml else None
    except (PrefectDvcError, UnicodeDecodeError):
        return {}
    defined = raw.get("stages") if isinstance(raw, dict) else None
    defined = defined if isinstance(defined, dict) else {}
    found: dict[str, str] = {}
    for name, entry in stages.items():
        wdir = _wdir(defined.get(str(name).split("@")[0]))
        for out in entry.get("outs") or []:
            md5 = out.get("md5")
            if isinstance(md5, str):
                path = posixpath.normpath(posixpath.join(base, wdir, str(out["path"])))
                # NOTE: a DVC 2 entry (no 'hash: md5') names a legacy object:
                # md5-dos2unix content, DVC 2's cache layout (storage/layout.py).
                found[path] = md5 if out.get("hash") == "md5" else legacy_oid(md5)
    return found


def _wdir(stage: Any) -> str:
    """A stage's plain ``wdir`` (a ``foreach`` stage keeps it under ``do``); ``.`` otherwise."""
    if not isinstance(stage, dict):
        return "."
    body = stage.get("do") if isinstance(stage.get("do"), dict) else stage
    wdir = body.get("wdir", ".")
    return wdir if isinstance(wdir, str) and "${" not in wdir else "."


def owner(outs: Mapping[str, str], rel: str) -> tuple[str, str] | None:
    """``(out path, md5)`` of the cached out holding ``rel`` (itself, else the nearest folder)."""
    rel = posixpath.normpath(rel)
    if rel in outs:
        return rel, outs[rel]
    parent = posixpath.dirname(rel)
    while parent not in ("", "."):
        if parent in outs and outs[parent].endswith(_DIR):
            return parent, outs[parent]
        parent = posixpath.dirname(parent)
    return None


def out_object(outs: Mapping[str, str], rel: str, objects: ObjectReader) -> str | None:
    """The md5 of file ``rel`` at the revision ``outs`` comes from, or ``None``.

    ``None`` when no cached out holds ``rel``, when ``rel`` is a folder, or
    when the folder's manifest cannot be read (``objects`` warned already).
    """
    found = owner(outs, rel)
    if found is None:
        return None
    path, md5 = found
    if not md5.endswith(_DIR):
        return md5 if path == posixpath.normpath(rel) else None
    tree = objects.tree(md5)
    inner = posixpath.relpath(posixpath.normpath(rel), path)
    return None if tree is None else tree.get(inner)


def unreadable(outs: Mapping[str, str], rel: str, objects: ObjectReader) -> bool:
    """``rel`` lies in a cached out whose object (or folder manifest) cannot be had."""
    found = owner(outs, rel)
    if found is None:
        return False
    if found[1].endswith(_DIR):
        return objects.tree(found[1]) is None
    return found[0] == posixpath.normpath(rel) and objects.read(found[1]) is None


def files_under(outs: Mapping[str, str], rel: str, objects: ObjectReader) -> list[str] | None:
    """Repo paths of the files in folder ``rel`` at that revision, sorted; ``None`` if unknown.

    ``rel`` is a cached directory out or a folder inside one.
    """
    rel = posixpath.normpath(rel)
    found = owner(outs, rel)
    if found is None or not found[1].endswith(_DIR):
        return None
    path, md5 = found
    tree = objects.tree(md5)
    if tree is None:
        return None
    prefix = "" if rel == path else posixpath.relpath(rel, path) + "/"
    found = [posixpath.join(path, name) for name in tree if name.startswith(prefix)]
    return sorted(found) or None


def _inside(relpath: str) -> bool:
    """A manifest path that stays inside its directory (no ``..``, not absolute, not empty)."""
    parts = relpath.split("/")
    return not relpath.startswith("/") and not {"", ".", ".."} & set(parts)


class ObjectReader:
    """Objects of the local cache (verified, each read once), else of the default remote.

    Args:
        root: the repository root; its ``.dvc/config`` names the cache and remote.
        strict: a corrupt local object raises ``CorruptObjectError`` (plots
            refuse rotted data, issue #11) and found objects are re-read and
            re-checked on every call; otherwise it is a warning and ``None``.
    """

    def __init__(self, root: Path, *, strict: bool = False) -> None:
        self.root = Path(root)
        self.strict = strict
        self._cache_dir: Path | None = None
        self._bytes: dict[str, bytes | None] = {}
        self._trees: dict[str, dict[str, str] | None] = {}
        self._stores: tuple[Stores, Hasher] | None = None
        self._remote_off = False
        self._gate_said_why = False
        self._warned = False

    def close(self) -> None:
        """Close the state DB opened for a fetch, if any."""
        if self._stores is not None:
            self._stores[1].close()
            self._stores = None

    def read(self, md5: str) -> bytes | None:
        """The object's bytes, hash-checked; ``None`` (after one warning) when unavailable.

        Raises:
            CorruptObjectError: only when ``strict`` and the local object is rotted.
        """
        if md5 not in self._bytes or (self.strict and self._bytes[md5] is not None):
            self._bytes[md5] = self._local(md5)
            if self._bytes[md5] is None:
                self._bytes[md5] = self._fetch(md5)
        return self._bytes[md5]

    def tree(self, md5: str) -> dict[str, str] | None:
        """A ``.dir`` manifest as ``{relpath: md5}``; ``None`` when unreadable."""
        if md5 not in self._trees:
            data = self.read(md5)
            try:
                tree = Tree.from_manifest(data) if data is not None else None
            except (ValueError, KeyError, TypeError):
                self._warn(f"the directory manifest {md5} in the cache is unreadable")
                tree = None
            entries = tree.entries if tree else ()
            if any(not _inside(e.relpath) for e in entries):
                self._warn(f"the directory manifest {md5} names a path outside its directory")
                tree = None
            legacy = split_oid(md5)[0]  # NOTE: a legacy manifest lists legacy objects
            self._trees[md5] = (
                {e.relpath: legacy_oid(e.md5) if legacy else e.md5 for e in entries}
                if tree
                else None
            )
        return self._trees[md5]

    def _path(self, md5: str) -> Path:
        if self._cache_dir is None:
            config = load_config(self.root)
            self._cache_dir = config.cache_dir or RepoPaths(self.root).default_cache_dir
        return self._cache_dir.joinpath(*layout.oid_parts(md5))

    def _local(self, md5: str) -> bytes | None:
        if len(md5) < 3 or "/" in md5 or md5.startswith("."):
            return None  # NOTE: a hostile lock value never becomes a path outside the cache
        try:
            path = self._path(md5)
        except StorageError:
            return None  # NOTE: not an object id at all (checked before any path is built)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        actual = layout.bytes_md5(md5, data)
        if actual != layout.expected(md5):
            if self.strict:
                raise CorruptObjectError(
                    f"object is corrupt: its content hashes to {actual}, not {md5}",
                    path=str(path),
                    hint="Run 'prefect-dvc cache verify', then pull the object or re-run its stage",
                )
            self._warn(f"object {md5} in the cache is corrupt (run 'prefect-dvc cache verify')")
            return None
        return data

    def _fetch(self, md5: str) -> bytes | None:
        stores = self._open()
        remote = stores.remote if stores is not None else None
        if remote is None:
            if self._gate_said_why:
                self._warned = True  # NOTE: the gate's one line already says why
            self._warn(f"object {md5} is not in the cache; run 'prefect-dvc fetch' to get it")
            return None
        try:
            data = remote.objects.read_bytes(md5)
            stores.local.add_bytes(data, md5)
        except MissingObjectError:
            self._warn(f"object {md5} is in neither the cache nor remote '{remote.name}'")
            return None
        except StorageError as exc:
            # NOTE: a remote that fails once is not asked again by this command,
            # so 1,000 missing objects never cost 1,000 timeouts.
            self._remote_off = True
            self.close()
            self._warn(f"object {md5} could not be fetched from remote '{remote.name}': {exc.msg}")
            return None
        return data

    def _open(self) -> Stores | None:
        if self._stores is None and not self._remote_off:
            try:
                paths = RepoPaths(self.root)
                config = load_config(self.root)
                if config.default_remote is None:
                    self._remote_off = True
                    return None
                # NOTE: a consulted gate warns itself when its probe fails, except
                # for http remotes, which it drops silently (they cannot list).
                scheme = config.remote().scheme
                self._gate_said_why = scheme not in ("http", "https")
                hasher = Hasher(StateDB(paths.state_db), root=paths.root)
                self._stores = (open_stores(paths, config, hasher, consult=True), hasher)
            except PrefectDvcError as exc:
                self._remote_off = True
                self._warn(f"the default remote cannot be used: {exc.msg}")
        return self._stores[0] if self._stores is not None else None

    def _warn(self, what: str) -> None:
        # NOTE: one line per command: the cells show '!', the line says why.
        if not self._warned:
            self._warned = True
            logger.warning("%s; files inside cached outs show as '!'", what)
