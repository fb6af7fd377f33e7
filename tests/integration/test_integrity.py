"""Never hand out unchecked bytes (issue #11 §2): bit rot, stale state, bad pushes.

"Bit rot" here is the hostile case: an object's bytes change in place while
its inode, size and mtime stay what they were (written, then ``os.utime``'d
back), so only the ctime in the state DB's key, or a re-read, can tell.
Starting states are built in-process with the stage executor (no Prefect);
the data commands run as the real CLI in child processes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.execution import Outcome, RunOptions, open_executor
from prefect_dvc.lockfile import read_lock
from prefect_dvc.repo import RepoPaths, find_root
from prefect_dvc.storage.runcache import RunCache
from prefect_dvc.storage.state import StateDB
from prefect_dvc.translators import load_pipeline

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
HOUR_NS = 3600 * 10**9

PIPELINE = {
    "dvc.yaml": """\
stages:
  gen:
    cmd: python3 gen.py ${p} > a.txt
    deps: [gen.py, seed.txt]
    params: [p]
    outs: [a.txt]
  count:
    cmd: wc -c < a.txt > n.txt
    deps: [a.txt]
    outs: [n.txt]
""",
    "params.yaml": "p: 1\n",
    "seed.txt": "seed\n",
    "gen.py": "import sys\nfor i in range(50):\n    print(f'line {i} p={sys.argv[1]}')\n",
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120
    )


def produce(root: Path) -> dict[str, Outcome]:
    pipeline = load_pipeline(root)
    executor = open_executor(root, pipeline)
    try:
        return {
            name: executor.run(name, RunOptions(), lambda line: None).outcome
            for name in pipeline.order()
        }
    finally:
        executor.close()


def age(*paths: Path) -> None:
    """Old mtimes, so the hasher may remember these files (they are not racy)."""
    past = time.time_ns() - HOUR_NS
    for path in paths:
        os.utime(path, ns=(past, past))


def rot(path: Path, new: bytes) -> None:
    """Other bytes in place; inode, size, mode and mtime kept."""
    st = path.stat()
    assert len(new) == st.st_size
    os.chmod(path, 0o644)
    with open(path, "r+b") as fobj:
        fobj.write(new)
    os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )


def obj_path(root: Path, oid: str) -> Path:
    return root / ".dvc" / "cache" / "files" / "md5" / oid[:2] / oid[2:]


def state_says(root: Path, path: Path) -> str | None:
    with StateDB(RepoPaths(root).state_db) as state:
        return state.get(path, path.stat())


@pytest.fixture
def project(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    age(*(git_repo / name for name in PIPELINE))
    assert set(produce(git_repo).values()) == {Outcome.RAN}
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def test_checkout_refuses_a_rotted_object_the_state_db_had_verified(project: Path) -> None:
    oid = md5(project / "a.txt")
    obj = obj_path(project, oid)
    (project / "a.txt").unlink()
    assert run_cli(project, "checkout").returncode == 0  # verifies and remembers
    assert md5(project / "a.txt") == oid
    assert state_says(project, obj) == oid
    (project / "a.txt").unlink()
    rot(obj, b"X" * obj.stat().st_size)

    result = run_cli(project, "checkout")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR:") and "corrupt" in lines[0]
    assert oid[2:] in lines[0]
    assert not (project / "a.txt").exists()


def test_hardlink_restore_re_records_the_object_so_a_warm_restore_does_not_rehash(
    project: Path,
) -> None:
    (project / ".dvc" / "config").write_text("[cache]\n    type = hardlink\n")
    oid = md5(project / "a.txt")
    obj = obj_path(project, oid)
    for _ in range(2):
        (project / "a.txt").unlink()
        assert run_cli(project, "checkout").returncode == 0
        assert (project / "a.txt").stat().st_ino == obj.stat().st_ino
        # NOTE: link() moved the object's ctime; the entry must match the new stat.
        assert state_says(project, obj) == oid


def test_run_cache_hit_with_a_rotted_object_runs_the_stage_and_heals_the_cache(
    project: Path,
) -> None:
    good = (project / "a.txt").read_bytes()
    oid = md5(project / "a.txt")
    (project / "params.yaml").write_text("p: 2\n")
    assert produce(project)["gen"] is Outcome.RAN
    (project / "params.yaml").write_text("p: 1\n")
    rot(obj_path(project, oid), b"Y" * len(good))

    outcomes = produce(project)
    assert outcomes["gen"] is Outcome.RAN  # the hit was refused, the command ran
    assert (project / "a.txt").read_bytes() == good
    assert (project / "n.txt").read_text().strip() == str(len(good))
    assert md5(obj_path(project, oid)) == oid  # the bad object was replaced
    assert read_lock(project / "dvc.lock")["gen"]["outs"][0]["md5"] == oid


def test_dep_rewritten_in_place_with_mtime_put_back_reaches_lock_and_run_cache(
    project: Path,
) -> None:
    seed = project / "seed.txt"
    lock = read_lock(project / "dvc.lock")
    assert {d["path"]: d["md5"] for d in lock["gen"]["deps"]}["seed.txt"] == md5(seed)
    assert state_says(project, seed) == md5(seed)  # remembered: the trap is set
    rot(seed, b"SEED\n")

    assert produce(project)["gen"] is Outcome.RAN
    entry = read_lock(project / "dvc.lock")["gen"]
    assert {d["path"]: d["md5"] for d in entry["deps"]}["seed.txt"] == md5(seed)
    runs = RunCache.from_url(str(project / ".dvc" / "cache"))
    saved = [runs.read_entry(k, v) for k, v in runs.entries()]
    seeds = {d["md5"] for e in saved if e for d in e.get("deps", []) if d["path"] == "seed.txt"}
    assert seeds == {hashlib.md5(b"seed\n").hexdigest(), md5(seed)}


def test_push_refuses_a_rotted_object_and_names_it(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    assert run_cli(project, "remote", "add", "-d", "store", str(remote)).returncode == 0
    oid = md5(project / "a.txt")
    obj = obj_path(project, oid)
    (project / "a.txt").unlink()
    assert run_cli(project, "checkout").returncode == 0
    rot(obj, b"Z" * obj.stat().st_size)

    result = run_cli(project, "push")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt" in lines[0] and oid[2:] in lines[0], result.stderr
    assert not (remote / "files" / "md5" / oid[:2] / oid[2:]).exists()
    assert find_root(project) == project


def test_plot_data_from_a_rotted_cache_object_is_refused(git_repo: Path) -> None:
    from prefect_dvc.errors import CorruptObjectError
    from prefect_dvc.experiments.gitbatch import GitBatch
    from prefect_dvc.plots.data import SourceReader

    gen(
        git_repo,
        {
            "dvc.yaml": (
                "stages:\n  curve:\n    cmd: printf 'x,y\\n1,2\\n' > curve.csv\n"
                "    plots: [curve.csv]\n"
            )
        },
    )
    assert produce(git_repo)["curve"] is Outcome.RAN
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "plot")
    rev = git(git_repo, "rev-parse", "HEAD")
    oid = md5(git_repo / "curve.csv")
    with GitBatch(git_repo) as batch:
        reader = SourceReader(git_repo, batch)
        assert reader.read(rev, "curve.csv") == b"x,y\n1,2\n"
        rot(obj_path(git_repo, oid), b"x,y\n9,9\n")
        with pytest.raises(CorruptObjectError, match="corrupt"):
            reader.read(rev, "curve.csv")


DIR_PIPELINE = {
    "dvc.yaml": """\
stages:
  s:
    cmd: "mkdir -p d && echo hello > d/a && echo bye > d/b"
    outs: [d]
"""
}


def dir_project(git_repo: Path) -> tuple[str, str]:
    """Run the directory-out stage once; returns (.dir oid, oid of d/a)."""
    gen(git_repo, DIR_PIPELINE)
    assert produce(git_repo)["s"] is Outcome.RAN
    out = read_lock(git_repo / "dvc.lock")["s"]["outs"][0]
    return out["md5"], md5(git_repo / "d" / "a")


@pytest.mark.parametrize("forced", [False, True])
def test_rerunning_a_directory_out_heals_a_corrupt_file_object_in_it(
    git_repo: Path, forced: bool, caplog: pytest.LogCaptureFixture
) -> None:
    dir_oid, oid = dir_project(git_repo)
    obj = obj_path(git_repo, oid)
    assert obj.read_bytes() == b"hello\n"
    rot(obj, b"Xello\n")
    if forced:
        pipeline = load_pipeline(git_repo)
        with open_executor(git_repo, pipeline) as executor:
            outcome = executor.run("s", RunOptions(force=True), lambda line: None).outcome
    else:
        shutil.rmtree(git_repo / "d")
        outcome = produce(git_repo)["s"]

    assert outcome is Outcome.RAN
    assert obj.read_bytes() == b"hello\n"
    assert not obj.stat().st_mode & 0o222  # read-only like every object
    warnings = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert f"{oid[:2]}/{oid[2:]}: object is corrupt" in warnings[0]
    assert warnings[0].endswith("replacing it with the bytes just produced")
    assert read_lock(git_repo / "dvc.lock")["s"]["outs"][0]["md5"] == dir_oid
    shutil.rmtree(git_repo / "d")
    result = run_cli(git_repo, "checkout")
    assert result.returncode == 0, result.stderr
    assert (git_repo / "d" / "a").read_bytes() == b"hello\n"
    assert run_cli(git_repo, "cache", "verify").returncode == 0


def test_rerunning_a_directory_out_heals_its_corrupt_dir_manifest(
    git_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dir_oid, _ = dir_project(git_repo)
    manifest = obj_path(git_repo, dir_oid)
    good = manifest.read_bytes()
    rot(manifest, b"[" + b" " * (len(good) - 1))
    shutil.rmtree(git_repo / "d")
    assert run_cli(git_repo, "checkout").returncode == 1  # refused while corrupt

    assert produce(git_repo)["s"] is Outcome.RAN
    assert manifest.read_bytes() == good
    warnings = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
    assert len(warnings) == 1 and f"{dir_oid[2:]}: object is corrupt" in warnings[0]
    assert not manifest.stat().st_mode & 0o222
    shutil.rmtree(git_repo / "d")
    result = run_cli(git_repo, "checkout")
    assert result.returncode == 0, result.stderr
    assert (git_repo / "d" / "b").read_bytes() == b"bye\n"
    assert run_cli(git_repo, "cache", "verify").returncode == 0


def test_saving_a_directory_again_keeps_good_objects_untouched(git_repo: Path) -> None:
    dir_oid, oid = dir_project(git_repo)
    objs = [obj_path(git_repo, dir_oid), obj_path(git_repo, oid)]
    before = [(p.stat().st_ino, p.stat().st_ctime_ns) for p in objs]
    shutil.rmtree(git_repo / "d")
    assert produce(git_repo)["s"] is Outcome.RAN
    assert [(p.stat().st_ino, p.stat().st_ctime_ns) for p in objs] == before


def test_rerunning_a_directory_out_refills_a_file_object_lost_from_the_cache(
    git_repo: Path,
) -> None:
    dir_project(git_repo)
    lost = obj_path(git_repo, md5(git_repo / "d" / "b"))
    lost.unlink()
    assert run_cli(git_repo, "cache", "verify").returncode != 0  # the manifest names it

    shutil.rmtree(git_repo / "d")
    assert produce(git_repo)["s"] is Outcome.RAN
    assert lost.read_bytes() == b"bye\n"
    result = run_cli(git_repo, "cache", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
