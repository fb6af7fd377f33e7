"""Run-cache: DVC's key/value names (pinned against real DVC output), lookup, save, transfer."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import dvc_bin, gen, git

from prefect_dvc.config import add_remote
from prefect_dvc.errors import RemoteError, StorageError
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.runcache import (
    RunCache,
    entry_matches,
    runcache_key,
    runcache_value,
)
from prefect_dvc.yamlio import dump_yaml, load_yaml

DATA = Path(__file__).parent.parent / "data" / "dvc_runcache"
DVC = Path(dvc_bin() or "/tmp/dvcvenv/bin/dvc")
# NOTE: the names DVC 3.67.1 gave the entries in tests/data/dvc_runcache/runs
# (`dvc repro` of tests/data/dvc_runcache/dvc.yaml).
PREP = (
    "7b07f47c2bac5177d7a0041162bb26616a7a6d763fd49d0abff403e768479ccd",
    "00ae8c6e3cbbfb4c20cb2f1c8e8c81cc83168aaa315d4e9e95cbeb625d16442a",
)
TRAIN = (
    "d85387e4306dc1b91089940bfee6ad827aff489988f05b64b4ca3945047a3647",
    "fd22af6af1368923975fc2b93e0493ca58b75841956b4d9478545179f8b98bc5",
)


def dvc_entry(names: tuple[str, str]) -> tuple[Path, dict[str, Any]]:
    path = DATA / "runs" / names[0][:2] / names[0] / names[1]
    return path, load_yaml(path)


def entry(cmd: str = "python train.py", lr: Any = 0.1, out_md5: str = "a" * 32) -> dict[str, Any]:
    return {
        "cmd": cmd,
        "deps": [{"path": "train.py", "hash": "md5", "md5": "b" * 32, "size": 10}],
        "params": {"params.yaml": {"lr": lr}},
        "outs": [{"path": "model.pkl", "hash": "md5", "md5": out_md5, "size": 5}],
    }


def s3_options(endpoint: str) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}


@pytest.fixture(params=["file", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    if request.param == "file":
        yield str(tmp_path / "cache"), {}
    elif request.param == "memory":
        url = f"memory://runs-{uuid.uuid4().hex}"
        yield url, {}
        cache = RunCache.from_url(url)
        if cache.location.fs.exists(cache.location.root):
            cache.location.fs.rm(cache.location.root, recursive=True)
    else:
        bucket = request.getfixturevalue("s3_bucket")
        yield f"s3://{bucket}/remote", s3_options(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def cache(backend: tuple[str, dict]) -> RunCache:
    return RunCache.from_url(*backend)


# ---------------------------------------------------------------------- DVC's own entries


@pytest.mark.parametrize("names", [PREP, TRAIN], ids=["prep", "train"])
def test_key_and_value_equal_dvcs_names(names: tuple[str, str]) -> None:
    path, data = dvc_entry(names)
    assert (runcache_key(data), runcache_value(data)) == names
    assert dump_yaml(data) == path.read_text(encoding="utf-8")  # same bytes as DVC wrote
    without_out_hashes = {**data, "outs": [{"path": o["path"]} for o in data["outs"]]}
    assert runcache_key(without_out_hashes) == names[0]


def test_lookup_finds_dvcs_entry_and_save_rewrites_it_identically(tmp_path: Path) -> None:
    shutil.copytree(DATA / "runs", tmp_path / "cache" / "runs")
    path, data = dvc_entry(TRAIN)
    stage = {**data, "outs": [{"path": o["path"]} for o in data["outs"]]}
    assert RunCache.from_url(str(tmp_path / "cache")).lookup(stage) == data
    fresh = RunCache.from_url(str(tmp_path / "fresh"))
    assert fresh.save(data) == TRAIN
    written = tmp_path / "fresh" / "runs" / TRAIN[0][:2] / TRAIN[0] / TRAIN[1]
    assert written.read_bytes() == path.read_bytes()


def test_size_param_is_invisible_to_the_key_but_not_to_matches() -> None:
    one, two = entry(), entry()
    one["params"] = {"params.yaml": {"size": 1}}
    two["params"] = {"params.yaml": {"size": 2}}
    assert runcache_key(one) == runcache_key(two)  # DVC's defect (dvc#10296), kept for sharing
    assert entry_matches(one, one)
    assert not entry_matches(one, two)
    _, data = dvc_entry(TRAIN)  # a flattened `train.size` is not named `size`: it counts
    changed = {**data, "params": {"params.yaml": {**data["params"]["params.yaml"]}}}
    changed["params"]["params.yaml"]["train.size"] = 8
    assert runcache_key(changed) != runcache_key(data)
    assert not RunCache.matches(entry(lr=1), entry(lr=1.0))
    assert not entry_matches(entry(), entry(cmd="python train.py --fast"))
    other_dep = entry()
    other_dep["deps"][0]["md5"] = "c" * 32
    assert not entry_matches(entry(), other_dep)


# ---------------------------------------------------------------------- contract


class TestRunCacheContract:
    def test_save_then_lookup(self, cache: RunCache) -> None:
        assert cache.lookup(entry()) is None
        key, value = cache.save(entry())
        assert (key, value) == (runcache_key(entry()), runcache_value(entry()))
        raw = cache.location.fs.cat_file(cache.entry_path(key, value))
        assert raw == dump_yaml(entry()).encode()
        assert cache.lookup({**entry(), "outs": [{"path": "model.pkl"}]}) == entry()
        assert cache.lookup(entry(lr=0.2)) is None
        assert cache.entries() == [(key, value)]

    def test_newest_entry_wins(self, cache: RunCache, backend: tuple[str, dict]) -> None:
        key, old = cache.save(entry(out_md5="1" * 32))
        if backend[0].startswith("s3://"):
            time.sleep(1.1)  # NOTE: S3's LastModified has one-second resolution
        _, new = cache.save(entry(out_md5="2" * 32))
        if cache.location.is_local:
            os.utime(cache.entry_path(key, old), (1, 1))
        found = cache.lookup(entry())
        assert found is not None and found["outs"][0]["md5"] == "2" * 32
        assert runcache_value(found) == new
        assert len(cache.entries()) == 2

    def test_corrupt_entry_is_ignored_not_deleted(
        self, cache: RunCache, caplog: pytest.LogCaptureFixture
    ) -> None:
        cache.save(entry())
        fs = cache.location.fs
        bad = []
        for stage in (entry(), entry(lr=0.5)):
            key = runcache_key(stage)
            fs.makedirs(cache.location.join("runs", key[:2], key), exist_ok=True)
            bad.append(cache.location.join("runs", key[:2], key, "f" * 64))
            fs.pipe_file(bad[-1], b"cmd: [unclosed\n")
            bad.append(cache.location.join("runs", key[:2], key, "e" * 64))
            fs.pipe_file(bad[-1], dump_yaml(stage).encode())  # valid YAML, wrong name
        assert cache.lookup(entry()) == entry()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="prefect_dvc.storage.runcache"):
            assert cache.lookup(entry(lr=0.5)) is None
        assert caplog.text.count("Ignoring corrupt run-cache entry") == 2
        assert "does not hash to its name" in caplog.text and "invalid YAML" in caplog.text
        assert all(fs.exists(p) for p in bad)

    def test_transfer_copies_only_what_is_missing(self, cache: RunCache, tmp_path: Path) -> None:
        local = RunCache.from_url(str(tmp_path / "local"))
        saved = [local.save(entry(lr=lr)) for lr in (0.1, 0.2, 0.3)]
        assert local.transfer(cache, jobs=4, keys=[saved[0][0]]) == 1
        assert local.transfer(cache, jobs=4) == 2
        assert local.transfer(cache, jobs=4) == 0
        assert cache.entries() == sorted(saved)
        fresh = RunCache.from_url(str(tmp_path / "fresh"))
        assert cache.transfer(fresh, jobs=4) == 3
        assert fresh.lookup(entry(lr=0.2)) == entry(lr=0.2)
        for key, value in saved:
            fs = cache.location.fs
            assert (
                fs.cat_file(cache.entry_path(key, value))
                == Path(local.entry_path(key, value)).read_bytes()
            )


def test_save_rejects_non_entries_and_writes_nothing(tmp_path: Path) -> None:
    cache = RunCache.from_url(str(tmp_path / "c"))
    for bad in ({"cmd": "x", "outs": []}, {"outs": [{"path": "o"}]}, {**entry(), "name": "s"}):
        with pytest.raises(StorageError, match="cannot save a run-cache entry.*dvc.lock entry"):
            cache.save(bad)
    assert not (tmp_path / "c").exists()


def test_local_save_leaves_no_temp_files(tmp_path: Path) -> None:
    cache = RunCache.from_url(str(tmp_path / "c"))
    key, value = cache.save(entry())
    cache.save(entry())  # identical: left alone
    assert os.listdir(tmp_path / "c" / "runs" / key[:2] / key) == [value]


def test_unreachable_remote_run_cache(tmp_path: Path) -> None:
    options = {
        "key": "K",
        "secret": "SUPERSECRET",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    }
    remote = RunCache.from_url("s3://bucket/runs-remote", options)
    with pytest.raises(RemoteError) as err:
        remote.lookup(entry())
    assert "s3://bucket/runs-remote" in str(err.value)
    assert "SUPERSECRET" not in str(err.value)


@pytest.mark.dvc_interop
def test_real_dvc_uses_our_entry(git_repo: Path) -> None:
    """DVC restores a stage from an entry we wrote: "Stage 'prep' is cached"."""
    assert DVC.exists(), "real DVC is needed: set PREFECT_DVC_TEST_DVC"
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  prep:\n    cmd: cp raw.txt out.txt\n    deps:\n"
            "    - raw.txt\n    outs:\n    - out.txt\n",
            "raw.txt": "data\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "stage")
    md5 = "6137cde4893c59f76f005a8123d8e8e6"  # md5("data\n")
    ours = {
        "cmd": "cp raw.txt out.txt",
        "deps": [{"path": "raw.txt", "hash": "md5", "md5": md5, "size": 5}],
        "outs": [{"path": "out.txt", "hash": "md5", "md5": md5, "size": 5}],
    }
    RunCache.from_url(str(git_repo / ".dvc" / "cache")).save(ours)
    obj = git_repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    gen(git_repo, {str(obj.relative_to(git_repo)): "data\n"})
    out = subprocess.run(
        [str(DVC), "repro"], cwd=git_repo, capture_output=True, text=True, check=True
    ).stdout
    assert "Stage 'prep' is cached - skipping run, checking out outputs" in out
    assert (git_repo / "out.txt").read_text() == "data\n"


@pytest.mark.dvc_interop
def test_real_dvc_pulls_what_we_pushed(git_repo: Path, tmp_path: Path) -> None:
    """`dvc pull --run-cache` reads what we push to a folder remote, and vice versa."""
    assert DVC.exists(), "real DVC is needed: set PREFECT_DVC_TEST_DVC"
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  mk:\n    cmd: mkdir -p model && cp raw.txt model/w.txt"
            " && cp raw.txt single.txt\n    deps:\n    - raw.txt\n    outs:\n    - model\n"
            "    - single.txt\n",
            "raw.txt": "weights\n",
        },
    )

    def dvc(*args: str) -> str:
        run = subprocess.run([str(DVC), *args], cwd=git_repo, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout

    dvc("repro", "-q")
    lock = load_yaml(git_repo / "dvc.lock")["stages"]["mk"]
    cache_dir = git_repo / ".dvc" / "cache"
    remote_dir = tmp_path / "remote"
    pushed = ObjectStore.from_url(str(cache_dir)).transfer(
        [o["md5"] for o in lock["outs"]], ObjectStore.from_url(str(remote_dir)), jobs=2
    )
    # NOTE: model/w.txt and single.txt have the same bytes: one object.
    assert pushed.missing == ()
    assert set(pushed.transferred) == {o["md5"] for o in lock["outs"]}
    assert RunCache.from_url(str(cache_dir)).transfer(RunCache.from_url(str(remote_dir))) == 1
    add_remote(git_repo, "ours", str(remote_dir), default=True)
    shutil.rmtree(cache_dir)
    shutil.rmtree(git_repo / "model")
    (git_repo / "single.txt").unlink()
    dvc("pull", "--run-cache", "-q")
    assert (git_repo / "model" / "w.txt").read_text() == "weights\n"
    assert (git_repo / "single.txt").read_text() == "weights\n"
    key, value = runcache_key(lock), runcache_value(lock)
    assert (cache_dir / "runs" / key[:2] / key / value).read_text() == dump_yaml(lock)

    theirs = tmp_path / "theirs"  # and the other way: what DVC pushes, we read
    dvc("remote", "add", "theirs", str(theirs))
    dvc("push", "--run-cache", "-r", "theirs", "-q")
    model = next(o for o in lock["outs"] if o["path"] == "model")
    info = HashInfo(model["md5"], model["size"], model["nfiles"])
    ObjectStore.from_url(str(theirs)).checkout(info, tmp_path / "restored")
    assert (tmp_path / "restored" / "w.txt").read_text() == "weights\n"
    stage = {**lock, "outs": [{"path": o["path"]} for o in lock["outs"]]}
    assert RunCache.from_url(str(theirs)).lookup(stage) == lock
