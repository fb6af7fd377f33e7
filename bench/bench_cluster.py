"""Stages on a Dask cluster: overlap of independent stages, and the cost of shipping a dep.

Usage: ``PYTHONPATH=. python bench/bench_cluster.py``. Needs the ``[dask]`` extra.

1. 8 independent ``sleep 2`` stages: ``repro --cluster dask:4`` (a new
   LocalCluster of 4 worker processes, started inside the timing) against the
   4 s ideal, and against a local ``repro -j 1`` (16 s of sleeping).
   Also on an already running 4-worker cluster whose workers have imported
   Prefect and prefect-dvc (what a long-lived cluster looks like).
2. One stage reading a 100 MB dep, on a running 1-worker cluster and locally:
   the difference is what the store costs per stage. First run: the snapshot
   is uploaded and the worker downloads it; second run (``-f``): the remote
   and the worker's cache already hold it (one existence check, a hardlink).

The remote is a local folder (``file://``), so the figures show our own
overhead (hashing, copying, Dask and Prefect), not a network's bandwidth.
Prefect's API is a temporary server started once for the whole benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prefect_dvc.flows.local import run_repro_locally

N_SLEEPS = 8
BIG = 100 * 1024 * 1024


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def project(root: Path, dvc_yaml: str, files: dict[str, bytes], remote: Path | None) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / ".dvc").mkdir()
    config = f"[core]\n    remote = store\n['remote \"store\"']\n    url = {remote}\n"
    (root / ".dvc" / "config").write_text(config if remote else "")
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    (root / "dvc.yaml").write_text(dvc_yaml)
    for name, data in files.items():
        (root / name).write_bytes(data)
    git(root, "add", "-A")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init")
    return root


def sleeps_yaml() -> str:
    stages = [
        f"  s{i}:\n    cmd: sleep 2 && echo {i} > o{i}.txt\n    outs: [o{i}.txt]\n"
        for i in range(N_SLEEPS)
    ]
    return "stages:\n" + "".join(stages)


BIG_YAML = (
    "stages:\n  digest:\n    cmd: md5sum big.bin > digest.txt\n"
    "    deps: [big.bin]\n    outs: [digest.txt]\n"
)


def timed(root: Path, **params: object) -> float:
    start = time.perf_counter()
    run = run_repro_locally(root, **params)
    wall = time.perf_counter() - start
    if not run.ok:
        sys.exit(f"run failed: {run.summary()}")
    return wall


def api_url() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # the temporary server of this process
        return str(client.api_url)


def warm_cluster(workers: int) -> Any:
    """A LocalCluster whose workers have imported Prefect and prefect-dvc already."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env={"PREFECT_API_URL": api_url()},
    )
    with Client(cluster) as client:
        client.run(lambda: __import__("prefect_dvc.tasks.remote_stage"))
    return cluster


def sleeps(base: Path, remote: Path) -> None:
    cold_repo = project(base / "sleeps-cold", sleeps_yaml(), {}, remote)
    warm_repo = project(base / "sleeps-warm", sleeps_yaml(), {}, remote)
    local_repo = project(base / "sleeps-local", sleeps_yaml(), {}, None)
    timed(local_repo, targets=["s0"])  # NOTE: warm-up: Prefect's server and imports
    cold = timed(cold_repo, cluster="dask:4", run_cache=False)
    cluster = warm_cluster(4)
    try:
        warm = timed(warm_repo, cluster=cluster.scheduler_address, run_cache=False)
    finally:
        cluster.close()
    serial = timed(local_repo, jobs=1, force=True, run_cache=False)
    print(f"{N_SLEEPS} x 'sleep 2', 4 Dask workers, running cluster: {warm:.1f} s (ideal 4.0 s)")
    print(f"{N_SLEEPS} x 'sleep 2', --cluster dask:4 (starts it):   {cold:.1f} s")
    print(f"{N_SLEEPS} x 'sleep 2', locally with -j 1:              {serial:.1f} s (ideal 16.0 s)")


def big_dep(base: Path, remote: Path) -> None:
    data = {"big.bin": os.urandom(BIG)}
    big_dask = project(base / "big-dask", BIG_YAML, data, remote)
    big_local = project(base / "big-local", BIG_YAML, data, None)
    cluster = warm_cluster(1)
    try:
        address = cluster.scheduler_address
        local_first = timed(big_local, run_cache=False)
        dask_first = timed(big_dask, cluster=address, run_cache=False)
        local_again = timed(big_local, force=True, run_cache=False)
        dask_again = timed(big_dask, cluster=address, force=True, run_cache=False)
    finally:
        cluster.close()
    print(
        f"100 MB dep, 1 stage, first run:  local {local_first:.1f} s, cluster {dask_first:.1f} s"
        f" (+{dask_first - local_first:.1f} s: hash, upload, download, link)"
    )
    print(
        f"100 MB dep, 1 stage, second run: local {local_again:.1f} s, cluster {dask_again:.1f} s"
        f" (+{dask_again - local_again:.1f} s: objects already on the remote and the worker)"
    )


def main() -> None:
    os.environ.setdefault("PREFECT_DVC_SERVER", "temporary")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        base = Path(tmp)
        remote = base / "remote"
        remote.mkdir()
        sleeps(base, remote)
        big_dep(base, remote)


if __name__ == "__main__":
    main()
