"""A running cluster snapshot survives ``gc -c`` from another clone while its lease lives.

The snapshot and the lease are made in-process with the driver's own code
(``take_snapshot``, ``LeaseKeeper``/``write_lease``); the collector is the real
``prefect-dvc gc -c`` command run in a second clone that shares the S3 remote.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cluster_project import make_project, s3_config
from helpers import git

from prefect_dvc.cluster.snapshot import take_snapshot
from prefect_dvc.config import load_config
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage.leases import Lease, LeaseKeeper, leased_oids, write_lease
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.translators.index import load_index

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _gc(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, "gc", "-c", "-w", "-f"], cwd=repo, capture_output=True, text=True, env=env
    )


def test_gc_cloud_keeps_leased_snapshot_until_the_lease_expires(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    make_project(git_repo, s3_config(s3_bucket, s3_endpoint))
    remote = open_remote(load_config(git_repo).remote(None))
    _stores, hasher = open_stores_for(git_repo, use_remote=False)
    try:
        snap = take_snapshot(git_repo, load_index(git_repo), hasher, remote.objects)
    finally:
        hasher.close()
    files = {e.oid for e in remote.objects.read_tree(snap.oid).entries}
    names = {snap.oid, *files}
    assert remote.objects.existing(names) == names
    lease = Lease("run-test", (snap.oid,), time.time() + 600)
    write_lease(remote.objects.location, lease)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))

    kept = _gc(clone)

    assert kept.returncode == 0, kept.stderr
    assert remote.objects.existing(names) == names

    write_lease(remote.objects.location, Lease("run-test", (snap.oid,), time.time() - 1))
    collected = _gc(clone)

    assert collected.returncode == 0, collected.stderr
    assert remote.objects.existing(names) == set()


def test_lease_keeper_holds_while_open_and_drops_on_exit(s3_bucket: str, s3_endpoint: str) -> None:
    from prefect_dvc.config import RemoteConfig

    rc = RemoteConfig("store", f"s3://{s3_bucket}/r", (("endpointurl", s3_endpoint),))
    location = open_remote(rc).objects.location
    oid = "d41d8cd98f00b204e9800998ecf8427e"

    with LeaseKeeper(location, "run-a", (oid,), ttl=60) as keeper:
        assert leased_oids(location) == {oid}
        keeper.add(["0cc175b9c0f1b6a831c399e269772661"])
        assert leased_oids(location) == {oid, "0cc175b9c0f1b6a831c399e269772661"}
        assert leased_oids(location, now=time.time() + 61) == set()

    assert leased_oids(location) == set()
