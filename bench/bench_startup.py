"""Wall time of ``prefect-dvc exp run`` on the example: temporary server vs a running one.

Usage: ``.venv/bin/python bench/bench_startup.py [--runs 3]``

Each run is a whole ``prefect-dvc exp run -n <name> -S train.lr=<new>``
process on a fresh commit of ``examples/get-started`` with every stage
forced to run (``-f``), so the numbers compare only how the CLI reaches a
Prefect API:

- ephemeral: no server anywhere; Prefect spawns a temporary one per process
  (``PREFECT_HOME`` reused, so migrations are done once, before timing);
- server: ``prefect-dvc server start`` ran once; the CLI finds it under
  ``PREFECT_HOME`` (the fast path in ``flows/local.py``), no ``PREFECT_API_URL``.

Prints the median of ``--runs`` for each (and the individual walls).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "get-started"
CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_project(root: Path) -> None:
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    (root / ".dvc").mkdir(exist_ok=True)
    (root / ".dvc" / "config").write_text("")
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "example")


def env_for(home: Path, user_home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        HOME=str(user_home),
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        # keep the default-port probe away from any server a user runs on :4200
        PREFECT_SERVER_API_PORT=str(port),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def timed_run(project: Path, env: dict[str, str], name: str, lr: float) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [CLI, "exp", "run", "-f", "-n", name, "-S", f"train.lr={lr}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"exp run failed:\n{proc.stderr[-3000:]}")
    return wall


def series(label: str, project: Path, env: dict[str, str], runs: int) -> list[float]:
    timed_run(project, env, f"{label}-warmup", 0.11)  # migrations, first imports
    walls = [timed_run(project, env, f"{label}-{i}", 0.12 + i / 100) for i in range(runs)]
    print(
        f"{label:10s} median {statistics.median(walls):6.2f} s   "
        f"runs: {', '.join(f'{w:.2f}' for w in walls)}",
        flush=True,
    )
    return walls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = Path(tmp)
        project, user_home = base / "proj", base / "home"
        user_home.mkdir()
        make_project(project)
        port = free_port()
        env = env_for(base / "prefect-home", user_home, port)
        print(f"prefect-dvc exp run -f on examples/get-started (8 stages), {args.runs} runs each")
        series("ephemeral", project, env, args.runs)
        start = subprocess.run(
            [CLI, "server", "start", "--port", str(port)], env=env, capture_output=True, text=True
        )
        if start.returncode != 0:
            sys.exit(start.stderr)
        try:
            series("server", project, env, args.runs)
        finally:
            subprocess.run([CLI, "server", "stop"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
