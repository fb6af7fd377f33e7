"""Remembering, for a short while, that a remote could not be reached.

Provides:
    REMEMBER_SECONDS: how long a failure is remembered across commands (60 s).
    remembered_failure(tmp_dir, url): the one-line reason a recent command
        recorded for ``url``, or ``None``.
    remember_failure(tmp_dir, url, reason): record it (in ``.dvc/tmp``).
    forget_failure(tmp_dir, url): drop it after the remote answered.

Why: ``repro``/``exp run`` consult the remote run-cache only as an
optimisation. When the remote is down, a burst of runs (a sweep of ``exp
run`` calls) should not each wait for the connection timeout; the first
one records the failure and the next ones skip the remote at once. The file
holds a hash of the URL (which may carry credentials) and the one-line
reason, which ``RemoteError`` has already scrubbed of credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

REMEMBER_SECONDS = 60.0
_FILE = "remote-unreachable.json"


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _read(tmp_dir: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((tmp_dir / _FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(tmp_dir: Path, data: dict[str, dict[str, object]]) -> None:
    # NOTE: best effort and atomic (temp file + rename): a read-only or full
    # .dvc/tmp only costs the next command its wait, never the command itself.
    with contextlib.suppress(OSError):
        tmp_dir.mkdir(parents=True, exist_ok=True)
        part = tmp_dir / f".{_FILE}.{os.getpid()}"
        part.write_text(json.dumps(data))
        os.replace(part, tmp_dir / _FILE)


def remembered_failure(tmp_dir: Path, url: str, *, now: float | None = None) -> str | None:
    """The reason recorded for ``url`` less than :data:`REMEMBER_SECONDS` ago, else ``None``."""
    record = _read(tmp_dir).get(_key(url))
    if not isinstance(record, dict):
        return None
    at, reason = record.get("at"), record.get("reason")
    current = time.time() if now is None else now
    if not isinstance(at, int | float) or not isinstance(reason, str):
        return None
    return reason if 0 <= current - at < REMEMBER_SECONDS else None


def remember_failure(tmp_dir: Path, url: str, reason: str) -> None:
    """Record that ``url`` failed just now with the one-line ``reason`` (no credentials in it)."""
    data = _read(tmp_dir)
    data[_key(url)] = {"at": time.time(), "reason": reason}
    _write(tmp_dir, data)


def forget_failure(tmp_dir: Path, url: str) -> None:
    """Drop a recorded failure of ``url`` (it answered)."""
    data = _read(tmp_dir)
    if data.pop(_key(url), None) is not None:
        _write(tmp_dir, data)
