"""Hash files and directories the way DVC 3 does, fast.

Provides:
    md5_file(path): md5 of a file's raw bytes, streamed.
    Hasher: hashes files, directories (``.dir`` manifests) and batches of
        paths in parallel, remembering results in a :class:`StateDB`.
    RACY_WINDOW_NS, COARSE_RACY_WINDOW_NS: how old a file's mtime must be
        before its hash is remembered.

Hashing is the hot path of every ``status`` and ``repro``. So: every file of
every path in a call is looked up in the state DB in one batch; only misses
are read, in 256 KiB blocks into a reused buffer, on a thread pool (hashlib
releases the GIL on large buffers, so threads use every core); the new
hashes are stored in one transaction.

What DVC does, and we match (``formats.md`` §2.3, §3; checked against
``dvc add`` 3.67.1): a file's hash is the md5 of its raw bytes, and its
``isexec`` is true when its mode has any execute bit; a symlink to a file
counts as that file's content and mode; a symlink to a directory inside a
tracked directory is neither followed nor listed; a dangling symlink is an
error; an empty directory hashes as the manifest ``[]``. Where DVC would
hang (reading a FIFO), we raise :class:`StorageError` instead.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from prefect_dvc.errors import StorageError
from prefect_dvc.ignore import DVCIGNORE, IgnoreRules, rules_for
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.legacy import BLOCK, OID_PREFIX, Dos2UnixMd5, split_oid
from prefect_dvc.storage.state import StateDB

BLOCK_SIZE = 1 << 18
# NOTE: a file written again in the same clock tick as we read it keeps its
# mtime (and maybe its size), so its remembered hash would go stale silently.
# Like Git's "racily clean" entries, a hash is remembered only when the mtime
# is clearly older than the moment we started reading. Linux stamps files
# from a clock that ticks every 1-10 ms, hence 100 ms; a whole-second mtime
# betrays a coarse filesystem (FAT: 2 s, ext3/HFS+: 1 s), hence 2 s there.
RACY_WINDOW_NS = 100_000_000
COARSE_RACY_WINDOW_NS = 2_000_000_000
# NOTE: small files are handed to the pool in groups of about this many bytes,
# so that per-task overhead does not dominate for trees of tiny files.
_BATCH_BYTES = 4 << 20
_BATCH_FILES = 256

_buffers = threading.local()


def _buffer() -> memoryview:
    """This thread's reusable read buffer (allocating one per small file costs more than md5)."""
    buf: memoryview | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = memoryview(bytearray(BLOCK_SIZE))
    return buf


def _read_md5(path: str) -> tuple[str, os.stat_result, int]:
    """md5 of ``path``, the stat its bytes were read under, and the bytes read."""
    digest = hashlib.md5()
    buf = _buffer()
    nbytes = 0
    with open(path, "rb", buffering=0) as fobj:
        st = os.fstat(fobj.fileno())
        if st.st_size > BLOCK_SIZE and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fobj.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while n := fobj.readinto(buf):
            digest.update(buf[:n])
            nbytes += n
    return digest.hexdigest(), st, nbytes


def md5_file(path: Path) -> str:
    """The md5 of the file's raw bytes (DVC 3's ``hash: md5``), read in 256 KiB blocks.

    Measured (page cache, 2 vCPU, Python 3.11): on one 1 GiB file,
    ``hashlib.file_digest`` and ``readinto`` loops with 64 KiB-8 MiB blocks
    all ran at 565-585 MiB/s, bound by md5 itself; on 10,000 files of 105 KiB,
    just reading them into a 1 MiB buffer was up to 3x slower than into 256 KiB. So:
    our own loop (it also runs on 3.10) with a reused 256 KiB buffer.
    """
    return _read_md5(os.fspath(path))[0]


@dataclass(frozen=True, slots=True)
class _File:
    """One file to hash: its state-DB key (absolute path), relpath in its tree, stat."""

    key: str
    relpath: str
    st: os.stat_result


@dataclass(frozen=True, slots=True)
class _Target:
    """One path asked for: its files, and whether it is a directory."""

    is_dir: bool
    files: tuple[_File, ...]


# md5, the stat the bytes were read under, bytes read, time.time_ns() before opening
_Read = tuple[str, os.stat_result, int, int]


class Hasher:
    """Computes DVC 3 hashes, reading only files the state DB does not vouch for.

    Safe to share between threads. Each call runs its own short-lived thread
    pool, so a Hasher holds nothing to close but its ``state``.

    Args:
        state: where hashes are remembered; ``None`` hashes every file every time.
        jobs: threads per call; by default ``min(32, cpu_count + 4)``, which
            keeps every core hashing while others wait on disk or network reads.
        root: the repository root; when given, directories inside it are
            listed without what its ``.dvcignore`` files ignore (as DVC does).
    """

    def __init__(
        self, state: StateDB | None = None, jobs: int | None = None, *, root: Path | None = None
    ) -> None:
        if jobs is not None and jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.state = state
        self.jobs = jobs or min(32, (os.cpu_count() or 1) + 4)
        self.root = root

    def close(self) -> None:
        """Close the state DB (its SQLite connection), if any."""
        if self.state is not None:
            self.state.close()

    def hash_file(self, path: Path, *, legacy: bool = False) -> HashInfo:
        """The hash of one file (or of the file a symlink points to).

        With ``legacy``, DVC 2's ``md5-dos2unix`` (``storage/legacy.py``),
        which DVC 3 computes for entries DVC 2 wrote.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            IsADirectoryError: ``path`` is a directory.
        """
        target = _collect(Path(path), self.root, want_dir=False)
        info, _ = self._hash([target], legacy=legacy)[0]
        return info

    def hash_dir(self, path: Path, *, legacy: bool = False) -> tuple[HashInfo, Tree]:
        """The ``.dir`` hash of a directory and the tree it was computed from.

        With ``legacy``, the files' hashes are ``md5-dos2unix`` and the tree
        is a legacy one (its ``.dir`` id is still the manifest's plain md5).

        Raises:
            FileNotFoundError: ``path`` does not exist, or a symlink in it dangles.
            NotADirectoryError: ``path`` is a file.
            StorageError: the directory holds something that is not a file (a FIFO, a socket).
        """
        target = _collect(Path(path), self.root, want_dir=True)
        info, tree = self._hash([target], legacy=legacy)[0]
        assert tree is not None
        return info, tree

    def hash_path(self, path: Path, *, legacy: bool = False) -> tuple[HashInfo, Tree | None]:
        """Hash a file (tree ``None``) or a directory; raises as :meth:`hash_dir` does."""
        return self._hash([_collect(Path(path), self.root)], legacy=legacy)[0]

    def hash_many(
        self, paths: Sequence[Path], *, legacy: bool = False
    ) -> list[tuple[HashInfo, Tree | None]]:
        """Hash many files and directories at once, results in ``paths`` order.

        All their files share one state-DB lookup, one thread pool and one
        state-DB write, which is what makes a pipeline's ``status`` cheap.
        Raises as :meth:`hash_dir` does, before reading any file.
        """
        return self._hash([_collect(Path(path), self.root) for path in paths], legacy=legacy)

    def _hash(
        self, targets: list[_Target], *, legacy: bool = False
    ) -> list[tuple[HashInfo, Tree | None]]:
        md5s = self._md5s([f for target in targets for f in target.files], legacy)
        results: list[tuple[HashInfo, Tree | None]] = []
        for target in targets:
            if target.is_dir:
                tree = Tree.from_entries(
                    DirEntry(relpath=f.relpath, md5=md5s[f.key], size=f.st.st_size, legacy=legacy)
                    for f in target.files
                )
                results.append((tree.hash_info(legacy=legacy), tree))
            else:
                (only,) = target.files
                # NOTE: the mode comes from a fresh stat, never the state DB: a
                # chmod leaves mtime, inode and size (the DB's key) as they were.
                info = HashInfo.for_file(md5s[only.key], only.st.st_size, only.st.st_mode)
                results.append((replace(info, legacy=legacy), None))
        return results

    def _md5s(self, files: list[_File], legacy: bool = False) -> dict[str, str]:
        """md5 by key for ``files``: remembered where the stat matches, else read.

        The state DB keeps one value per path; a legacy value is stored with
        the ``md5-dos2unix:`` prefix so neither kind is ever taken for the other.
        """
        unique = list({f.key: f for f in files}.values())
        known = self.state.get_many([(f.key, f.st) for f in unique]) if self.state else []
        prefix = OID_PREFIX if legacy else ""
        md5s = {
            f.key: md5[len(prefix) :]
            for f, md5 in zip(unique, known)
            if md5 is not None and split_oid(md5)[0] == legacy
        }
        # NOTE: `known` is empty without a state DB, so every file is a miss.
        misses = [f for f in unique if f.key not in md5s]
        remember: list[tuple[str, os.stat_result, str]] = []
        for f, (md5, st, nbytes, started_ns) in zip(misses, self._read_all(misses, legacy)):
            md5s[f.key] = md5
            if nbytes == st.st_size and not _is_racy(st, started_ns):
                remember.append((f.key, st, prefix + md5))
        if self.state is not None:
            self.state.set_many(remember)
        return md5s

    def _read_all(self, files: list[_File], legacy: bool = False) -> list[_Read]:
        """Read and hash ``files`` (results in order), on the pool when there are several."""
        read = _read_batch_legacy if legacy else _read_batch
        if len(files) <= 1 or self.jobs == 1:
            return read(files)
        order = sorted(range(len(files)), key=lambda i: files[i].st.st_size, reverse=True)
        batches = list(_batches(order, files))
        out: dict[int, _Read] = {}
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="prefect-dvc-hash") as pool:
            done = pool.map(read, [[files[i] for i in batch] for batch in batches])
            for batch, results in zip(batches, done):
                out.update(zip(batch, results))
        return [out[i] for i in range(len(files))]


def _read_batch(files: list[_File]) -> list[_Read]:
    out: list[_Read] = []
    for f in files:
        started_ns = time.time_ns()
        md5, st, nbytes = _read_md5(f.key)
        out.append((md5, st, nbytes, started_ns))
    return out


def _read_batch_legacy(files: list[_File]) -> list[_Read]:
    """:func:`_read_batch` with DVC 2's ``md5-dos2unix`` (``storage/legacy.py``)."""
    out: list[_Read] = []
    for f in files:
        started_ns = time.time_ns()
        digest = Dos2UnixMd5()
        nbytes = 0
        with open(f.key, "rb") as fobj:
            st = os.fstat(fobj.fileno())
            while block := fobj.read(BLOCK):
                digest.update(block)
                nbytes += len(block)
        out.append((digest.hexdigest(), st, nbytes, started_ns))
    return out


def _batches(order: list[int], files: list[_File]) -> Iterator[list[int]]:
    """Group file indexes (largest first) so each pool task reads enough bytes to pay off."""
    batch: list[int] = []
    size = 0
    for i in order:
        batch.append(i)
        size += files[i].st.st_size
        if size >= _BATCH_BYTES or len(batch) >= _BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _is_racy(st: os.stat_result, started_ns: int) -> bool:
    """Could the file change again without a new mtime? Then its hash must not be kept."""
    coarse = st.st_mtime_ns % 1_000_000_000 == 0
    window = COARSE_RACY_WINDOW_NS if coarse else RACY_WINDOW_NS
    return st.st_mtime_ns >= started_ns - window


def _collect(path: Path, root: Path | None, want_dir: bool | None = None) -> _Target:
    """Stat ``path``; for a directory, list the files under it that ``root`` does not ignore."""
    key = os.path.abspath(path)
    try:
        st = os.stat(key)
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT,
            "cannot hash a path that does not exist (or a symlink whose target does not);"
            " create it, or fix the path",
            str(path),
        ) from None
    is_dir = stat.S_ISDIR(st.st_mode)
    if want_dir is False and is_dir:
        raise IsADirectoryError(errno.EISDIR, "expected a file, found a directory", str(path))
    if want_dir and not is_dir:
        raise NotADirectoryError(errno.ENOTDIR, "expected a directory, found a file", str(path))
    if is_dir:
        rules = rules_for(root, Path(key)) if root is not None else None
        return _Target(True, tuple(_walk(key, path, rules)))
    _require_regular(st, key, "give the path of a regular file or a directory")
    return _Target(False, (_File(key, "", st),))


def _walk(top: str, shown: Path, rules: IgnoreRules | None) -> Iterator[_File]:
    """Every file under ``top`` with its POSIX relpath, as DVC lists a directory.

    With ``rules`` (the ``.dvcignore`` rules in force in ``top``), ignored
    files are left out and ignored folders are not entered, as DVC's walk does.
    """
    base = _root_relpath(rules, top)
    stack = [(top, "", rules)]
    while stack:
        folder, prefix, here = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                relpath = prefix + entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if here is not None and here.is_ignored(base + relpath, is_dir):
                    continue
                if is_dir:
                    inner = here.descend(base + relpath) if here is not None else None
                    stack.append((entry.path, relpath + "/", inner))
                    continue
                if entry.name == DVCIGNORE:
                    _refuse_dvcignore(shown, relpath)
                st = _entry_stat(entry, shown)
                if st is not None:
                    _require_regular(st, entry.path, f"remove it, or move it out of '{shown}'")
                    yield _File(entry.path, relpath, st)


def _refuse_dvcignore(shown: Path, relpath: str) -> None:
    """DVC refuses to hash a directory holding a ``.dvcignore`` (``IgnoreInCollectedDirError``)."""
    raise StorageError(
        f".dvcignore file should not be in collected dir path: '{relpath}'",
        path=str(shown),
        hint="Move its patterns to a .dvcignore in a folder above the tracked directory",
    )


def _root_relpath(rules: IgnoreRules | None, top: str) -> str:
    """``top`` relative to the rules' root, POSIX, with a trailing ``/`` (``""`` at the root)."""
    if rules is None:
        return ""
    rel = os.path.relpath(top, rules.root)
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def _entry_stat(entry: os.DirEntry[str], shown: Path) -> os.stat_result | None:
    """The stat of what ``entry`` holds; ``None`` for a symlink to a directory (DVC skips it)."""
    try:
        st = entry.stat()
    except FileNotFoundError:
        if not entry.is_symlink():
            raise
        target = os.readlink(entry.path)
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot hash '{shown}': it holds a symlink to '{target}', which does not exist;"
            " fix or remove the link",
            entry.path,
        ) from None
    if entry.is_symlink() and stat.S_ISDIR(st.st_mode):
        return None
    return st


def _require_regular(st: os.stat_result, key: str, hint: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise StorageError(
            "cannot hash it: it is not a regular file (a FIFO, socket or device"
            " has no content to store)",
            path=key,
            hint=hint,
        )
