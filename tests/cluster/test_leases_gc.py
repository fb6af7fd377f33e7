"""A running cluster snapshot survives ``gc -c`` from another clone while its lease lives.

The snapshot and the lease are made in-process with the driver's own code
(``take_snapshot``, ``LeaseKeeper``/``write_lease``); the collector is the real
``prefect-dvc gc -c`` command run in a second clone that shares the S3 remote.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cluster_project import make_project, s3_config, worker_job
from helpers import git

from prefect_dvc.cluster.snapshot import take_snapshot
from prefect_dvc.cluster.worker import run_job
from prefect_dvc.config import load_config
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.leases import (
    Lease,
    LeaseKeeper,
    drop_run_leases,
    leased_oids,
    task_lease_id,
    write_lease,
)
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


WORKER_STAGE = (
    "stages:\n  make:\n    cmd: mkdir -p model && echo weights > model/w.bin"
    " && echo score > metrics.txt\n    deps: [data/in.txt]\n    outs: [model, metrics.txt]\n"
)


def _worker_run(root: Path, monkeypatch, tmp_path: Path, lease: str) -> set[str]:
    """The worker's side of ``make`` in-process (no adoption); its outs' object ids."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "worker-tmp"))
    (tmp_path / "worker-tmp").mkdir()
    result = run_job(worker_job(root, "make", lease), lambda line: None)
    remote = open_remote(load_config(root).remote(None))
    infos = [HashInfo.from_lock(o) for o in result.entry["outs"]]
    return {i.oid for i in infos} | {
        e.oid for i in infos if i.is_dir for e in remote.objects.read_tree(i.oid).entries
    }


def test_outs_a_worker_uploaded_survive_gc_before_the_driver_adopts_them(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, tmp_path: Path, monkeypatch
) -> None:
    make_project(git_repo, s3_config(s3_bucket, s3_endpoint))
    (git_repo / "dvc.yaml").write_text(WORKER_STAGE)
    git(git_repo, "commit", "-qam", "one stage")
    remote = open_remote(load_config(git_repo).remote(None))
    oids = _worker_run(git_repo, monkeypatch, tmp_path, "run-w")
    assert len(oids) == 3  # model/.dir, model/w.bin, metrics.txt
    assert remote.objects.existing(oids) == oids  # uploaded; no driver lease names them
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))

    kept = _gc(clone)

    assert kept.returncode == 0, kept.stderr
    assert remote.objects.existing(oids) == oids
    assert oids <= leased_oids(remote.objects.location)

    # the worker's record expires like any lease: then gc -c collects the outs
    expired = Lease(task_lease_id("run-w", "make"), tuple(sorted(oids)), time.time() - 1)
    write_lease(remote.objects.location, expired)
    collected = _gc(clone)

    assert collected.returncode == 0, collected.stderr
    assert remote.objects.existing(oids) == set()
    drop_run_leases(remote.objects.location, "run-w")
    assert leased_oids(remote.objects.location) == set()


def test_the_snapshot_is_leased_before_its_first_object_is_uploaded(
    git_repo: Path, s3_bucket: str, s3_endpoint: str
) -> None:
    make_project(git_repo, s3_config(s3_bucket, s3_endpoint))
    remote = open_remote(load_config(git_repo).remote(None))
    location = remote.objects.location
    seen: list[tuple[set[str], set[str]]] = []
    _stores, hasher = open_stores_for(git_repo, use_remote=False)

    with LeaseKeeper(location, "run-s", (), ttl=600) as keeper:

        def lease_first(oids: list[str]) -> None:
            keeper.add(oids)
            seen.append((remote.objects.existing(oids), leased_oids(location)))

        try:
            snap = take_snapshot(
                git_repo, load_index(git_repo), hasher, remote.objects, before_upload=lease_first
            )
        finally:
            hasher.close()
        files = {e.oid for e in remote.objects.read_tree(snap.oid).entries}

    ((on_remote, leased),) = seen
    assert on_remote == set()  # nothing was uploaded yet ...
    assert leased == {snap.oid, *files}  # ... and every object was already leased
    assert remote.objects.existing(leased) == leased
    assert leased_oids(location) == set()  # dropped at the end


def test_task_lease_ids_are_file_names_and_never_shared_between_stages() -> None:
    names = ["train", "sub/dvc.yaml:train@a", "sub_dvc.yaml_train@a", "loop@{'x': 1}", "é/../x"]

    ids = [task_lease_id("run-1", name) for name in names]

    assert len(set(ids)) == len(names)
    assert all(i.startswith("run-1.") and "/" not in i and ".." not in i[6:] for i in ids)


def test_a_workers_lease_outlives_its_upload_until_the_run_drops_it(
    s3_bucket: str, s3_endpoint: str
) -> None:
    from prefect_dvc.config import RemoteConfig

    rc = RemoteConfig("store", f"s3://{s3_bucket}/r", (("endpointurl", s3_endpoint),))
    location = open_remote(rc).objects.location
    oid = "0cc175b9c0f1b6a831c399e269772661"

    with LeaseKeeper(location, task_lease_id("run-b", "make"), (oid,), ttl=60, drop=False):
        assert leased_oids(location) == {oid}

    assert leased_oids(location) == {oid}  # the driver's lease has not taken over yet
    with LeaseKeeper(location, "run-b", (), ttl=60):
        pass  # the run ends: its records and its tasks' go
    assert leased_oids(location) == set()
