"""DVC's per-path read/write locks: ``.dvc/tmp/rwlock``.

Provides:
    rwlock(tmp_dir, root, read=, write=, what=): hold read locks on ``read``
        and write locks on ``write`` (absolute paths) while the block runs.

The file is DVC's (``dvc/rwlock.py``): JSON
``{"read": {path: [{"pid": int, "cmd": str}, ...]}, "write": {path: {"pid": int, "cmd": str}}}``
with absolute paths, edited only under the file lock ``rwlock.lock`` beside
it. A path may be read by many processes or written by one; a path blocks
another when either contains the other. Entries of processes that no longer
exist are removed on the next edit, as DVC does.

Unlike DVC, which refuses when the same path is locked twice by one
process, threads of one process share their pid: the process counts its
own uses of a path and leaves the file's entry until the last one ends.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from prefect_dvc.errors import LockError
from prefect_dvc.locks.repo_lock import take_file_lock, this_command
from prefect_dvc.yamlio import atomic_write

RWLOCK_FILE = "rwlock"
RWLOCK_LOCK = "rwlock.lock"

_WAIT_HINT = (
    "Wait for it to finish and run again, or queue experiments with 'prefect-dvc exp run --queue'"
)

_COUNTS: Counter[tuple[str, str, str]] = Counter()
_COUNTS_MUTEX = threading.Lock()


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


@contextmanager
def _edit(tmp_dir: Path, root: Path) -> Iterator[dict[str, Any]]:
    path = tmp_dir / RWLOCK_FILE
    guard = take_file_lock(tmp_dir / RWLOCK_LOCK, root, wait=True)
    try:
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except FileNotFoundError:
            data = {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LockError(
                f"unable to read RWLock-file '{_rel(path, root)}': JSON structure is corrupted",
                hint="If no DVC or prefect-dvc process is running, delete it and run again",
            ) from None
        shape_ok = isinstance(data, dict) and all(
            isinstance(data.get(mode, {}), dict) for mode in ("read", "write")
        )
        if not shape_ok:
            raise LockError(
                f"RWLock-file '{_rel(path, root)}' format error",
                hint="If no DVC or prefect-dvc process is running, delete it and run again",
            )
        data.setdefault("read", {})
        data.setdefault("write", {})
        yield data
        data = {k: v for k, v in data.items() if v}
        atomic_write(path, json.dumps(data))
    finally:
        guard.close()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _infos(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [i for i in items if isinstance(i, dict) and "pid" in i]


def _drop_dead(data: dict[str, Any]) -> None:
    """Remove entries of processes that no longer exist (DVC warns and does the same)."""
    for mode in ("read", "write"):
        for path in list(data[mode]):
            alive = [i for i in _infos(data[mode][path]) if psutil.pid_exists(int(i["pid"]))]
            if not alive:
                del data[mode][path]
            elif mode == "read":
                data[mode][path] = alive


def _blockers(data: dict[str, Any], mode: str, wanted: Sequence[str], pid: int) -> list[str]:
    found = []
    for path, value in data[mode].items():
        for want in wanted:
            if _overlaps(want, path):
                found += [
                    f"'{want}' is {'written' if mode == 'write' else 'read'} by "
                    f"PID {i['pid']}: {i.get('cmd', '')}"
                    for i in _infos(value)
                    if int(i["pid"]) != pid
                ]
    return found


def _acquire(
    tmp_dir: Path,
    root: Path,
    read: Sequence[str],
    write: Sequence[str],
    what: str,
    hint: str,
    stage: str | None = None,
) -> list[tuple[str, str, str]]:
    info = {"pid": psutil.Process().pid, "cmd": this_command()}
    taken: list[tuple[str, str, str]] = []
    with _edit(tmp_dir, root) as data:
        _drop_dead(data)
        blockers = _blockers(data, "write", [*read, *write], info["pid"])
        blockers += _blockers(data, "read", write, info["pid"])
        if blockers:
            raise LockError(
                f"{what}: {blockers[0]}",
                holder=blockers[0].split(" by ", 1)[-1],
                hint=hint,
                stage=stage,
            )
        with _COUNTS_MUTEX:
            for mode, paths in (("read", read), ("write", write)):
                for p in dict.fromkeys(paths):
                    key = (str(tmp_dir), mode, p)
                    _COUNTS[key] += 1
                    taken.append(key)
                    if mode == "read" and info not in data["read"].setdefault(p, []):
                        data["read"][p].append(info)
                    if mode == "write":
                        data["write"][p] = info
    return taken


def _release(tmp_dir: Path, root: Path, taken: list[tuple[str, str, str]]) -> None:
    pid = psutil.Process().pid
    with _edit(tmp_dir, root) as data, _COUNTS_MUTEX:
        for key in taken:
            _COUNTS[key] -= 1
            if _COUNTS[key] > 0:
                continue
            del _COUNTS[key]
            _, mode, path = key
            if mode == "write" and _infos(data["write"].get(path, {}))[:1]:
                if int(data["write"][path]["pid"]) == pid:
                    del data["write"][path]
            elif mode == "read" and path in data["read"]:
                kept = [i for i in _infos(data["read"][path]) if int(i["pid"]) != pid]
                if kept:
                    data["read"][path] = kept
                else:
                    del data["read"][path]


@contextmanager
def rwlock(
    tmp_dir: Path,
    root: Path,
    *,
    read: Sequence[str] = (),
    write: Sequence[str] = (),
    what: str = "a path is in use",
    hint: str = _WAIT_HINT,
    stage: str | None = None,
) -> Iterator[None]:
    """Hold read locks on ``read`` and write locks on ``write`` while the block runs.

    Args:
        tmp_dir: the folder of the ``rwlock`` file (``.dvc/tmp``, or DVC's
            ``.dvc/tmp/exps`` for experiment-level locks).
        root: the repository root, to name files in messages.
        read, write: absolute POSIX paths (or DVC's tokens such as ``workspace``).
        what: the message's start (``stage 'train' cannot run``).
        hint: what the user should do, after the holder is named.
        stage: the stage these locks are for; set on the error (its line leads with it).

    Raises:
        LockError: another live process writes a path that overlaps one of
            ours, or reads one we want to write; names it (pid, command).
    """
    taken = _acquire(tmp_dir, root, read, write, what, hint, stage)
    try:
        yield
    finally:
        _release(tmp_dir, root, taken)
