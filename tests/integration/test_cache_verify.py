"""``prefect-dvc cache verify``: every object re-hashed, bad ones listed, exit 1 (DVC has none)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.execution import Outcome, RunOptions, open_executor
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage.state import StateDB
from prefect_dvc.translators import load_pipeline

CLI = str(Path(sys.executable).with_name("prefect-dvc"))

PIPELINE = {
    "dvc.yaml": """\
stages:
  make:
    cmd: mkdir -p d && echo one > d/1.txt && echo two > d/2.txt && echo single > s.txt
    outs: [d, s.txt]
""",
}


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


SINGLE, ROTTEN, ONE, ONE_BAD, TWO = (
    md5(b) for b in (b"single\n", b"rotten\n", b"one\n", b"ONE\n", b"two\n")
)


def obj(cache: Path, oid: str) -> Path:
    return cache / "files" / "md5" / oid[:2] / oid[2:]


@pytest.fixture
def project(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    pipeline = load_pipeline(git_repo)
    executor = open_executor(git_repo, pipeline)
    try:
        assert executor.run("make", RunOptions(), lambda _: None).outcome is Outcome.RAN
    finally:
        executor.close()
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def test_bad_jobs_value_is_one_line(project: Path) -> None:
    result = run_cli(project, "cache", "verify", "-j", "0")
    assert result.returncode == 1
    assert result.stderr == "ERROR: -j/--jobs must be at least 1, not 0. Pass -j 1 or more.\n"


def test_clean_cache_passes_and_is_recorded_as_verified(project: Path) -> None:
    result = run_cli(project, "cache", "verify")
    assert result.returncode == 0, result.stderr
    # 3 files + 1 manifest
    assert result.stdout.strip() == "4 object(s) checked in the local cache, 0 bad"
    single = obj(project / ".dvc" / "cache", md5(b"single\n"))
    with StateDB(RepoPaths(project).state_db) as state:
        assert state.get(single, single.stat()) == md5(b"single\n")


def test_bad_objects_are_listed_with_expected_and_actual(project: Path) -> None:
    cache = project / ".dvc" / "cache"
    overwrite(obj(cache, md5(b"single\n")), b"rotten\n")
    obj(cache, md5(b"two\n")).unlink()

    result = run_cli(project, "cache", "verify", "-j", "2")
    assert result.returncode == 1
    lines = sorted(result.stdout.strip().splitlines())
    (manifest,) = [p for p in (cache / "files" / "md5").glob("*/*.dir")]
    manifest_oid = manifest.parent.name + manifest.name
    assert lines == sorted(
        [
            f"{obj(cache, SINGLE)}\texpected {SINGLE}, got {ROTTEN}",
            f"{obj(cache, TWO)}\tmissing (named by {manifest_oid})",
        ]
    )
    assert result.stderr.startswith("ERROR: 2 bad object(s) among 3 checked in the local cache")
    assert result.stderr.count("\n") == 1

    as_json = json.loads(run_cli(project, "cache", "verify", "--json").stdout)
    assert as_json["checked"] == 3
    assert {(b["oid"], b["problem"], b["actual"]) for b in as_json["bad"]} == {
        (md5(b"single\n"), "corrupt", md5(b"rotten\n")),
        (md5(b"two\n"), "missing", None),
    }


def test_remote_objects_are_streamed_and_checked(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    assert run_cli(project, "remote", "add", "store", str(remote)).returncode == 0
    assert run_cli(project, "push", "-r", "store").returncode == 0
    overwrite(obj(remote, md5(b"one\n")), b"ONE\n")

    assert run_cli(project, "cache", "verify").returncode == 0  # the local cache is fine
    result = run_cli(project, "cache", "verify", "-r", "store")
    assert result.returncode == 1
    assert result.stdout.strip() == (f"{obj(remote, ONE)}\texpected {ONE}, got {ONE_BAD}")
    missing = run_cli(project, "cache", "verify", "-c")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "no remote to verify" in missing.stderr
