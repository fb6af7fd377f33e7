"""Time only the first command of a day: ``exp run -S`` with no server running.

Usage: ``python bench/bench_first_of_day.py --rounds 3``. Builds the example
for real DVC and for prefect-dvc (default set-up), warms Prefect's database
once, then in each round stops the background server and times
``exp run -S`` for both tools, alternating which goes first. Prints only;
it checks that each of our runs reached the server (as ``bench_vs_dvc.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vs_dvc import CLI, ROOT, Tool, _load, base_env, check_recorded, dvc_env, make_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dvc", default=str(ROOT / ".venv-dvc" / "bin" / "dvc"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {"dvc": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench-first-day-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        dvc = Tool("dvc", [args.dvc], dvc_env(args.dvc, work), ours=False)
        ours = Tool("default", [CLI], base_env(work / "home", work / "p-default"), ours=True)
        print(f"load average at start: {_load()}", flush=True)
        try:
            projects = {}
            for tool in (dvc, ours):
                projects[tool.label] = make_project(work / tool.label)
                tool.run(projects[tool.label], "repro")  # warm-up: database, caches
            for index in range(args.rounds):
                order = (dvc, ours) if index % 2 == 0 else (ours, dvc)
                for tool in order:
                    tool.stop_server()
                    argv = ["exp", "run", "-n", f"day-{index}", "-S", f"train.lr=0.{index}9"]
                    wall = tool.run(projects[tool.label], *argv)
                    if tool.ours:
                        check_recorded(Path(tool.env["PREFECT_HOME"]), f"day-{index}")
                    times["dvc" if not tool.ours else "ours"].append(wall)
                    print(f"round {index + 1} {tool.label}: {wall:.2f} s", flush=True)
        finally:
            ours.stop_server()
    print(f"load average at end: {_load()}")
    d, o = statistics.median(times["dvc"]), statistics.median(times["ours"])
    print(f"first of the day, median of {args.rounds}: DVC {d:.2f} s, ours {o:.2f} s, {o / d:.2f}x")


if __name__ == "__main__":
    main()
