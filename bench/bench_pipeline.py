"""Time ``prefect-dvc repro`` (or real ``dvc repro``) on three pipelines; one line per figure.

Scenarios, each in a fresh temporary Git repository:

- ``parallel``: 4 independent stages that each ``sleep 1``, with ``-j 4`` and ``-j 1``.
  Parallel execution should finish in about 1 s plus start-up; serial in about 4 s.
- ``foreach200``: a 200-member ``foreach`` of trivial ``echo`` stages: first run, then
  a no-op rerun (which measures status checking, not execution).
- ``example``: ``examples/get-started``: first run, then a no-op rerun.

Usage::

    python bench/bench_pipeline.py                      # our CLI, next to sys.executable
    python bench/bench_pipeline.py --dvc /path/to/dvc   # the same scenarios on real DVC

DVC's ``repro`` has no ``--jobs`` option (it runs stages one at a time), so with
``--dvc`` the parallel scenario is timed once, without ``-j``. Timings go to stdout
only; nothing here is a test.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "get-started"
GIT_ENV_CONFIG = ("-c", "user.name=bench", "-c", "user.email=bench@example.com")


class BenchError(Exception):
    """A command the benchmark depends on failed; the message says which and why."""


@dataclass(frozen=True)
class Runner:
    """How to invoke ``repro``: our CLI (supports ``-j``) or real DVC (does not)."""

    label: str
    exe: str
    supports_jobs: bool

    def repro(self, repo: Path, jobs: int | None = None) -> float:
        """Run ``repro`` in ``repo`` and return its wall time in seconds."""
        argv = [self.exe, "repro"]
        if jobs is not None and self.supports_jobs:
            argv += ["-j", str(jobs)]
        return timed(argv, repo)


def timed(argv: Sequence[str], cwd: Path) -> float:
    """Wall time of one command; raises BenchError with its output if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BenchError(f"`{' '.join(argv)}` failed in {cwd} (exit {proc.returncode}):\n{tail}")
    return elapsed


def init_repo(root: Path, files: dict[str, str]) -> Path:
    """A Git repo with ``.dvc/`` (as ``dvc init`` leaves it), ``files`` and one commit."""
    root.mkdir(parents=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    timed(["git", "init", "-q"], root)
    (root / ".dvc").mkdir()
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    # NOTE: DVC's usage analytics would add network calls to its timings.
    (root / ".dvc" / "config").write_text("[core]\n    analytics = false\n")
    timed(["git", "add", "-A"], root)
    timed(["git", *GIT_ENV_CONFIG, "commit", "-q", "-m", "init"], root)
    return root


def parallel_files(n: int = 4) -> dict[str, str]:
    stages = "".join(
        f"  s{i}:\n    cmd: sleep 1 && echo {i} > out{i}.txt\n    outs:\n      - out{i}.txt\n"
        for i in range(n)
    )
    return {"dvc.yaml": "stages:\n" + stages}


def foreach_files(n: int = 200) -> dict[str, str]:
    items = "\n".join(f"    - i{i:03d}" for i in range(n))
    return {
        "dvc.yaml": (
            "stages:\n  echo:\n    foreach:\n" + items + "\n    do:\n"
            "      cmd: mkdir -p out && echo ${item} > out/${item}.txt\n"
            "      outs:\n        - out/${item}.txt\n"
        )
    }


def example_files() -> dict[str, str]:
    return {
        path.relative_to(EXAMPLE).as_posix(): path.read_text()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def bench_parallel(tmp: Path, runner: Runner, report: Callable[[str, float], None]) -> None:
    if not runner.supports_jobs:
        repo = init_repo(tmp / "parallel", parallel_files())
        report("parallel: 4 x sleep 1, first run (serial)", runner.repro(repo))
        return
    for jobs in (4, 1):
        repo = init_repo(tmp / f"parallel-j{jobs}", parallel_files())
        report(f"parallel: 4 x sleep 1, first run, -j {jobs}", runner.repro(repo, jobs))


def bench_foreach(tmp: Path, runner: Runner, report: Callable[[str, float], None]) -> None:
    repo = init_repo(tmp / "foreach", foreach_files())
    report("foreach: 200 echo stages, first run", runner.repro(repo))
    report("foreach: 200 echo stages, no-op rerun", runner.repro(repo))


def bench_example(tmp: Path, runner: Runner, report: Callable[[str, float], None]) -> None:
    repo = init_repo(tmp / "example", example_files())
    report("example: get-started, first run", runner.repro(repo))
    report("example: get-started, no-op rerun", runner.repro(repo))


def print_figure(label: str, what: str, seconds: float) -> None:
    """One figure per line, aligned, flushed at once so slow scenarios show progress."""
    print(f"{label:<12} {what:<45} {seconds:7.2f} s", flush=True)


SCENARIOS = {"parallel": bench_parallel, "foreach": bench_foreach, "example": bench_example}


def make_runner(dvc: str | None) -> Runner:
    """Our CLI next to the running interpreter, or real DVC at ``dvc``."""
    if dvc is not None:
        return Runner("dvc", dvc, supports_jobs=False)
    exe = Path(sys.executable).parent / "prefect-dvc"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install the package (`make bench` does it)")
    return Runner("prefect-dvc", str(exe), supports_jobs=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dvc", metavar="PATH", help="time real `dvc repro` at PATH instead")
    parser.add_argument(
        "--only", choices=sorted(SCENARIOS), action="append", help="run only these scenarios"
    )
    args = parser.parse_args(argv)

    try:
        runner = make_runner(args.dvc)
        report = functools.partial(print_figure, runner.label)
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            for name in args.only or list(SCENARIOS):
                SCENARIOS[name](Path(tmp), runner, report)
    except BenchError as exc:
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
