"""Keeping a worker's temp dir bounded: stale scratch folders and the per-host object cache.

Provides:
    SCRATCH_BASE: scratch folders are ``$TMPDIR/<tmp_name("prefect-dvc-stage", "d")>``
        (``tmpnames``: host, pid and process start in the name).
    CACHE_SIZE_ENV: ``PREFECT_DVC_WORKER_CACHE_SIZE``, the cache's size limit
        (bytes, or with a ``K``/``M``/``G``/``T`` suffix, powers of 1024;
        ``0`` turns trimming off); default :data:`DEFAULT_CACHE_SIZE` (10 GiB).
    cache_limit(environ): that limit in bytes.
    sweep_scratch(tmp, now, max_age): remove scratch folders whose writer is dead
        (a killed worker's), and unnamed ones older than ``max_age`` (a day).
    trim_cache(root, limit): remove least recently used objects until the
        cache's objects fit in ``limit`` bytes.
    touch(paths, now): mark objects as used now (their atime).
    cache_user(root) / cache_trimmer(root): a shared ``flock`` held by each task
        that uses the cache, and the exclusive one trimming takes (or skips).

Recency is the newer of an object's atime and mtime: a download sets the
mtime, and each task sets the atime of every object it links or copies into
its scratch folder (explicitly: ``noatime``/``relatime`` mounts would not).
Trimming only runs when no other task on this host uses the cache (it takes
the lock without waiting and skips when busy), so an object is never
removed between a task's fetch and its checkout; a scratch folder keeps its
hardlinked files even when their cache entry goes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from prefect_dvc.errors import ConfigError
from prefect_dvc.tmpnames import is_dead_local_writer, prefix_of, writer_of

SCRATCH_BASE = "prefect-dvc-stage"
CACHE_SIZE_ENV = "PREFECT_DVC_WORKER_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 10 * 1024**3
DAY = 24 * 3600.0
LOCK_NAME = "trim.lock"
_SIZE = re.compile(r"(?P<n>\d+)\s*(?P<unit>[KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def cache_limit(environ: Mapping[str, str] | None = None) -> int:
    """The worker cache's size limit in bytes (``0``: unbounded).

    Raises:
        ConfigError: the variable is set to something else than a size (one line).
    """
    text = (os.environ if environ is None else environ).get(CACHE_SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_CACHE_SIZE
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{CACHE_SIZE_ENV}='{text}' is not a size",
            hint="Give bytes or a size such as 500M or 20G (0: no limit)",
        )
    return int(match["n"]) * _UNITS[match["unit"].upper()]


def sweep_scratch(tmp: Path, now: float | None = None, max_age: float = DAY) -> list[Path]:
    """Remove the scratch folders under ``tmp`` no running task can own; returns them.

    A folder named by ``tmpnames`` goes when its writer (host, pid, start)
    is a dead process of this host; one of a live writer stays whatever its
    age (a long stage). Any other ``prefect-dvc-stage*`` folder (older
    releases' ``mkdtemp`` names) goes once untouched for ``max_age`` seconds.
    """
    moment = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(SCRATCH_BASE) or not entry.is_dir(follow_symlinks=False):
            continue
        doomed = False
        if entry.name.startswith(prefix_of(SCRATCH_BASE)) and writer_of(entry.name):
            doomed = is_dead_local_writer(entry.name)
        else:
            with contextlib.suppress(OSError):
                doomed = moment - entry.stat(follow_symlinks=False).st_mtime > max_age
        if doomed:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _objects(root: Path) -> list[tuple[float, int, str]]:
    """``(recency, size, path)`` of every object file under ``root/files``."""
    found = []
    for folder, _dirs, files in os.walk(root / "files"):
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.stat(path, follow_symlinks=False)
                found.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    return found


def touch(paths: Iterable[str], now: float | None = None) -> None:
    """Set the atime of each existing path to ``now`` (mtime kept): used, for :func:`trim_cache`."""
    moment = time.time() if now is None else now
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path, (moment, os.stat(path).st_mtime))


def trim_cache(root: Path, limit: int) -> list[str]:
    """Remove the least recently used objects of the cache at ``root`` until it fits ``limit``.

    Only object files (``files/md5/...``) count and go; the state DB and
    locks stay. ``limit`` 0 trims nothing. Returns the paths removed, oldest first.
    """
    if limit <= 0:
        return []
    objects = sorted(_objects(root))
    total = sum(size for _, size, _ in objects)
    removed = []
    for _recency, size, path in objects:
        if total <= limit:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        total -= size
        removed.append(path)
    return removed


@contextlib.contextmanager
def _flock(root: Path, mode: int) -> Iterator[bool]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # NOTE: closing the descriptor lets the flock go


def cache_user(root: Path) -> contextlib.AbstractContextManager[bool]:
    """Hold the cache for one task (shared; waits only while a trim runs)."""
    return _flock(root, fcntl.LOCK_SH)


def cache_trimmer(root: Path) -> contextlib.AbstractContextManager[bool]:
    """Yields ``True`` when this process may trim now (nobody else uses the cache)."""
    return _flock(root, fcntl.LOCK_EX | fcntl.LOCK_NB)
