"""Stop an on-demand local Prefect server once nobody has used it for a while.

Run as ``python -m prefect_dvc.flows.idle_watch --home H --pid P --idle S``
by :func:`prefect_dvc.flows.background.ensure_background_server`, in a
session of its own. It polls every few seconds and ends by itself once the
server is gone (``server stop``) or after stopping an idle one.

"Used" means any of: a live prefect-dvc command holds the users lock
(``background.mark_used``); a command touched ``$PREFECT_HOME/
prefect-dvc-server.used`` within ``S`` seconds; a flow run is running,
pending or cancelling; a scheduled run became due within ``S`` seconds (a
run waiting for a worker on a work pool). The server is asked through its
REST API (``POST /api/flow_runs/count``) with the standard library, so the
watcher costs no Prefect import and a few MB of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect_dvc.flows import server as server_lib
from prefect_dvc.flows.background import USED_FILE, in_use

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ACTIVE_STATES = ["RUNNING", "PENDING", "CANCELLING"]


def _count(api_url: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        api_url.rstrip("/") + "/flow_runs/count",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=10) as resp:
        return int(json.loads(resp.read() or b"0"))


def busy(api_url: str, idle: float, now: datetime | None = None) -> bool:
    """Whether the server has a live or due flow run (an unreadable answer counts as busy)."""
    now = now or datetime.now(UTC)
    due = {
        "state": {"type": {"any_": ["SCHEDULED"]}},
        "expected_start_time": {
            "after_": (now - timedelta(seconds=idle)).isoformat(),
            "before_": now.isoformat(),
        },
    }
    try:
        active = _count(api_url, {"flow_runs": {"state": {"type": {"any_": ACTIVE_STATES}}}})
        return active > 0 or _count(api_url, {"flow_runs": due}) > 0
    except (OSError, ValueError):
        return True


def last_used(home: Path, since: float) -> float:
    """The usage stamp's time (epoch seconds), or ``since`` when there is none."""
    try:
        return max(since, (home / USED_FILE).stat().st_mtime)
    except OSError:
        return since


def watch(home: Path, pid: int, idle: float, poll: float | None = None) -> str:
    """Wait until the server ``pid`` is gone or idle for ``idle`` s; returns why it ended."""
    poll = poll or max(0.5, min(5.0, idle / 4))
    started = time.time()
    while True:
        time.sleep(poll)
        info = server_lib.read_info(home)
        if not server_lib._pid_alive(pid):
            return "gone"
        if info is None or info.pid != pid:
            # NOTE: the record was removed or replaced (PREFECT_HOME deleted) while
            # the server runs: no command can find it again, so it only lingers.
            server_lib._terminate(pid)
            return "orphaned"
        if in_use(home):
            (home / USED_FILE).touch()
            continue
        if time.time() - last_used(home, started) < idle:
            continue
        if busy(info.api_url, idle):
            (home / USED_FILE).touch()
            continue
        server_lib.stop_server(home)
        return "idle"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prefect_dvc.flows.idle_watch")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--pid", required=True, type=int)
    parser.add_argument("--idle", required=True, type=float)
    args = parser.parse_args(argv)
    why = watch(args.home, args.pid, args.idle)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} prefect-dvc idle watcher (pid {os.getpid()}): server {why}", flush=True)


if __name__ == "__main__":
    main()
