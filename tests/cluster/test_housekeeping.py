"""A worker's temp dir stays bounded: stale scratch folders go, the object cache is trimmed LRU.

The sweeping and trimming run on real folders; the last test runs the
worker's side of a stage in-process (S3 through moto) over a temp dir that a
killed worker and an old release left behind, with a cache over its limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cluster_project import make_project, s3_config, worker_job
from helpers import git

from prefect_dvc.cluster.housekeeping import (
    CACHE_SIZE_ENV,
    DAY,
    LOCK_NAME,
    SCRATCH_BASE,
    cache_limit,
    cache_user,
    sweep_scratch,
    trim_cache,
)
from prefect_dvc.cluster.worker import CACHE_FOLDER, run_job
from prefect_dvc.errors import ConfigError
from prefect_dvc.tmpnames import tmp_name

DEAD_NAME = "from prefect_dvc.tmpnames import tmp_name; print(tmp_name('prefect-dvc-stage', 'd'))"


def _dead_writer_folder(tmp: Path) -> Path:
    """A scratch folder named by a process that has exited (a killed worker's)."""
    name = subprocess.run(
        [sys.executable, "-c", DEAD_NAME], capture_output=True, text=True, check=True
    ).stdout.strip()
    folder = tmp / name
    (folder / "ws").mkdir(parents=True)
    (folder / "ws" / "big.bin").write_bytes(b"x" * 1000)
    return folder


KILLED_WRITER = """\
import os, sys
from pathlib import Path
from prefect_dvc.tmpnames import register_writer, tmp_name
root = Path(sys.argv[1])
register_writer(root)
part = root / "files" / "md5" / "ee" / tmp_name("e" * 30)
part.parent.mkdir(parents=True, exist_ok=True)
part.write_bytes(b"half an object")
print(part)
os._exit(0)  # NOTE: as a killed worker: no atexit, its marker stays
"""


def _killed_writers_part(cache: Path) -> Path:
    """A partial object a killed worker left in the cache (with its writer marker)."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(cache)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _scratch_layout(tmp: Path) -> dict[str, Path]:
    live = tmp / tmp_name(SCRATCH_BASE, "d")  # this process: a task still running
    live.mkdir()
    return {
        "dead": _dead_writer_folder(tmp),
        "live_old": _aged(live, 3 * DAY),
        "legacy_old": _aged(Path(tempfile.mkdtemp(prefix=f"{SCRATCH_BASE}-", dir=tmp)), 2 * DAY),
        "legacy_new": Path(tempfile.mkdtemp(prefix=f"{SCRATCH_BASE}-", dir=tmp)),
        "other_old": _aged(Path(tempfile.mkdtemp(prefix="someone-else-", dir=tmp)), 9 * DAY),
    }


def _object(root: Path, oid: str, size: int, used_ago: float) -> Path:
    path = root / "files" / "md5" / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"o" * size)
    return _aged(path, used_ago)


def test_sweep_removes_dead_and_stale_scratch_folders_only(tmp_path: Path) -> None:
    folders = _scratch_layout(tmp_path)

    removed = sweep_scratch(tmp_path)

    assert sorted(removed) == sorted([folders["dead"], folders["legacy_old"]])
    assert {k for k, p in folders.items() if p.exists()} == {"live_old", "legacy_new", "other_old"}


def test_trim_removes_least_recently_used_objects_down_to_the_limit(tmp_path: Path) -> None:
    root = tmp_path / CACHE_FOLDER
    old = _object(root, "a" * 32, 400, 3 * DAY)
    mid = _object(root, "b" * 32, 400, 2 * DAY)
    new = _object(root, "c" * 32, 400, 60)
    (root / "state.db").write_bytes(b"s" * 5000)
    with cache_user(root):
        pass

    removed = trim_cache(root, 900)

    assert removed == [str(old)]
    assert not old.exists() and mid.exists() and new.exists()
    assert (root / "state.db").exists() and (root / LOCK_NAME).exists()
    assert trim_cache(root, 0) == []  # 0: no limit
    assert mid.exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [("", 10 * 1024**3), ("0", 0), ("1234", 1234), ("500M", 500 * 1024**2), ("2GiB", 2 * 1024**3)],
)
def test_cache_limit_reads_the_environment(text: str, size: int) -> None:
    assert cache_limit({CACHE_SIZE_ENV: text} if text else {}) == size


def test_a_bad_cache_limit_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        cache_limit({CACHE_SIZE_ENV: "lots"})
    assert str(caught.value).startswith(f"{CACHE_SIZE_ENV}='lots' is not a size")
    assert "\n" not in str(caught.value)


def test_a_worker_task_cleans_its_temp_dir_before_it_runs(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, tmp_path: Path, monkeypatch
) -> None:
    make_project(git_repo, s3_config(s3_bucket, s3_endpoint))
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  make:\n    cmd: echo made > made.txt\n"
        "    deps: [data/in.txt]\n    outs: [made.txt]\n"
    )
    git(git_repo, "commit", "-qam", "one stage")
    tmp = tmp_path / "worker-tmp"
    tmp.mkdir()
    folders = _scratch_layout(tmp)
    cache = tmp / CACHE_FOLDER
    stale = _object(cache, "d" * 32, 3000, 5 * DAY)
    part = _killed_writers_part(cache)
    assert part.exists()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv(CACHE_SIZE_ENV, "2K")

    result = run_job(worker_job(git_repo, "make"), lambda line: None)

    assert [o["path"] for o in result.entry["outs"]] == ["made.txt"]
    assert not stale.exists()  # over the limit and least recently used
    assert not part.exists()  # a dead writer's temp file
    assert {k for k, p in folders.items() if p.exists()} == {"live_old", "legacy_new", "other_old"}
    # the task's own scratch folder is gone too; the cache holds what it used
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith(SCRATCH_BASE)) == sorted(
        folders[k].name for k in ("live_old", "legacy_new")
    )
    assert any((cache / "files" / "md5").rglob("*"))
