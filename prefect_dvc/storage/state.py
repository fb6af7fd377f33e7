"""The state DB: remembered md5s, so unchanged files are never read twice.

Provides:
    StateDB: a SQLite map ``path -> (inode, mtime_ns, size, md5)``, safe for
        many threads and several processes at once.
    default_state_path(root): where a repository keeps it
        (``<root>/.dvc/tmp/prefect-dvc/state.db``).

A remembered md5 is returned only while the file's inode, mtime (in ns) and
size are what they were when it was hashed. Deciding *which* hashes are safe
to remember (a file written in the same clock tick as it was read might
change again without a new mtime) is the hasher's job, not this module's.

The DB is a cache: losing it only costs re-hashing. So nothing here may break
hashing. A corrupt or unwritable file is reported with ``logging`` and
replaced by an empty in-memory DB; a write that fails later (a lock held too
long by another process, a full disk) is reported and dropped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
# NOTE: SQLite builds before 3.32 allow at most 999 "?" parameters per statement.
_QUERY_CHUNK = 900
_MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS md5 (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL
) WITHOUT ROWID
"""


def default_state_path(root: Path) -> Path:
    """The state DB of the repository at ``root``; beside DVC's own tmp files."""
    return root / ".dvc" / "tmp" / "prefect-dvc" / "state.db"


def _key(path: StrPath) -> str:
    return os.path.abspath(os.fspath(path))


def _i64(value: int) -> int:
    # NOTE: st_ino is unsigned 64-bit (overlayfs and btrfs use the top bit) but
    # SQLite integers are signed, so store the two's-complement value.
    return value - (1 << 64) if value >= (1 << 63) else value


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (_i64(st.st_ino), st.st_mtime_ns, st.st_size)


class StateDB:
    """Remembered md5s keyed by absolute path and checked against ``os.stat``.

    One SQLite connection guarded by a lock serves every thread (lookups take
    microseconds, so the lock is not the bottleneck; hashing is). WAL mode and
    a busy timeout let several processes share the file: readers never block,
    writers queue. Writes come in batches, one transaction per batch.

    Args:
        path: the database file; its folder is created. ``":memory:"`` gives
            a private DB that lives as long as this object.
        timeout: seconds to wait for another process's write before giving
            up on a read or write (which then counts as a miss or is dropped).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: StrPath, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = None if os.fspath(path) == _MEMORY else Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._warned = False
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
                self._warn("read", exc)
                return [None] * len(items)
        out: list[str | None] = []
        for key, (_, st) in zip(keys, items):
            row = rows.get(key)
            out.append(row[3] if row is not None and row[:3] == _stamp(st) else None)
        return out

    def set_many(self, items: Iterable[tuple[StrPath, os.stat_result, str]]) -> None:
        """Remember md5s, all in one transaction; ``st`` is the stat the bytes were read under."""
        rows = [(_key(path), *_stamp(st), md5) for path, st, md5 in items]
        if not rows:
            return
        with self._lock:
            self._check_open()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO md5 (path, inode, mtime_ns, size, md5)"
                        " VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._warn("write", exc)

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

    def _select(self, keys: list[str]) -> dict[str, tuple[int, int, int, str]]:
        rows: dict[str, tuple[int, int, int, str]] = {}
        for start in range(0, len(keys), _QUERY_CHUNK):
            chunk = keys[start : start + _QUERY_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT path, inode, mtime_ns, size, md5 FROM md5 WHERE path IN ({marks})"
            for path, inode, mtime_ns, size, md5 in self._conn.execute(query, chunk):
                rows[path] = (inode, mtime_ns, size, md5)
        return rows

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"state DB {self.path or _MEMORY} is closed; open a new StateDB")

    def _warn(self, what: str, exc: sqlite3.Error) -> None:
        # NOTE: once per DB, or a locked DB would print a line per batch.
        if not self._warned:
            self._warned = True
            logger.warning(
                "State DB %s: %s failed (%s); files are hashed again instead. "
                "If this persists, delete the file to have it rebuilt.",
                self.path if self._persistent else _MEMORY,
                what,
                exc,
            )


def _open(path: Path | None, timeout: float) -> tuple[sqlite3.Connection, bool]:
    """A connection to ``path``, or to a fresh in-memory DB if that file is unusable."""
    if path is not None:
        try:
            return _connect_file(path, timeout), True
        except (sqlite3.Error, OSError) as exc:
            logger.warning(
                "State DB %s cannot be used (%s); hashing goes on without remembered "
                "hashes. Delete the file to have it rebuilt.",
                path,
                exc,
            )
    conn = sqlite3.connect(_MEMORY, check_same_thread=False, isolation_level=None)
    _init_schema(conn)
    return conn, False


def _connect_file(path: Path, timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) and verify the DB file; raises if it is unusable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # NOTE: NORMAL in WAL mode can lose the last commits on power loss but
        # never corrupts; for a cache that is the right trade for speed.
        conn.execute("PRAGMA synchronous=NORMAL")
        _init_schema(conn)
        conn.execute("SELECT count(*) FROM (SELECT 1 FROM md5 LIMIT 1)").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _init_schema(conn: sqlite3.Connection) -> None:
    """Create the table, or rebuild it when an older/foreign schema is found."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            conn.execute("DROP TABLE IF EXISTS md5")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(_SCHEMA)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
