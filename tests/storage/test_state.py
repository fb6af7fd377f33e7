"""StateDB: remembered md5s, checked against stat, shared by threads and processes."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prefect_dvc.storage.state import QUICK_CHECK_MAX_BYTES, StateDB, default_state_path

REPO_ROOT = Path(__file__).resolve().parents[2]
MD5_A = "0cc175b9c0f1b6a831c399e269772661"
MD5_B = "92eb5ffee6ae2fec3ad71c777531578f"


def fake_stat(
    ino: int = 7,
    size: int = 10,
    mtime_ns: int = 1_700_000_000_123_456_789,
    ctime_ns: int | None = None,
) -> os.stat_result:
    """A stat_result with the fields StateDB compares; the rest is filler."""
    ctime_ns = mtime_ns if ctime_ns is None else ctime_ns
    secs, csecs = mtime_ns / 1e9, ctime_ns / 1e9
    visible = (0o100644, ino, 1, 1, 0, 0, size, int(secs), int(secs), int(csecs))
    return os.stat_result((*visible, secs, secs, csecs, mtime_ns, mtime_ns, ctime_ns))


def count_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM md5").fetchone()[0])


def test_get_returns_md5_only_while_stat_matches(tmp_path: Path) -> None:
    st = fake_stat()
    with StateDB(tmp_path / "state.db") as db:
        assert db.get(tmp_path / "f", st) is None
        db.set_many([(tmp_path / "f", st, MD5_A)])
        assert db.get(tmp_path / "f", st) == MD5_A
        assert db.get(tmp_path / "f", fake_stat(ino=8)) is None
        assert db.get(tmp_path / "f", fake_stat(size=11)) is None
        assert db.get(tmp_path / "f", fake_stat(mtime_ns=1_700_000_000_123_456_790)) is None
        # NOTE: same inode, size and mtime but a new ctime: written, then utime'd back.
        assert db.get(tmp_path / "f", fake_stat(ctime_ns=1_800_000_000_000_000_000)) is None
        assert db.get(tmp_path / "other", st) is None
        db.set_many([(tmp_path / "f", fake_stat(size=11), MD5_B)])
        assert db.get(tmp_path / "f", fake_stat(size=11)) == MD5_B
        assert db.get(tmp_path / "f", st) is None


def test_get_many_keeps_order_beyond_one_query_chunk(tmp_path: Path) -> None:
    items = [(tmp_path / f"f{i}", fake_stat(ino=i), f"{i:032x}") for i in range(2000)]
    with StateDB(tmp_path / "state.db") as db:
        db.set_many(items[::2])
        got = db.get_many([(path, st) for path, st, _ in items])
    assert got == [md5 if i % 2 == 0 else None for i, (_, _, md5) in enumerate(items)]


def test_default_location_is_created_persistent_and_in_wal_mode(git_repo: Path) -> None:
    path = default_state_path(git_repo)
    assert path == git_repo / ".dvc" / "tmp" / "prefect-dvc" / "state.db"
    with StateDB(path) as db:
        assert db.persistent
        db.set_many([(git_repo / "x", fake_stat(), MD5_A)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with StateDB(path) as again:
        assert again.get(git_repo / "x", fake_stat()) == MD5_A


def test_relative_and_absolute_paths_are_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with StateDB(tmp_path / "state.db") as db:
        db.set_many([(Path("sub/../f"), fake_stat(), MD5_A)])
        assert db.get(tmp_path / "f", fake_stat()) == MD5_A
        assert db.get("f", fake_stat()) == MD5_A


def test_inodes_above_2_63_round_trip(tmp_path: Path) -> None:
    big = fake_stat(ino=2**64 - 5)
    with StateDB(tmp_path / "state.db") as db:
        db.set_many([(tmp_path / "f", big, MD5_A)])
        assert db.get(tmp_path / "f", big) == MD5_A
        assert db.get(tmp_path / "f", fake_stat(ino=2**63 - 5)) is None


def test_threads_share_one_db(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for batch in range(10):
                items = [
                    (tmp_path / f"t{n}-{batch}-{i}", fake_stat(ino=i), f"{n:016x}{i:016x}")
                    for i in range(20)
                ]
                db.set_many(items)
                assert db.get_many([(p, st) for p, st, _ in items]) == [m for _, _, m in items]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.close()
    assert errors == []
    assert count_rows(tmp_path / "state.db") == 8 * 10 * 20


WRITER = """
import os, sys, time
from pathlib import Path
from prefect_dvc.storage.state import StateDB
db_path, tag = Path(sys.argv[1]), sys.argv[2]
st = os.stat(db_path.parent / "anchor")
with StateDB(db_path, timeout=60) as db:
    assert db.persistent
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not (db_path.parent / "go").exists():  # start both writers together
        assert time.monotonic() < deadline, "no go signal"
        time.sleep(0.005)
    for batch in range(40):
        items = [(db_path.parent / f"{tag}-{batch}-{i}", st, f"{batch:016x}{i:016x}")
                 for i in range(25)]
        db.set_many(items)
        assert db.get_many([(p, s) for p, s, _ in items]) == [m for _, _, m in items]
"""


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    db_path = tmp_path / "state.db"
    (tmp_path / "anchor").write_text("a file whose stat does not change")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs: list[subprocess.Popen[str]] = []
    try:
        for tag in ("p1", "p2"):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(db_path), tag],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        (tmp_path / "go").touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert "cannot be used" not in err and "failed" not in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert count_rows(db_path) == 2 * 40 * 25
    with StateDB(db_path) as db:
        st = os.stat(tmp_path / "anchor")
        assert db.get(tmp_path / "p1-39-24", st) == f"{39:016x}{24:016x}"
        assert db.get(tmp_path / "p2-0-0", st) == "0" * 32


def test_file_that_is_not_a_db_is_rebuilt_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    garbage = b"this is not a SQLite database, it is a cat walking on the keyboard\n" * 100
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state"):
        db = StateDB(path)
    with db:
        assert db.persistent
        db.set_many([(tmp_path / "f", fake_stat(), MD5_A)])
        assert db.get(tmp_path / "f", fake_stat()) == MD5_A
    assert count_rows(path) == 1
    (record,) = caplog.records
    assert str(path) in record.getMessage() and "discarded it" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_damaged_pages_fail_quick_check_and_are_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        db.set_many((tmp_path / f"f{i}", fake_stat(ino=i), f"{i:032x}") for i in range(3000))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(path.read_bytes())
    assert raw.startswith(b"SQLite format 3\0") and len(raw) > 8 * 4096
    raw[3 * 4096 : 6 * 4096] = b"\xa5" * (3 * 4096)  # pages of the table, header intact
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state"), StateDB(path) as db:
        assert db.persistent
        assert db.get(tmp_path / "f5", fake_stat(ino=5)) is None
        db.set_many([(tmp_path / "f", fake_stat(), MD5_A)])
        assert db.get(tmp_path / "f", fake_stat()) == MD5_A
    (record,) = caplog.records
    assert "was damaged" in record.getMessage() and str(path) in record.getMessage()
    assert count_rows(path) == 1


def test_old_schema_version_1_is_replaced_without_trusting_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE md5 (path TEXT PRIMARY KEY, inode INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO md5 VALUES (?, 7, 1, 10, ?)", (str(tmp_path / "f"), MD5_A))
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with StateDB(path) as db:
        assert db.persistent
        assert db.get(tmp_path / "f", fake_stat(mtime_ns=1)) is None
    assert count_rows(path) == 0


def test_db_path_that_is_a_directory_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    path.mkdir()
    with caplog.at_level(logging.WARNING), StateDB(path) as db:
        assert not db.persistent
        assert repr(db) == "StateDB(':memory:')"
        db.set_many([(tmp_path / "f", fake_stat(), MD5_A)])
        assert db.get(tmp_path / "f", fake_stat()) == MD5_A
    assert path.is_dir() and list(path.iterdir()) == []
    assert str(path) in caplog.text


@pytest.mark.parametrize("version", [0, 2, 7])
def test_foreign_schema_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, version: int
) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE md5 (x TEXT)")
        conn.execute("INSERT INTO md5 VALUES ('old')")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state"), StateDB(path) as db:
        assert db.persistent
        db.set_many([(tmp_path / "f", fake_stat(), MD5_A)])
        assert db.get(tmp_path / "f", fake_stat()) == MD5_A
    assert count_rows(path) == 1
    (record,) = caplog.records
    assert "unexpected schema" in record.getMessage()


def test_write_blocked_by_another_process_is_dropped_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    with StateDB(path, timeout=0.2) as db:
        db.set_many([(tmp_path / "kept", fake_stat(), MD5_A)])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state"):
                db.set_many([(tmp_path / "dropped", fake_stat(), MD5_B)])
                db.set_many([(tmp_path / "dropped2", fake_stat(), MD5_B)])
            # NOTE: WAL readers are not blocked by a writer.
            assert db.get(tmp_path / "kept", fake_stat()) == MD5_A
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert db.get(tmp_path / "dropped", fake_stat()) is None
        db.set_many([(tmp_path / "later", fake_stat(), MD5_B)])
        # NOTE: after one busy wait, writes pause (BUSY_BACKOFF_S), even once free.
        assert db.get(tmp_path / "later", fake_stat()) is None
    with StateDB(path) as db:
        db.set_many([(tmp_path / "later", fake_stat(), MD5_B)])
        assert db.get(tmp_path / "later", fake_stat()) == MD5_B
    (record,) = caplog.records  # warned once, not once per batch
    assert "write failed" in record.getMessage() and str(path) in record.getMessage()


def test_use_after_close_says_what_to_do(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    db.close()
    db.close()
    with pytest.raises(ValueError, match=r"state\.db is closed; open a new StateDB"):
        db.get(tmp_path / "f", fake_stat())
    with pytest.raises(ValueError, match="closed"):
        db.set_many([(tmp_path / "f", fake_stat(), MD5_A)])


def test_in_memory_db_is_private(tmp_path: Path) -> None:
    with StateDB(":memory:") as one, StateDB(":memory:") as two:
        one.set_many([(tmp_path / "f", fake_stat(), MD5_A)])
        assert one.get(tmp_path / "f", fake_stat()) == MD5_A
        assert two.get(tmp_path / "f", fake_stat()) is None
        assert not one.persistent and one.path is None


BLOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT OR REPLACE INTO md5 VALUES ('/held', 1, 1, 1, 1, 'x')")
print("holding", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_db_locked_by_another_process_opens_reads_and_drops_writes_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        db.set_many([(tmp_path / "kept", fake_stat(), MD5_A)])
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        logs = caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state")
        with logs, StateDB(path) as db:  # the default, short, busy timeout
            assert db.persistent
            assert db.get(tmp_path / "kept", fake_stat()) == MD5_A
            db.set_many([(tmp_path / "a", fake_stat(), MD5_B)])
            db.set_many([(tmp_path / "b", fake_stat(), MD5_B)])
            assert db.get(tmp_path / "a", fake_stat()) is None
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close() if proc.stdout else None
    (record,) = caplog.records
    assert "write failed" in record.getMessage() and "locked" in record.getMessage()
    with StateDB(path) as db:
        db.set_many([(tmp_path / "a", fake_stat(), MD5_B)])
        assert db.get(tmp_path / "a", fake_stat()) == MD5_B


def test_damage_met_in_use_rebuilds_the_db_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DB too big for the open-time quick_check is rebuilt when a query meets the damage."""
    path = tmp_path / "state.db"
    items = [(tmp_path / f"f{i}", fake_stat(ino=i), f"{i:032x}") for i in range(40_000)]
    with StateDB(path) as db:
        db.set_many(items)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(path.read_bytes())
    assert len(raw) > QUICK_CHECK_MAX_BYTES
    raw[2 * 4096 :] = b"\xa5" * (len(raw) - 2 * 4096)
    path.write_bytes(bytes(raw))
    db = StateDB(path)
    with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.state"), db:
        assert db.get_many([(p, st) for p, st, _ in items]) == [None] * len(items)
        db.set_many(items[:1])
        assert db.get(*items[0][:2]) == items[0][2]
    (record,) = caplog.records
    assert "was damaged" in record.getMessage()
    assert count_rows(path) == 1
