"""DVC 3's content-addressed object store over any fsspec filesystem.

Provides:
    ObjectStore: ``files/md5/<h[:2]>/<h[2:]>`` objects (``.dir`` manifests as
        ``<md5>.dir``) under a root that is a local cache dir or a remote:
        ``oid_path``, ``exists``, ``existing`` (bulk), ``add_file``, ``add_bytes``,
        ``add_tree``, ``read_tree`` (verified), ``checkout_file``, ``checkout``
        (verified, atomic), ``transfer`` (store to store, threaded) and
        ``abort_incomplete_uploads`` (S3 multipart uploads a killed push left).
    TransferResult: what a ``transfer`` copied, skipped and could not find.
    md5_file(path): streaming md5, the default verifier (``hashing.md5_file``).

Every method takes object ids (:attr:`HashInfo.oid`): a plain md5 is a DVC 3
object; ``md5-dos2unix:<md5>`` is one DVC 2 wrote, kept in DVC 2's layout
``<h[:2]>/<h[2:]>`` and checked with its own hash (``layout.py``), as DVC
3.67.1 still reads and writes them.

Invariants (DESIGN principle 5): an object appears under its final name only
whole (temp name + rename on disk, one PUT or a completed multipart upload on
object stores); a ``.dir`` manifest is written after every file it names;
every object read for a restore or a push is checked against its md5, and a
failed restore leaves the workspace as it was.

Checking a local object costs a read unless the state DB proves it unchanged
since it was last verified: its entry is keyed by (inode, size, mtime, ctime)
and written only by a read that found the right md5 (or right after we wrote
the object ourselves). Our own ``chmod`` and hardlink calls move the ctime,
so the entry is re-recorded right after them; otherwise every warm restore
would re-hash. A push hashes the bytes as it reads them for the upload (one
read) and refuses an object whose bytes do not match its name, aborting the
multipart upload it may have begun.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from fsspec import AbstractFileSystem

from prefect_dvc import tmpnames
from prefect_dvc.errors import CorruptObjectError, MissingObjectError, StorageError
from prefect_dvc.storage import layout, links, listing, uploads
from prefect_dvc.storage.hashinfo import DIR_SUFFIX, HashInfo, Tree
from prefect_dvc.storage.hashing import md5_file
from prefect_dvc.storage.legacy import split_oid
from prefect_dvc.storage.location import Location, open_location, storage_errors
from prefect_dvc.storage.state import StateDB

CHUNK = 1 << 20
_VERIFY_HINT = (
    "Run 'prefect-dvc cache verify' to list every bad object; delete them and re-run"
    " the stages that make them, or pull them from a good remote"
)
logger = logging.getLogger(__name__)

_FIX_HINT = "Delete it and run again, or pull it from the remote"

Verifier = Callable[[Path], str]


def md5_stream(fobj: BinaryIO, sink: BinaryIO | None = None, oid: str = "") -> str:
    """md5 of a stream read in 1 MiB blocks, copying the bytes to ``sink`` if given.

    With the id ``oid`` of a legacy object, its ``md5-dos2unix`` (``layout.new_digest``).
    """
    digest = layout.new_digest(oid)
    while block := fobj.read(CHUNK):
        digest.update(block)
        if sink is not None:
            sink.write(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TransferResult:
    """Outcome of :meth:`ObjectStore.transfer`: object ids, ``.dir`` manifests included."""

    transferred: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


_check_oid = layout.check_oid


class ObjectStore:
    """Objects under ``<root>/files/md5`` of one filesystem.

    Args:
        location: the filesystem and root (see :func:`ObjectStore.from_url`).
        verify: path -> md5 used to check local objects before use; pass a
            state-DB backed hasher so unchanged objects are not re-read.
            Defaults to :func:`md5_file`.
        state: the state DB ``verify`` remembers in; objects this store writes
            or hardlinks are (re-)recorded there as verified.
    """

    def __init__(
        self,
        location: Location,
        *,
        verify: Verifier | None = None,
        state: StateDB | None = None,
    ) -> None:
        self.location = location
        self.verify: Verifier = verify or md5_file
        self.state = state

    @classmethod
    def from_url(
        cls,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        verify: Verifier | None = None,
        state: StateDB | None = None,
        shared: bool = False,
    ) -> ObjectStore:
        """A store at a local path, ``file://``, ``s3://bucket/prefix`` or ``memory://root``.

        ``shared``: ``cache.shared = group`` (:meth:`Location.make_dirs`).
        """
        location = open_location(url, storage_options, shared=shared)
        return cls(location, verify=verify, state=state)

    @property
    def fs(self) -> AbstractFileSystem:
        return self.location.fs

    @property
    def is_local(self) -> bool:
        return self.location.is_local

    def __repr__(self) -> str:
        return f"ObjectStore({self.location.safe_url!r})"

    def oid_path(self, md5: str) -> str:
        """``<root>/files/md5/<h[:2]>/<h[2:]>`` (``.dir`` kept on manifests).

        A legacy id (``md5-dos2unix:<md5>``, :attr:`HashInfo.oid`) is DVC 2's
        ``<root>/<h[:2]>/<h[2:]>``, where DVC 3 still looks for it.
        """
        return self.location.join(*layout.oid_parts(md5))

    def _display(self, md5: str) -> str:
        return "/".join([self.location.safe_url.rstrip("/"), *layout.oid_parts(md5)])

    def url_of(self, md5: str) -> str:
        """Where object ``md5`` is, for people: its path, or the store's URL without credentials."""
        return self.oid_path(md5) if self.is_local else self._display(md5)

    # ------------------------------------------------------------------ queries

    def exists(self, md5: str) -> bool:
        path = self.oid_path(md5)
        with storage_errors(self.location, f"look up object {md5}"):
            self.fs.invalidate_cache(path)
            return bool(self.fs.exists(path))

    def existing(self, md5s: Iterable[str]) -> set[str]:
        """Which of ``md5s`` (object ids) are present, from listings (``listing.existing``)."""
        return listing.existing(self.location, md5s)

    def all_objects(self) -> set[str]:
        """Every object id in the store, DVC 2's layout included, for ``gc``."""
        return listing.all_objects(self.location)

    def remove(self, md5s: Iterable[str]) -> None:
        """Delete objects (``gc``); read-only local objects are made writable first."""
        paths = [self.oid_path(m) for m in md5s]
        with storage_errors(self.location, "remove objects"):
            for path in paths:
                if self.is_local:
                    Path(path).chmod(0o644)
                self.fs.rm_file(path)

    def abort_incomplete_uploads(self, older_than: timedelta) -> int:
        """Abort the multipart uploads under this store's root begun over ``older_than`` ago.

        See :func:`prefect_dvc.storage.uploads.abort_incomplete_uploads`.
        """
        with storage_errors(self.location, "list incomplete multipart uploads"):
            return uploads.abort_incomplete_uploads(self.fs, self.location.root, older_than)

    # ------------------------------------------------------------------ writing

    def add_file(self, src: Path, md5: str) -> None:
        """Store the file ``src`` as object ``md5`` (skipped when already present and good).

        On local disk the bytes are cloned or copied to a temp name beside the
        object, checked against ``md5``, made read-only (0444), then renamed;
        a present object that fails verification is replaced by these good
        bytes. On an object store it is one upload, hashed while it is read.

        Raises:
            StorageError: ``src`` no longer hashes to ``md5`` (it changed after
                being hashed); nothing is stored.
        """
        if not self.is_local:
            if self.exists(md5):
                return
            actual = self._upload(src, md5)
            if actual is not None:
                raise _changed(src, md5, actual)
            return
        path = self.oid_path(md5)
        if self._good_local(md5, path):
            return
        tmp = self._local_tmp(path)
        try:
            links.link(src, tmp, ("reflink", "copy"))
            actual = layout.file_md5(md5, tmp, md5_file)
            if actual != layout.expected(md5):
                raise _changed(src, md5, actual)
            self._adopt(tmp, path)
            self._remember(path, md5)
        finally:
            tmp.unlink(missing_ok=True)

    def _good_local(self, md5: str, path: str) -> bool:
        """Is the local object present and verified? A corrupt one is reported, not kept."""
        if not os.path.lexists(path):
            return False
        try:
            actual = layout.file_md5(md5, Path(path), self.verify)
        except FileNotFoundError:
            return False
        if actual == layout.expected(md5):
            return True
        # NOTE: not str(self._corrupt(...)): its "delete it" hint is what happens here.
        logger.warning(
            "%s: object is corrupt (its content hashes to %s, not %s);"
            " replacing it with the bytes just produced",
            self._display(md5),
            actual,
            md5,
        )
        return False

    def _proven_local(self, md5s: Iterable[str]) -> set[str]:
        """The local objects among ``md5s`` the state DB vouches for (one lookup).

        Vouched means recorded with this md5 under the object's current stat;
        everything else (absent, unknown, changed) must go through a check.
        """
        if self.state is None:
            return set()
        stats = []
        # NOTE: the state DB holds raw md5s; a legacy object is always re-read.
        for md5 in {m for m in md5s if not split_oid(m)[0]}:
            path = self.oid_path(md5)
            try:
                stats.append((md5, path, os.stat(path)))
            except OSError:
                continue
        known = self.state.get_many([(path, st) for _, path, st in stats])
        return {md5 for (md5, _, _), got in zip(stats, known) if got == md5}

    def _remember(self, path: str, md5: str) -> None:
        """Record ``path`` as verified to hold ``md5`` under its current stat (ctime included)."""
        self._remember_many([md5])

    def _remember_many(self, md5s: Iterable[str]) -> None:
        """:meth:`_remember` for many local objects, in one state-DB transaction."""
        if self.state is None:
            return
        rows = []
        for md5 in {m for m in md5s if not split_oid(m)[0]}:
            path = self.oid_path(md5)
            with storage_errors(self.location, f"stat '{path}'"):
                # NOTE: the state DB holds content md5s; a manifest's id adds '.dir'.
                rows.append((path, os.stat(path), md5.removesuffix(DIR_SUFFIX)))
        self.state.set_many(rows)

    def _upload(self, src: Path, md5: str) -> str | None:
        """Upload the local file ``src`` as object ``md5``, hashing it while reading.

        Returns ``None`` when stored, or the md5 the bytes actually have, in
        which case nothing was stored (a begun multipart upload is aborted).
        """
        with storage_errors(self.location, f"upload object {md5}"):
            if layout.is_dos2unix(md5):
                # NOTE: DVC 2 objects are rare and small; check first, then one put.
                actual = layout.file_md5(md5, src, md5_file)
                if actual != layout.expected(md5):
                    return actual
                self.fs.put_file(str(src), self.oid_path(md5))
                return None
            return uploads.upload_verified(self.fs, src, self.oid_path(md5), md5)

    def add_bytes(self, data: bytes, md5: str) -> None:
        """Store small ``data`` (a ``.dir`` manifest) as object ``md5``.

        As :meth:`add_file`: a present local object is kept only if it
        verifies; a corrupt one is replaced atomically by ``data``.
        """
        actual = layout.bytes_md5(md5, data)
        if actual != layout.expected(md5):
            raise StorageError(f"object data does not hash to {md5} (got {actual})")
        path = self.oid_path(md5)
        if not self.is_local:
            if self.exists(md5):
                return
            with storage_errors(self.location, f"upload object {md5}"):
                self.fs.pipe_file(path, data)
            return
        if self._good_local(md5, path):
            return
        tmp = self._local_tmp(path)
        try:
            with storage_errors(self.location, f"write '{tmp}'"):
                tmp.write_bytes(data)
            self._adopt(tmp, path)
            self._remember(path, md5)
        finally:
            tmp.unlink(missing_ok=True)

    def _local_tmp(self, path: str) -> Path:
        """A temp name beside the object, naming this host and process (``tmpnames``)."""
        final = Path(path)
        with storage_errors(self.location, f"create '{final.parent}'"):
            self.location.make_dirs(final.parent)
            if self.location.shared:
                # NOTE: teammates' processes register in the same folder.
                self.location.make_dirs(Path(self.location.root) / tmpnames.WRITERS_DIR)
            tmpnames.register_writer(Path(self.location.root))
        return final.with_name(tmpnames.tmp_name(final.name))

    def _adopt(self, tmp: Path, path: str) -> None:
        with storage_errors(self.location, f"store '{path}'"):
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            # NOTE: concurrent writers of one object each rename a whole file of
            # identical bytes over the name; whichever lands last is intact.
            os.replace(tmp, path)

    def add_tree(
        self, src_dir: Path, tree: Tree, *, jobs: int | None = None, legacy: bool = False
    ) -> HashInfo:
        """Store every file of ``tree`` (from ``src_dir``), then its ``.dir`` manifest.

        The manifest goes last so this store never holds a manifest whose files
        are missing, even if the call is interrupted. On local disk every
        object, the manifest included, goes through the check of
        :meth:`add_file` even when present (a state-DB lookup when it is
        known good), so a corrupt one is healed by saving the out again; a
        remote store skips what it lists as present.
        """
        info = tree.hash_info(legacy=legacy)
        if self.is_local:
            proven = self._proven_local(e.oid for e in tree.entries)
            todo = {e.oid: e.relpath for e in tree.entries if e.oid not in proven}
        else:
            if self.exists(info.oid):
                return info
            present = self.existing(e.oid for e in tree.entries)
            todo = {e.oid: e.relpath for e in tree.entries if e.oid not in present}
        with ThreadPoolExecutor(max_workers=jobs or _default_jobs()) as pool:
            list(pool.map(lambda item: self.add_file(src_dir / item[1], item[0]), todo.items()))
        self.add_bytes(tree.manifest_bytes(), info.oid)
        return info

    # ------------------------------------------------------------------ reading

    def read_bytes(self, md5: str) -> bytes:
        """The object's bytes, verified against ``md5``.

        Raises:
            MissingObjectError, CorruptObjectError: both name the object's path.
        """
        path = self.oid_path(md5)
        with storage_errors(self.location, f"read object {md5}"):
            try:
                data = bytes(self.fs.cat_file(path))
            except FileNotFoundError:
                raise self._missing(md5) from None
        actual = layout.bytes_md5(md5, data)
        if actual != layout.expected(md5):
            raise self._corrupt(md5, actual)
        return data

    def read_tree(self, md5_dir: str) -> Tree:
        """The verified ``.dir`` manifest ``md5_dir`` as a :class:`Tree`."""
        if not md5_dir.endswith(DIR_SUFFIX):
            raise StorageError(f"'{md5_dir}' is not a directory object id (no '.dir')")
        data = self.read_bytes(md5_dir)
        try:
            return Tree.from_manifest(data, legacy=split_oid(md5_dir)[0])
        except (ValueError, KeyError, TypeError):
            raise self._corrupt(md5_dir, "an unreadable manifest") from None

    def _verify_local(self, md5: str, path: str) -> None:
        """Raise unless the local object ``md5`` exists and its bytes hash to its name."""
        try:
            actual = layout.file_md5(md5, Path(path), self.verify)
        except FileNotFoundError:
            raise self._missing(md5) from None
        if actual != layout.expected(md5):
            raise self._corrupt(md5, actual)

    def _missing(self, md5: str) -> MissingObjectError:
        return MissingObjectError(
            f"object {md5} is missing",
            path=self._display(md5),
            hint="Pull it from the remote (prefect-dvc pull), or re-run the stage that makes it",
        )

    def _corrupt(self, md5: str, actual: str) -> CorruptObjectError:
        return CorruptObjectError(
            f"object is corrupt: its content hashes to {actual}, not {md5}",
            path=self._display(md5),
            hint=_FIX_HINT,
        )

    def materialize(self, md5: str, target: Path, link_types: Sequence[str]) -> str:
        """Create the new file ``target`` with the verified content of object ``md5``.

        Returns:
            The link type used (``"download"`` from a remote store).
        """
        path = self.oid_path(md5)
        if self.is_local:
            self._verify_local(md5, path)
            return links.link(Path(path), target, link_types)
        with storage_errors(self.location, f"download object {md5}"):
            try:
                with self.fs.open(path, "rb") as src, open(target, "xb") as sink:
                    actual = md5_stream(src, sink, md5)
            except FileNotFoundError:
                target.unlink(missing_ok=True)
                raise self._missing(md5) from None
        if actual != layout.expected(md5):
            target.unlink(missing_ok=True)
            raise self._corrupt(md5, actual)
        return "download"

    # ------------------------------------------------------------------ restoring

    def checkout_file(
        self,
        md5: str,
        dest: Path,
        link_types: Sequence[str] = links.DEFAULT_LINK_TYPES,
        *,
        root: Path | None = None,
        isexec: bool = False,
    ) -> None:
        """Replace whatever is at ``dest`` by the file object ``md5``, atomically.

        ``root``: the workspace ``dest`` must be safely inside (``safety.py``).
        With ``isexec`` the new file gets its owner execute bit before it is
        renamed into place (:func:`links.set_exec`, DVC's rule).
        """
        links.check_link_types(link_types)
        used: list[str] = []

        def make(tmp: Path) -> None:
            used.append(self.materialize(md5, tmp, link_types))
            if isexec:
                links.set_exec(tmp)

        links.replace_file(dest, make, root=root)
        if used == ["hardlink"]:
            # NOTE: linking and renaming the link moved the object's ctime;
            # without this the next restore of it would have to re-hash it.
            self._remember(self.oid_path(md5), md5)

    def checkout(
        self,
        info: HashInfo,
        dest: Path,
        link_types: Sequence[str] = links.DEFAULT_LINK_TYPES,
        *,
        jobs: int | None = None,
        keep: Sequence[str] = (),
        root: Path | None = None,
    ) -> None:
        """Restore a file or a whole directory at ``dest``.

        A file recorded with ``isexec`` (and a manifest entry carrying it)
        gets its owner execute bit, as DVC's checkout does; files of a
        directory otherwise get none, as in DVC, whose manifests do not
        record the bit. A directory is built complete in a temp folder beside ``dest`` and
        swapped in; if any object is missing or corrupt nothing changes.
        ``keep`` (paths relative to ``dest``) are carried over from the old
        folder unchanged (``.dvcignore``d files, see ``links.replace_dir``).
        With ``root``, ``dest`` must be a path of that workspace that
        :func:`prefect_dvc.safety.check_workspace_path` accepts.
        """
        if not info.is_dir:
            self.checkout_file(info.oid, dest, link_types, root=root, isexec=info.isexec)
            return
        links.check_link_types(link_types)
        tree = self.read_tree(info.oid)
        files = [(e.oid, e.relpath) for e in tree.entries]
        executable = [e.relpath for e in tree.entries if e.isexec]

        linked: list[str] = []

        def make(md5: str, target: Path) -> None:
            if self.materialize(md5, target, link_types) == "hardlink":
                linked.append(md5)  # NOTE: list.append is atomic under the GIL

        links.replace_dir(dest, files, make, jobs, keep, root=root, executable=executable)
        self._remember_many(linked)

    # ------------------------------------------------------------------ transfer

    def transfer(
        self, md5s: Iterable[str], dest: ObjectStore, jobs: int | None = None
    ) -> TransferResult:
        """Copy the objects ``dest`` lacks (``.dir`` expanded to its files) from here.

        Files go first and each manifest only after all of its files, so
        ``dest`` never holds a manifest pointing at missing objects. A manifest
        already in ``dest`` is still expanded, so files lost from ``dest``
        (a deleted or half-synced cache) are filled in. Objects not in this
        store are reported in ``missing``, not raised.
        """
        wanted = {_check_oid(m) for m in md5s}
        have = dest.existing(wanted)
        dirs, missing = self._expand(
            sorted(m for m in wanted if m.endswith(DIR_SUFFIX)), have, dest
        )
        files = {m for m in wanted if not m.endswith(DIR_SUFFIX)}
        files |= {m for entries in dirs.values() for m in entries}
        have |= dest.existing(files - have)
        todo = sorted(files - have)
        with ThreadPoolExecutor(max_workers=jobs or _default_jobs()) as pool:
            results = list(pool.map(lambda m: self._copy_to(m, dest), todo))
        missing |= {m for m, ok in zip(todo, results) if not ok}
        done = [m for m, ok in zip(todo, results) if ok]
        for md5, entries in sorted(dirs.items()):
            if entries & missing:
                missing.add(md5)
            elif md5 not in have:
                dest.add_bytes(self.read_bytes(md5), md5)
                done.append(md5)
        skipped = tuple(sorted(have & (files | wanted)))
        return TransferResult(tuple(done), skipped, tuple(sorted(missing)))

    def _expand(
        self, dir_md5s: Iterable[str], have: set[str], dest: ObjectStore
    ) -> tuple[dict[str, set[str]], set[str]]:
        """File md5s of each manifest, and the manifests neither store has.

        A manifest the destination already has is read there (a local read
        instead of one remote round trip per directory on fetch); one missing
        here but present in the destination is not missing.
        """
        dirs: dict[str, set[str]] = {}
        missing: set[str] = set()
        for md5 in dir_md5s:
            if md5 in have:
                try:
                    dirs[md5] = {e.oid for e in dest.read_tree(md5).entries}
                    continue
                except (MissingObjectError, CorruptObjectError):
                    pass  # NOTE: read it from here instead; the copy overwrites nothing.
            try:
                dirs[md5] = {e.oid for e in self.read_tree(md5).entries}
            except MissingObjectError:
                if md5 not in have:
                    missing.add(md5)
        return dirs, missing

    def _copy_to(self, md5: str, dest: ObjectStore) -> bool:
        """Copy one verified object; False when this store does not have it."""
        path = self.oid_path(md5)
        if self.is_local:
            if not os.path.exists(path):
                return False
            if dest.is_local:
                self._verify_local(md5, path)
                dest.add_file(Path(path), md5)
                return True
            actual = dest._upload(Path(path), md5)
            if actual is not None:
                raise CorruptObjectError(
                    f"object is corrupt: its content hashes to {actual}, not {md5};"
                    f" it was not uploaded to '{dest.location.safe_url}'",
                    path=self._display(md5),
                    hint=_VERIFY_HINT,
                )
            return True
        try:
            if dest.is_local:
                final = dest.oid_path(md5)
                tmp = dest._local_tmp(final)
                try:
                    self.materialize(md5, tmp, ("copy",))
                    dest._adopt(tmp, final)
                    dest._remember(final, md5)
                finally:
                    tmp.unlink(missing_ok=True)
                return True
            with tempfile.TemporaryDirectory(prefix="prefect-dvc-") as staging:
                tmp = Path(staging) / "object"
                self.materialize(md5, tmp, ("copy",))
                dest.add_file(tmp, md5)
        except MissingObjectError:
            return False
        return True


def _changed(src: Path, md5: str, actual: str) -> StorageError:
    return StorageError(
        f"'{src}' changed while it was being cached (expected md5 {md5}, got {actual})",
        path=str(src),
        hint="Make sure nothing writes to it, and run again",
    )


def _default_jobs() -> int:
    # NOTE: I/O bound (network round trips), so more threads than cores, as DVC does.
    return min(32, 4 * (os.cpu_count() or 1))
