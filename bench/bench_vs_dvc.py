"""prefect-dvc against real DVC on ``examples/get-started``, interleaved, same machine, same run.

Usage: ``.venv/bin/python bench/bench_vs_dvc.py [--rounds 3] [--dvc .venv-dvc/bin/dvc]``

Each round builds fresh twins of the example (one per tool and set-up) and
times whole processes, alternating which tool goes first:

- ``first repro``: every stage runs;
- ``no-op repro``: nothing changed;
- ``exp run -S``: one experiment with a new ``train.lr``;
- ``queue -j 3``: 6 queued experiments run with ``exp run --run-all -j 3``
  (DVC: ``dvc exp run --queue`` x6, then ``dvc exp run --run-all -j 3``);
- ``first of the day``: ``exp run -S`` with Prefect's database in place but
  no server running (prefect-dvc's default set-up only: it starts the
  background server; for DVC the figure is its ordinary ``exp run``).

Our set-ups: ``default`` (no ``PREFECT_API_URL``: the shared background
server, ``flows/background.py``) and ``temporary``
(``PREFECT_DVC_SERVER=temporary``: Prefect's per-process server). No DVC
remote is configured for either tool. Speed must not come from leaving
Prefect out: after each of our ``exp run``\\ s in the default set-up the
script reads the flow run and its task runs back from the server and stops
with an error if the flow run or any stage's task run is missing.

Prints the median of each measure per tool and set-up and the ratio to DVC.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "get-started"
CLI = str(Path(sys.executable).with_name("prefect-dvc"))
STAGES = 8  # examples/get-started after foreach expansion
MEASURES = ("first repro", "no-op repro", "exp run -S", "queue -j 3", "first of the day")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_project(root: Path) -> Path:
    """The example committed in a fresh Git repository with an empty ``.dvc/``."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    (root / ".dvc").mkdir(exist_ok=True)
    (root / ".dvc" / "config").write_text("")
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "example")
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(user_home: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DVC_"))}
    # NOTE: as on a user's machine: bytecode is cached. Without it our editable
    # install recompiles its sources in every process while DVC's installed
    # package does not (this sandbox sets PYTHONDONTWRITEBYTECODE=1).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOME=str(user_home),
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        DVC_NO_ANALYTICS="1",
        # NOTE: the default-port probe would find a server a user runs on :4200.
        PREFECT_SERVER_API_PORT=str(_free_port()),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def dvc_env(dvc: str, work: Path) -> dict[str, str]:
    """DVC's environment: its queue workers run ``dvc`` from ``PATH``, so its folder leads."""
    env = base_env(work / "home", work / "p-dvc")
    env["PATH"] = f"{Path(dvc).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired:
        sys.exit(f"'{' '.join(argv)}' did not finish in 20 min in {cwd}")
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"'{' '.join(argv)}' failed in {cwd}:\n{proc.stderr[-3000:]}")
    return wall


def _post(url: str, body: dict[str, object]) -> object:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def check_recorded(prefect_home: Path, name: str) -> None:
    """Stop the benchmark unless flow run ``name`` and one task run per stage are on the server."""
    record = json.loads((prefect_home / "prefect-dvc-server.json").read_text())
    api = record["api_url"]
    runs = _post(f"{api}/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}})
    if not isinstance(runs, list) or len(runs) != 1:
        sys.exit(f"flow run '{name}' is not on the server {api}")
    flow_run = runs[0]["id"]
    tasks = _post(f"{api}/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run]}}})
    count = len(tasks) if isinstance(tasks, list) else 0
    if count < STAGES:
        sys.exit(f"flow run '{name}' has {count} task runs on {api}, expected >= {STAGES}")


class Tool:
    """How one tool and set-up runs each measured command."""

    def __init__(self, label: str, argv0: list[str], env: dict[str, str], ours: bool) -> None:
        self.label, self.argv0, self.env, self.ours = label, argv0, env, ours

    def run(self, cwd: Path, *args: str) -> float:
        return timed([*self.argv0, *args], cwd, self.env)

    def stop_server(self) -> None:
        """Stop the background server this set-up started; kill what ``server stop`` left."""
        if not self.ours:
            return
        subprocess.run([CLI, "server", "stop"], env=self.env, capture_output=True, timeout=120)
        record = Path(self.env["PREFECT_HOME"]) / "prefect-dvc-server.json"
        if not record.exists():
            return
        # NOTE: the record names the server and its idle watcher, both started
        # by this benchmark's commands; nothing else is ever killed.
        pids = json.loads(record.read_text())
        for key in ("pid", "watcher"):
            if isinstance(pids.get(key), int):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pids[key], signal.SIGTERM)


def one_round(tool: Tool, work: Path, index: int, record: Callable[[str, float], None]) -> None:
    project = make_project(work / f"{tool.label}-{index}")
    record("first repro", tool.run(project, "repro"))
    record("no-op repro", tool.run(project, "repro"))
    name = f"lr-{index}"
    record("exp run -S", tool.run(project, "exp", "run", "-n", name, "-S", f"train.lr=0.{index}7"))
    if tool.ours and tool.label == "default":
        check_recorded(Path(tool.env["PREFECT_HOME"]), name)
    for j in range(6):
        tool.run(project, "exp", "run", "--queue", "-S", f"train.lr=0.{index}{j}1")
    record("queue -j 3", tool.run(project, "exp", "run", "--run-all", "-j", "3"))
    if tool.ours and tool.label == "default":
        tool.stop_server()
        name = f"day-{index}"
        wall = tool.run(project, "exp", "run", "-n", name, "-S", f"train.lr=0.{index}9")
        check_recorded(Path(tool.env["PREFECT_HOME"]), name)
        record("first of the day", wall)
    elif not tool.ours:
        record("first of the day", tool.run(project, "exp", "run", "-S", f"train.lr=0.{index}9"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dvc", default=str(ROOT / ".venv-dvc" / "bin" / "dvc"))
    args = parser.parse_args()
    if not Path(args.dvc).exists():
        sys.exit(f"real DVC not found at {args.dvc}: run 'make test' or pass --dvc")
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="bench-vs-dvc-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        tools = [
            Tool("dvc", [args.dvc], dvc_env(args.dvc, work), ours=False),
            Tool("default", [CLI], base_env(work / "home", work / "p-default"), ours=True),
            Tool(
                "temporary",
                [CLI],
                {**base_env(work / "home", work / "p-temp"), "PREFECT_DVC_SERVER": "temporary"},
                ours=True,
            ),
        ]
        print(f"load average at start: {_load()}", flush=True)
        try:
            # Warm-up, not timed: Prefect's database migrations, first imports, DVC's site cache.
            for tool in tools:
                warm = make_project(work / f"warm-{tool.label}")
                tool.run(warm, "repro")
            for index in range(args.rounds):
                order = tools if index % 2 == 0 else list(reversed(tools))
                for tool in order:
                    one_round(tool, work, index, _recorder(results[tool.label]))
                print(f"round {index + 1}/{args.rounds} done", flush=True)
        finally:
            for tool in tools:
                tool.stop_server()
    print(f"load average at end: {_load()}")
    report(results, args.rounds)


def _load() -> str:
    """The 1, 5 and 15 minute load averages (other users of the machine skew the walls)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def _recorder(bucket: dict[str, list[float]]) -> Callable[[str, float], None]:
    return lambda measure, wall: bucket[measure].append(wall)


def report(results: dict[str, dict[str, list[float]]], rounds: int) -> None:
    print(f"\nexamples/get-started ({STAGES} stages), medians of {rounds} interleaved rounds")
    print(
        f"{'measure':18s} {'dvc':>9s} {'default':>9s} {'ratio':>6s}"
        f" {'temporary':>10s} {'ratio':>6s}"
    )
    for measure in MEASURES:
        dvc = statistics.median(results["dvc"][measure]) if results["dvc"][measure] else None
        cells = [f"{measure:18s}", f"{dvc:8.2f}s" if dvc else f"{'-':>9s}"]
        for label, width in (("default", 9), ("temporary", 10)):
            walls = results[label][measure]
            if not walls:
                cells += [f"{'-':>{width}s}", f"{'-':>6s}"]
                continue
            ours = statistics.median(walls)
            cells += [f"{ours:{width - 1}.2f}s", f"{ours / dvc:5.2f}x" if dvc else f"{'-':>6s}"]
        print(" ".join(cells))


if __name__ == "__main__":
    main()
