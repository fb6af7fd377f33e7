"""Temporary names that carry their writer, and sweeping what dead writers left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefect_dvc import tmpnames
from prefect_dvc.tmpnames import (
    HOST,
    Writer,
    is_dead_local_writer,
    prefix_of,
    sweep,
    tmp_name,
    writer_of,
)


def start_of(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[19])


def dead_process() -> tuple[int, int]:
    """(pid, start) of a real process that has exited."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    start = start_of(proc.pid)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    return proc.pid, start


def name_for(base: str, host: str, pid: int, start: int, suffix: str = "tmp") -> str:
    return f"{base}.~{host}~{pid}~{start}~0123abcd.{suffix}"


def test_name_names_host_pid_and_start_and_parses_back() -> None:
    name = tmp_name(".dvc.lock")
    assert name.startswith(prefix_of(".dvc.lock")) and name.endswith(".tmp")
    assert writer_of(name) == Writer(HOST, os.getpid(), start_of(os.getpid()))
    assert tmp_name("x") != tmp_name("x")
    assert writer_of("abc.0123456789abcdef.tmp") is None  # DVC's own temp names
    long = tmp_name("a" * 300, "old")
    assert len(long) < 255 and long.startswith(prefix_of("a" * 300))


def test_only_dead_local_writers_are_dead() -> None:
    pid, start = dead_process()
    assert is_dead_local_writer(name_for("f", HOST, pid, start))
    assert not is_dead_local_writer(tmp_name("f"))  # this very process
    assert not is_dead_local_writer(name_for("f", "another-host", pid, start))
    parent = os.getppid()
    assert not is_dead_local_writer(name_for("f", HOST, parent, start_of(parent)))
    # NOTE: the pid runs, but a process started at another time: the pid was reused.
    assert is_dead_local_writer(name_for("f", HOST, parent, start_of(parent) + 1))
    assert not is_dead_local_writer("f.not-ours.tmp")


def test_sweep_removes_dead_local_files_and_folders_only(tmp_path: Path) -> None:
    pid, start = dead_process()
    dead_file = tmp_path / name_for(".out", HOST, pid, start)
    dead_dir = tmp_path / name_for(".out", HOST, pid, start, "old")
    other_base = tmp_path / name_for(".other", HOST, pid, start)
    remote_host = tmp_path / name_for(".out", "build-7", pid, start)
    live = tmp_path / tmp_name(".out")
    plain = tmp_path / "out.1234abcd.tmp"
    for path in (dead_file, other_base, remote_host, live, plain):
        path.write_text("x")
    dead_file.chmod(0o444)
    (dead_dir / "sub").mkdir(parents=True)
    (dead_dir / "sub" / "f").write_text("x")

    removed = sweep(tmp_path, prefix_of(".out"))
    assert sorted(removed) == sorted([dead_file, dead_dir])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (other_base, remote_host, live, plain)
    )
    assert sweep(tmp_path / "missing") == []


def test_marker_of_a_killed_writer_triggers_a_sweep_of_the_tree(tmp_path: Path) -> None:
    pid, start = dead_process()
    leftover = tmp_path / "files" / "md5" / "ab" / name_for("cdef", HOST, pid, start)
    leftover.parent.mkdir(parents=True)
    leftover.write_text("partial")
    assert tmpnames.sweep_after_crash(tmp_path) == []  # no marker: nothing walked
    assert leftover.exists()
    markers = tmp_path / tmpnames.WRITERS_DIR
    markers.mkdir()
    (markers / name_for("writer", HOST, pid, start, "pid")).touch()
    tmpnames.register_writer(tmp_path)  # ours, alive: kept
    removed = tmpnames.sweep_after_crash(tmp_path)
    assert leftover in removed and not leftover.exists()
    assert [writer_of(p.name) for p in markers.iterdir()] == [
        Writer(HOST, os.getpid(), start_of(os.getpid()))
    ]
    assert tmpnames.sweep_after_crash(tmp_path) == []
