"""Temporary names that say who wrote them, so a dead writer's leftovers can be removed.

Provides:
    tmp_name(base, suffix): ``<base>.~<host>~<pid>~<start>~<random>.<suffix>``,
        unique, and naming this host, this process and its start time.
    prefix_of(base): the start every :func:`tmp_name` of ``base`` shares.
    temp_dir(parent, base): a folder with such a name, removed on exit.
    Writer, writer_of(name): the writer a temporary name was made by.
    is_dead_local_writer(name): True only for a name made on this host by a
        process that is no longer running (a reused pid does not count as alive).
    sweep(folder, prefix): remove the entries of ``folder`` made by dead local writers.
    sweep_tree(root): :func:`sweep` every folder under ``root`` (``gc``).
    register_writer(root), sweep_after_crash(root): a marker per writing
        process under ``<root>/.prefect-dvc-writers``, so the next command
        walks a large cache only when a writer actually died.

Why: a run killed while a 200 MB out was copied into the cache left the
partial file behind, under a random name nothing would ever remove (issue
#11 §4). DVC names its temp files ``<name>.<random>.tmp`` (``dvc_objects``
``tmp_fname``) and never cleans them either. With the writer in the name,
any later command can tell a leftover from a file another process is still
writing, and a cache shared between machines is safe: another host's files
are never touched, because its processes cannot be checked from here.

The process start time comes from ``/proc/<pid>/stat`` (clock ticks since
boot), so a pid reused after the writer died does not keep its files alive.
Without ``/proc`` the start is recorded as 0 and only the pid is checked.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WRITERS_DIR = ".prefect-dvc-writers"
# NOTE: a name must fit in 255 bytes; the writer part takes at most ~100.
_MAX_BASE = 120
_NAME = re.compile(
    r"\.~(?P<host>[A-Za-z0-9_.-]{1,64})~(?P<pid>\d{1,10})~(?P<start>\d{1,20})~[0-9a-f]{8}\.[a-z]+$"
)


def _host() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "localhost")
    return name[:64]


def _start_of(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot; None if it is not running."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    # NOTE: field 2 (the command) may hold spaces and ')', so count from the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[19])


HOST = _host()
_PID = os.getpid()
_START = _start_of(_PID) or 0


def _me() -> tuple[int, int]:
    """This process's (pid, start); recomputed after a fork."""
    global _PID, _START
    pid = os.getpid()
    if pid != _PID:
        _PID, _START = pid, _start_of(pid) or 0
    return _PID, _START


@dataclass(frozen=True)
class Writer:
    """Who made a temporary name: host name, process id and process start (ticks)."""

    host: str
    pid: int
    start: int


def tmp_name(base: str, suffix: str = "tmp") -> str:
    """A fresh temporary name for ``base`` (shortened to 120 characters) made by this process.

    Example: ``tmp_name("3f2a")`` -> ``"3f2a.~build-7~4242~981234~0c1d2e3f.tmp"``.
    """
    pid, start = _me()
    return f"{base[:_MAX_BASE]}.~{HOST}~{pid}~{start}~{secrets.token_hex(4)}.{suffix}"


def prefix_of(base: str) -> str:
    """What every ``tmp_name(base, ...)`` starts with, to sweep one file's leftovers only."""
    return f"{base[:_MAX_BASE]}.~"


@contextlib.contextmanager
def temp_dir(parent: Path, base: str) -> Iterator[Path]:
    """A new folder ``parent/tmp_name(base, "d")``, deleted with its content on exit.

    Leftovers of dead local writers beside it (same ``base``) are removed first.
    """
    parent.mkdir(parents=True, exist_ok=True)
    sweep(parent, prefix_of(base))
    folder = parent / tmp_name(base, "d")
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def writer_of(name: str) -> Writer | None:
    """The writer encoded in a name made by :func:`tmp_name`, or None for any other name."""
    match = _NAME.search(name)
    if match is None:
        return None
    return Writer(match["host"], int(match["pid"]), int(match["start"]))


def _alive(writer: Writer) -> bool:
    if (writer.pid, writer.start) == _me():
        return True
    start = _start_of(writer.pid)
    if start is None:
        return False
    if start == 0 or writer.start == 0:
        # NOTE: no /proc to compare start times: the pid alone must decide.
        try:
            os.kill(writer.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start == writer.start


def is_dead_local_writer(name: str) -> bool:
    """True when ``name`` was made on this host by a process that has ended.

    Names of other hosts, of running processes and names not made by
    :func:`tmp_name` are never considered dead.
    """
    writer = writer_of(name)
    return writer is not None and writer.host == HOST and not _alive(writer)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            # NOTE: cache temps are made read-only (0444) before their rename.
            with contextlib.suppress(OSError):
                os.chmod(path, 0o644, follow_symlinks=False)
            os.unlink(path)


def sweep(folder: Path, prefix: str | tuple[str, ...] = "") -> list[Path]:
    """Remove entries of ``folder`` starting with ``prefix`` (or any of them) that dead
    local writers left.

    Returns:
        The paths removed. A folder that does not exist, or entries that
        vanish meanwhile (another command sweeping), are not errors.
    """
    removed: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            doomed = [
                e.path
                for e in entries
                if e.name.startswith(prefix) and ".~" in e.name and is_dead_local_writer(e.name)
            ]
    except OSError:
        # NOTE: missing, not a folder, or unreadable: nothing we may clean there.
        return removed
    for path in doomed:
        with contextlib.suppress(OSError):
            _remove(path)
            removed.append(Path(path))
    return removed


def sweep_tree(root: Path) -> list[Path]:
    """:func:`sweep` ``root`` and every folder below it (not following symlinks)."""
    removed = sweep(root)
    for folder, dirs, _files in os.walk(root):
        for name in list(dirs):
            if is_dead_local_writer(name):
                dirs.remove(name)  # NOTE: a leftover folder goes whole, below
        removed.extend(p for d in dirs for p in sweep(Path(folder) / d))
    return removed


_registered: set[str] = set()
_registry_lock = threading.Lock()


def register_writer(root: Path) -> None:
    """Leave a marker saying this process may write temporary files under ``root``.

    Made once per process and root, removed at a normal exit; a marker left
    by a killed process tells :func:`sweep_after_crash` to look for leftovers.
    """
    key = os.path.abspath(root)
    with _registry_lock:
        if key in _registered:
            return
        folder = Path(key) / WRITERS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / tmp_name("writer", "pid")
        marker.touch()
        _registered.add(key)
    atexit.register(_unregister, marker)


def _unregister(marker: Path) -> None:
    with contextlib.suppress(OSError):
        marker.unlink()


def sweep_after_crash(root: Path) -> list[Path]:
    """If a dead local writer left its marker under ``root``, sweep the whole tree.

    Costs one listing of a folder of markers when nobody died, so every
    command that writes a cache can afford to call it.
    """
    try:
        with os.scandir(root / WRITERS_DIR) as entries:
            died = any(is_dead_local_writer(e.name) for e in entries)
    except OSError:
        return []
    # NOTE: the dead markers go with the rest, last-ish, so a sweep that is
    # itself interrupted is redone by the next command.
    return sweep_tree(root) if died else []
