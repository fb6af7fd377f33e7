"""Throughput of file and directory hashing; one table row per figure.

Data sets, created in a temporary folder (under ``--dir`` if given) and removed after:

- ``big``: one file of 1 GiB (``--quick``: 64 MiB).
- ``many``: 10,000 files totalling 1 GiB in 100 folders (``--quick``: 1,000 files, 64 MiB).

Figures for each data set:

- ``md5sum``: GNU md5sum in a subprocess, for reference (skipped if not installed).
- ``md5_file``: our streaming md5, one file after another in this thread.
- ``Hasher cold``: ``Hasher.hash_path`` with a fresh state DB (reads everything,
  in parallel, and remembers the hashes).
- ``Hasher warm``: the same call again with the state DB reopened, as the next
  ``status`` would do: one ``stat`` per file, no reads.

Usage::

    python bench/bench_hashing.py [--dir DIR] [--quick] [--jobs N]

The files stay in the page cache after they are written, so the cold figures
measure hashing, not the disk. Timings go to stdout only; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from prefect_dvc.storage.hashing import RACY_WINDOW_NS, Hasher, md5_file
from prefect_dvc.storage.state import StateDB

T = TypeVar("T")
MiB = 1 << 20
CHUNK = 16 * MiB
ARGS_PER_MD5SUM = 1000


@dataclass(frozen=True)
class DataSet:
    """Files to hash: ``root`` is what ``hash_path`` gets; ``files`` lists every file."""

    name: str
    root: Path
    files: tuple[Path, ...]
    nbytes: int


@dataclass(frozen=True)
class Row:
    figure: str
    seconds: float
    nbytes: int

    def render(self) -> str:
        rate = self.nbytes / self.seconds / 1e6 if self.seconds > 0 else float("inf")
        return f"{self.figure:<28} {self.seconds:>9.3f} {rate:>12,.0f}"


def make_big(root: Path, nbytes: int) -> DataSet:
    path = root / "big.bin"
    pool = os.urandom(CHUNK)
    with open(path, "wb") as fobj:
        for offset in range(0, nbytes, CHUNK):
            fobj.write(pool[: min(CHUNK, nbytes - offset)])
    return DataSet("big", path, (path,), nbytes)


def make_many(root: Path, nbytes: int, count: int) -> DataSet:
    top = root / "many"
    pool = os.urandom(CHUNK)
    each, extra = divmod(nbytes, count)
    files = []
    for i in range(count):
        path = top / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = each + (1 if i < extra else 0)
        start = (i * 4099) % (CHUNK - size)
        path.write_bytes(pool[start : start + size])
        files.append(path)
    return DataSet("many", top, tuple(files), nbytes)


def timed(label: str, nbytes: int, call: Callable[[], object]) -> Row:
    return timed_result(label, nbytes, call)[0]


def timed_result(label: str, nbytes: int, call: Callable[[], T]) -> tuple[Row, T]:
    start = time.perf_counter()
    result = call()
    return Row(label, time.perf_counter() - start, nbytes), result


def run_md5sum(files: Sequence[Path]) -> None:
    for start in range(0, len(files), ARGS_PER_MD5SUM):
        batch = [str(p) for p in files[start : start + ARGS_PER_MD5SUM]]
        subprocess.run(["md5sum", *batch], check=True, stdout=subprocess.DEVNULL)


def bench(data: DataSet, work: Path, jobs: int | None) -> list[Row]:
    rows = []
    if shutil.which("md5sum"):
        rows.append(timed(f"{data.name}: md5sum", data.nbytes, lambda: run_md5sum(data.files)))
    rows.append(
        timed(f"{data.name}: md5_file", data.nbytes, lambda: [md5_file(p) for p in data.files])
    )
    db_path = work / f"state-{data.name}.db"
    with StateDB(db_path) as state:
        cold = Hasher(state, jobs=jobs)
        row, expected = timed_result(
            f"{data.name}: Hasher cold", data.nbytes, lambda: cold.hash_path(data.root)
        )
        rows.append(row)

    def warm_call() -> None:
        with StateDB(db_path) as state:
            assert Hasher(state, jobs=jobs).hash_path(data.root) == expected

    rows.append(timed(f"{data.name}: Hasher warm", data.nbytes, warm_call))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", type=Path, help="where to create the data (default: $TMPDIR)")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 1,000 files")
    parser.add_argument("--jobs", type=int, help="Hasher threads (default: Hasher's own)")
    args = parser.parse_args(argv)
    nbytes, count = (64 * MiB, 1000) if args.quick else (1024 * MiB, 10_000)
    jobs_shown = args.jobs or Hasher().jobs
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, Hasher jobs={jobs_shown}, "
        f"data {nbytes // MiB} MiB"
    )
    with tempfile.TemporaryDirectory(prefix="bench-hashing-", dir=args.dir) as tmp:
        work = Path(tmp)
        sets = [make_big(work, nbytes), make_many(work, nbytes, count)]
        # NOTE: hashes of files modified within the racy window are not
        # remembered; wait it out so the warm figures measure data at rest.
        time.sleep(2 * RACY_WINDOW_NS / 1e9)
        print(f"{'figure':<28} {'seconds':>9} {'MB/s':>12}")
        for data in sets:
            for row in bench(data, work, args.jobs):
                print(row.render(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
