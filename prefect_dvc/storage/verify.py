"""``cache verify``: re-hash every object of a store and list the bad ones.

Provides:
    BadObject: one object that fails, with what was expected and found.
    VerifyReport: how many objects were checked, and the bad ones.
    verify_store(store, jobs, state): the check itself.

DVC has no such command (``dvc gc`` and ``dvc pull`` trust what they find;
a rotted object is only noticed, if at all, when it is restored). Here every
object is read whole, locally or streamed from a remote, and compared with
its name; a ``.dir`` manifest must also parse, and the files it names must
be present. Local objects that pass are recorded in the state DB as
verified (so the next restore does not read them again), and the real md5
of a bad one replaces any entry that vouched for it.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prefect_dvc.storage import layout
from prefect_dvc.storage.hashinfo import DIR_SUFFIX, Tree
from prefect_dvc.storage.legacy import split_oid
from prefect_dvc.storage.location import storage_errors
from prefect_dvc.storage.objects import CHUNK, ObjectStore
from prefect_dvc.storage.state import StateDB


@dataclass(frozen=True)
class BadObject:
    """An object that failed: ``problem`` says how (``"corrupt"``, ``"missing"``, ``"invalid"``).

    ``actual`` is the md5 its bytes have (empty when missing); ``path`` is
    where it is (a local path, or the remote's URL with credentials removed);
    ``named_by`` is the manifest that names a missing file.
    """

    oid: str
    path: str
    problem: str
    actual: str = ""
    named_by: str = ""

    def describe(self) -> str:
        """One line for the terminal."""
        if self.problem == "missing":
            return f"{self.path}\tmissing (named by {self.named_by})"
        if self.problem == "invalid":
            return f"{self.path}\tnot a valid .dir manifest"
        return f"{self.path}\texpected {self.oid}, got {self.actual}"


@dataclass(frozen=True)
class VerifyReport:
    """``checked`` objects were read; ``bad`` lists the failures, sorted by object id."""

    checked: int
    bad: tuple[BadObject, ...]


def _local_md5(path: str, oid: str = "") -> tuple[str, os.stat_result]:
    digest = layout.new_digest(oid)
    with open(path, "rb") as fobj:
        st = os.fstat(fobj.fileno())
        while block := fobj.read(CHUNK):
            digest.update(block)
    return digest.hexdigest(), st


def _check(store: ObjectStore, oid: str) -> tuple[str, os.stat_result | None, bytes | None]:
    """(actual md5, local stat or None, manifest bytes for a ``.dir``)."""
    path = store.oid_path(oid)
    with storage_errors(store.location, f"read object {oid}"):
        if oid.endswith(DIR_SUFFIX):
            data = bytes(store.fs.cat_file(path))
            return hashlib.md5(data).hexdigest(), None, data
        if store.is_local:
            md5, st = _local_md5(path, oid)
            # NOTE: the state DB holds raw md5s only; a legacy object's value is not one.
            return md5, (None if split_oid(oid)[0] else st), None
        digest = layout.new_digest(oid)
        with store.fs.open(path, "rb") as fobj:
            while block := fobj.read(CHUNK):
                digest.update(block)
        return digest.hexdigest(), None, None


def _manifest_files(data: bytes, legacy: bool = False) -> set[str] | None:
    """The file object ids a manifest names, or None when it is not a valid manifest."""
    try:
        return {entry.oid for entry in Tree.from_manifest(data, legacy=legacy).entries}
    except (ValueError, KeyError, TypeError):
        return None


def verify_store(
    store: ObjectStore, *, jobs: int | None = None, state: StateDB | None = None
) -> VerifyReport:
    """Read every object of ``store`` and report those whose bytes do not match their name.

    Args:
        store: a local cache or a remote's store.
        jobs: objects read at once (default: 4 per core, at most 32).
        state: the local cache's state DB, updated with what was found.

    Raises:
        StorageError, RemoteError: the store cannot be listed or read at all.
    """
    ids = sorted(store.all_objects())
    workers = jobs or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda oid: _check(store, oid), ids))
    bad: list[BadObject] = []
    seen: list[tuple[str, os.stat_result, str]] = []
    named: dict[str, str] = {}
    for oid, (actual, st, manifest) in zip(ids, results):
        if st is not None:
            seen.append((store.oid_path(oid), st, actual))
        if actual != layout.expected(oid):
            bad.append(BadObject(oid, store.url_of(oid), "corrupt", actual))
        elif manifest is not None:
            files = _manifest_files(manifest, split_oid(oid)[0])
            if files is None:
                bad.append(BadObject(oid, store.url_of(oid), "invalid", actual))
            else:
                named.update((md5, oid) for md5 in files)
    present = set(ids)
    for md5, manifest_oid in sorted(named.items()):
        if md5 not in present:
            bad.append(BadObject(md5, store.url_of(md5), "missing", named_by=manifest_oid))
    if state is not None:
        state.set_many(seen)
    return VerifyReport(len(ids), tuple(sorted(bad, key=lambda b: (b.oid, b.problem))))
