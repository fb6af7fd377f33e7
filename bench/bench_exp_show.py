"""Time ``exp show`` (collect + render) over 10, 100 and 1,000 experiments.

Usage: ``python bench/bench_exp_show.py [N ...]``. Each repository is built in a
temporary folder: one baseline commit, then N experiment commits written by one
``git fast-import`` (the same objects ``commit-tree`` + ``update-ref`` give), each
changing ``params.yaml`` and ``metrics.json``. Prints seconds per phase.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from prefect_dvc.experiments.collect import ShowFiles, collect_experiments
from prefect_dvc.experiments.show import to_csv, to_json, to_table

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps:
    - train.py
    params:
    - train.lr
    metrics:
    - metrics.json:
        cache: false
"""
LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: train.py
      hash: md5
      md5: 9e1cad12ee7258f16167c533dae6ba18
      size: 9
"""


def git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=True)
    return out.stdout.decode().strip()


def build(root: Path, count: int) -> None:
    git(root, "init", "-q", "-b", "main")
    files = {
        "dvc.yaml": DVC_YAML,
        "dvc.lock": LOCK,
        "train.py": "print(1)\n",
        "params.yaml": "seed: 1\ntrain:\n  lr: 0.1\n",
        "metrics.json": '{"acc": 0.5}',
    }
    for rel, text in files.items():
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    stream = io.BytesIO()
    for i in range(count):
        ref = f"refs/exps/{base[:2]}/{base[2:]}/exp-{i:04d}"
        stream.write(f"commit {ref}\ncommitter B <b@e.com> {1700000000 + i} +0000\n".encode())
        stream.write(f"data 20\ndvc: commit exp {i:04d}\nfrom {base}\n".encode())
        for rel, text in (
            ("params.yaml", f"seed: 1\ntrain:\n  lr: {i / 1000}\n"),
            ("metrics.json", f'{{"acc": {i / 997:.6f}, "loss": {1 - i / 1000}}}'),
        ):
            raw = text.encode()
            stream.write(f"M 100644 inline {rel}\ndata {len(raw)}\n".encode() + raw + b"\n")
        stream.write(b"\n")
    git(root, "fast-import", "--quiet", stdin=stream.getvalue())


def measure(count: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, count)
        files = ShowFiles.from_dvcyaml(root)
        start = time.perf_counter()
        rows = collect_experiments(root, files)
        collected = time.perf_counter()
        console = Console(file=io.StringIO(), width=200)
        console.print(to_table(rows))
        to_csv(rows)
        to_json(rows)
        rendered = time.perf_counter()
        assert len(rows) == count + 2, len(rows)
        return collected - start, rendered - collected, rendered - start


def main(argv: list[str]) -> None:
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    counts = [int(a) for a in argv] or [10, 100, 1000]
    print(f"{'experiments':>11}  {'collect s':>9}  {'render s':>8}  {'total s':>7}")
    for count in counts:
        collect, render, total = measure(count)
        print(f"{count:>11}  {collect:>9.3f}  {render:>8.3f}  {total:>7.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
