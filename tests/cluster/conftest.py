"""A real Dask cluster and an S3 remote (moto_server) shared by the cluster tests.

- ``remote_bucket``: a fresh bucket on the session's ``moto_server``, with
  test credentials in this process's environment for the module.
- ``dask_cluster``: a ``LocalCluster`` scheduler (no workers of its own) and
  two ``dask worker`` processes (one thread each, under a nanny that restarts
  a killed worker), each with its own working folder as cwd, ``TMPDIR`` and
  ``--local-directory``, so nothing a stage does lands near the driver's
  workspace; workers get ``PREFECT_API_URL`` of the session's test harness.
  Stage commands find ``CLUSTER_RECORDS`` in their environment: a folder
  (outside every repository) where they note where they ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto_buckets import CREDENTIALS, fresh_bucket


@dataclass(frozen=True)
class Cluster:
    address: str
    worker_dirs: tuple[Path, ...]
    records: Path


@pytest.fixture(scope="module")
def remote_bucket(s3_endpoint: str) -> Iterator[str]:
    """A fresh bucket name; credentials set in ``os.environ`` for the module."""
    with (
        pytest.MonkeyPatch.context() as mp,
        fresh_bucket(s3_endpoint, mp, "cluster") as name,
    ):
        yield name


def _wait_for_workers(client: object, count: int) -> None:
    client.wait_for_workers(count, timeout=120)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dask_cluster(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client, LocalCluster
    from prefect.settings import PREFECT_API_URL

    records = tmp_path_factory.mktemp("records")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = {
        **base,
        **CREDENTIALS,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CLUSTER_RECORDS": str(records),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    dask = str(Path(sys.executable).with_name("dask"))
    cluster = LocalCluster(n_workers=0, processes=True, dashboard_address=":0")
    procs: list[subprocess.Popen[bytes]] = []
    dirs = []
    logs = []
    try:
        for _ in range(2):
            folder = tmp_path_factory.mktemp("worker")
            dirs.append(folder)
            logs.append((folder / "worker.log").open("wb"))
            procs.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        cluster.scheduler_address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--local-directory",
                        str(folder),
                        "--no-dashboard",
                    ],
                    cwd=folder,
                    env={**env, "TMPDIR": str(folder)},
                    stdout=subprocess.DEVNULL,
                    stderr=logs[-1],
                )
            )
        with Client(cluster.scheduler_address) as client:
            _wait_for_workers(client, 2)
        yield Cluster(cluster.scheduler_address, tuple(dirs), records)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        cluster.close()
        for log in logs:
            log.close()
