"""The state DB: remembered md5s, so unchanged files are never read twice.

Provides:
    StateDB: a SQLite map ``path -> (inode, size, mtime_ns, ctime_ns, md5)``,
        safe for many threads and several processes at once.
    default_state_path(root): where a repository keeps it
        (``<root>/.dvc/tmp/prefect-dvc/state.db``).

A remembered md5 is returned only while the file's identity, as ``os.stat``
sees it, is what it was when the bytes were read: inode, size, mtime and
ctime (in ns). The ctime is what makes the key one a writer cannot keep:
``os.utime`` can put an mtime back after an in-place write (or bit rot can
change bytes with no write at all, which the next verify's read catches),
but every write, chmod, link or rename moves the ctime and there is no call
to set it back. DVC's own state keys on inode, mtime and size only
(``dvc_data/hashfile/state.py``); a cache object changed in place with its
mtime kept was therefore trusted and handed out (issue #11 §2).
Deciding *which* hashes are safe to remember (a file written in the same
clock tick as it was read might change again without a new stamp) is the
hasher's job, not this module's.

The DB is a cache: losing it only costs re-hashing. So nothing here may
break hashing:

- a file that is not a SQLite DB, fails ``PRAGMA quick_check`` (run on
  open up to :data:`QUICK_CHECK_MAX_BYTES`), meets a damaged page in use, or
  has a foreign schema is deleted and rebuilt, with one warning line;
- a file that cannot be opened at all (a directory, no permission) is
  replaced by an empty in-memory DB, with one warning line;
- another process holding a write transaction costs one wait of at most
  :data:`BUSY_TIMEOUT_S`; that write and those of the next
  :data:`BUSY_BACKOFF_S` are dropped, with one warning, and reads never
  wait (WAL mode).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]

SCHEMA_VERSION = 2
# NOTE: a short wait, then go on without the DB for that call: re-hashing a
# few files is cheaper than the 10 s a busy writer used to cost every command.
BUSY_TIMEOUT_S = 0.25
# NOTE: quick_check reads the whole file: 1 ms for 2,000 entries, 18 ms for
# 20,000, 137 ms for 200,000 (measured). Bigger DBs are checked by use
# instead: any read or write that meets a damaged page rebuilds the DB.
QUICK_CHECK_MAX_BYTES = 4 << 20
# NOTE: after a write found the DB busy, writes are dropped for this long, so
# a command pays one short wait, not one per batch of hashes.
BUSY_BACKOFF_S = 30.0
# NOTE: SQLite builds before 3.32 allow at most 999 "?" parameters per statement.
_QUERY_CHUNK = 900
_MEMORY = ":memory:"
_COLUMNS = ("path", "inode", "size", "mtime_ns", "ctime_ns", "md5")
# NOTE: version 1 keyed on (inode, mtime, size); its entries are dropped, not trusted.
_V1_COLUMNS = ("path", "inode", "mtime_ns", "size", "md5")
# NOTE: SQLITE_CORRUPT and SQLITE_NOTADB, the primary result codes of a damaged file.
_DAMAGED_CODES = frozenset({11, 26})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS md5 (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    md5 TEXT NOT NULL
) WITHOUT ROWID
"""

Stamp = tuple[int, int, int, int]


class DamagedStateError(Exception):
    """The state DB file is not a usable SQLite DB of our schema (internal signal)."""


def default_state_path(root: Path) -> Path:
    """The state DB of the repository at ``root``; beside DVC's own tmp files."""
    return root / ".dvc" / "tmp" / "prefect-dvc" / "state.db"


def _key(path: StrPath) -> str:
    return os.path.abspath(os.fspath(path))


def _i64(value: int) -> int:
    # NOTE: st_ino is unsigned 64-bit (overlayfs and btrfs use the top bit) but
    # SQLite integers are signed, so store the two's-complement value.
    return value - (1 << 64) if value >= (1 << 63) else value


def stamp(st: os.stat_result) -> Stamp:
    """The identity a remembered md5 is tied to: (inode, size, mtime_ns, ctime_ns)."""
    return (_i64(st.st_ino), st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGED_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    return "locked" in str(exc)


class StateDB:
    """Remembered md5s keyed by absolute path and checked against ``os.stat``.

    One SQLite connection guarded by a lock serves every thread (lookups take
    microseconds, so the lock is not the bottleneck; hashing is). WAL mode and
    a short busy timeout let several processes share the file: readers never
    block, a writer that finds the DB busy gives up quickly. Writes come in
    batches, one transaction per batch.

    Args:
        path: the database file; its folder is created. ``":memory:"`` gives
            a private DB that lives as long as this object.
        timeout: seconds to wait for another process's write transaction
            before dropping a write (default :data:`BUSY_TIMEOUT_S`).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: StrPath, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = None if os.fspath(path) == _MEMORY else Path(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._warned = False
        self._busy_until = 0.0
        self._conn, self._persistent = _open(self.path, timeout)

    @property
    def persistent(self) -> bool:
        """False when the DB lives only in memory (asked for, or the file was unusable)."""
        return self._persistent

    def get(self, path: StrPath, st: os.stat_result) -> str | None:
        """The remembered md5 of ``path`` if ``st`` still matches it, else ``None``."""
        return self.get_many([(path, st)])[0]

    def get_many(self, items: Sequence[tuple[StrPath, os.stat_result]]) -> list[str | None]:
        """:meth:`get` for many files with few queries; results in ``items`` order."""
        keys = [_key(path) for path, _ in items]
        with self._lock:
            self._check_open()
            try:
                rows = self._select(keys)
            except sqlite3.Error as exc:
                self._failed("read", exc)
                return [None] * len(items)
        out: list[str | None] = []
        for key, (_, st) in zip(keys, items):
            row = rows.get(key)
            # NOTE: an entry for another identity of the path is never used.
            out.append(row[4] if row is not None and row[:4] == stamp(st) else None)
        return out

    def set_many(self, items: Iterable[tuple[StrPath, os.stat_result, str]]) -> None:
        """Remember md5s, all in one transaction; ``st`` is the stat the bytes were read under."""
        rows = [(_key(path), *stamp(st), md5) for path, st, md5 in items]
        if not rows:
            return
        with self._lock:
            self._check_open()
            if time.monotonic() < self._busy_until:
                return  # NOTE: another process held the DB: no second wait so soon
            try:
                _write_rows(self._conn, rows)
            except sqlite3.Error as exc:
                self._failed("write", exc)

    def close(self) -> None:
        """Close the connection; the DB must not be used afterwards."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self._persistent else _MEMORY
        return f"StateDB({where!r})"

    def _select(self, keys: list[str]) -> dict[str, tuple[int, int, int, int, str]]:
        rows: dict[str, tuple[int, int, int, int, str]] = {}
        for start in range(0, len(keys), _QUERY_CHUNK):
            chunk = keys[start : start + _QUERY_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT path, inode, size, mtime_ns, ctime_ns, md5 FROM md5"
                f" WHERE path IN ({marks})"
            )
            for path, *rest in self._conn.execute(query, chunk):
                rows[path] = tuple(rest)  # type: ignore[assignment]
        return rows

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"state DB {self.path or _MEMORY} is closed; open a new StateDB")

    def _failed(self, what: str, exc: sqlite3.Error) -> None:
        """Called with the lock held: rebuild a damaged file, else warn once."""
        if self._persistent and self.path is not None and _is_damage(exc):
            self._conn.close()
            self._conn, self._persistent = _rebuild(self.path, self._timeout, str(exc))
            return
        if what == "write" and _is_busy(exc):
            self._busy_until = time.monotonic() + BUSY_BACKOFF_S
        # NOTE: once per DB, or a locked DB would print a line per batch.
        if not self._warned:
            self._warned = True
            logger.warning(
                "State DB %s: %s failed (%s); files are hashed again instead",
                self.path if self._persistent else _MEMORY,
                what,
                exc,
            )


def _write_rows(conn: sqlite3.Connection, rows: list[tuple[str, int, int, int, int, str]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR REPLACE INTO md5 (path, inode, size, mtime_ns, ctime_ns, md5)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _memory() -> sqlite3.Connection:
    conn = sqlite3.connect(_MEMORY, check_same_thread=False, isolation_level=None)
    conn.execute(_SCHEMA)
    return conn


def _open(path: Path | None, timeout: float) -> tuple[sqlite3.Connection, bool]:
    """A connection to ``path`` (rebuilt if damaged), or to a fresh in-memory DB."""
    if path is None:
        return _memory(), False
    try:
        return _connect_file(path, timeout), True
    except DamagedStateError as exc:
        return _rebuild(path, timeout, str(exc))
    except sqlite3.Error as exc:
        if _is_damage(exc):
            return _rebuild(path, timeout, str(exc))
        reason: Exception = exc
    except OSError as exc:
        reason = exc
    logger.warning(
        "State DB %s cannot be used (%s); hashing goes on without remembered hashes",
        path,
        reason,
    )
    return _memory(), False


def _rebuild(path: Path, timeout: float, reason: str) -> tuple[sqlite3.Connection, bool]:
    """Delete the damaged DB (and its WAL files) and start an empty one; warn once."""
    logger.warning(
        "State DB %s was damaged (%s); discarded it and started a new one"
        " (files are hashed again once)",
        path,
        reason,
    )
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        return _connect_file(path, timeout), True
    except (sqlite3.Error, OSError, DamagedStateError):
        return _memory(), False


def _connect_file(path: Path, timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) and check the DB file.

    Raises:
        DamagedStateError: ``quick_check`` failed or the schema is not ours.
        sqlite3.Error, OSError: the file cannot be opened or is not a DB.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # NOTE: NORMAL in WAL mode can lose the last commits on power loss but
        # never corrupts; for a cache that is the right trade for speed.
        conn.execute("PRAGMA synchronous=NORMAL")
        if path.stat().st_size <= QUICK_CHECK_MAX_BYTES:
            (verdict,) = conn.execute("PRAGMA quick_check(1)").fetchone()
            if verdict != "ok":
                raise DamagedStateError(f"quick_check: {verdict}")
        _ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the table in a new DB or over our version 1; any other schema is damage."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(md5)"))
    if version == SCHEMA_VERSION and columns == _COLUMNS:
        return  # NOTE: the common case takes no write lock, so a busy DB costs nothing
    fresh = version == 0 and not columns
    if not fresh and (version, columns) != (1, _V1_COLUMNS):
        raise DamagedStateError(f"unexpected schema (version {version}, columns {columns})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP TABLE IF EXISTS md5")
        conn.execute(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
