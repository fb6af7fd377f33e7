"""Stages on a real Dask cluster with S3 (moto_server) as the only shared storage.

One module-scoped cluster (2 worker processes, each with its own folders)
and one driver repository serve the tests in order: a fan-out run compared
with a local twin and real DVC, a rerun from the remote run-cache, and a run
in which a stage kills its own worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import s3fs
from cluster_project import (
    FAN,
    make_hold_foreach,
    make_hold_project,
    make_project,
    make_shapes_project,
    outputs,
    s3_config,
    shape_outputs,
)
from helpers import git, run_dvc

from prefect_dvc.execution import Outcome
from prefect_dvc.flows.local import run_experiment_locally, run_repro_locally

pytestmark = pytest.mark.slow


def _records(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _clear(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink()


@pytest.fixture(scope="module")
def driver(tmp_path_factory, remote_bucket: str, s3_endpoint: str) -> Path:
    root = tmp_path_factory.mktemp("driver") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_project(root, s3_config(remote_bucket, s3_endpoint))
    return root


@pytest.fixture(scope="module")
def local_twin(tmp_path_factory, prefect_api: None) -> dict[str, bytes]:
    """What a local ``repro`` of the same project writes (no remote)."""
    root = tmp_path_factory.mktemp("twin") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_project(root)
    run = run_repro_locally(root)
    assert run.ok, run.summary()
    return outputs(root)


def test_fan_out_runs_on_workers_and_ends_as_a_local_run(
    driver: Path,
    local_twin: dict[str, bytes],
    dask_cluster,
    tmp_path: Path,
    remote_bucket: str,
    s3_endpoint: str,
) -> None:
    run = run_repro_locally(driver, cluster=dask_cluster.address)

    assert run.ok, run.summary()
    assert {r.outcome for r in run.results.values()} == {Outcome.RAN}
    assert outputs(driver) == local_twin
    notes = _records(dask_cluster.records)
    assert sorted(n["stage"] for n in notes) == sorted([*FAN, "join"])
    for note in notes:
        # NOTE: no stage ran in, or read from, the driver's workspace.
        assert not Path(note["cwd"]).is_relative_to(driver)
        assert not Path(note["dep"]).is_relative_to(driver)
        assert Path(note["dep"]).is_relative_to(Path(note["root"]))
        assert any(Path(note["cwd"]).is_relative_to(d) for d in dask_cluster.worker_dirs)
    # the run's lease is dropped at its end
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    assert not fs.exists(f"{remote_bucket}/remote/prefect-dvc/leases") or not fs.ls(
        f"{remote_bucket}/remote/prefect-dvc/leases", refresh=True
    )
    # every scratch folder is gone again
    assert not [p for d in dask_cluster.worker_dirs for p in d.glob("prefect-dvc-stage*")]
    # real DVC writes the same dvc.lock for the same project
    dvc_twin = tmp_path / "dvc"
    shutil.copytree(
        driver,
        dvc_twin,
        ignore=shutil.ignore_patterns("out", "final.txt", "dvc.lock", ".gitignore", "tmp", "cache"),
    )
    (dvc_twin / ".dvc" / "config").write_text("")
    done = run_dvc(dvc_twin, "repro")
    assert done.returncode == 0, done.stderr
    assert (dvc_twin / "dvc.lock").read_bytes() == local_twin["dvc.lock"]


def test_rerun_restores_from_the_remote_run_cache_without_running(
    driver: Path, local_twin: dict[str, bytes], dask_cluster
) -> None:
    for name in [*(f"out/{n}.txt" for n in FAN), "final.txt", "dvc.lock"]:
        (driver / name).unlink()
    shutil.rmtree(driver / "report")
    shutil.rmtree(driver / ".dvc" / "cache")
    _clear(dask_cluster.records)

    run = run_repro_locally(driver, cluster=dask_cluster.address)

    assert run.ok, run.summary()
    assert {r.outcome for r in run.results.values()} == {Outcome.RESTORED}
    assert _records(dask_cluster.records) == []
    assert outputs(driver) == local_twin


def test_a_killed_worker_is_rerun_by_dask_and_leaves_no_partial_object(
    driver: Path, local_twin: dict[str, bytes], dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    _clear(dask_cluster.records)
    (dask_cluster.records / "kill-once").write_text("")

    # NOTE: Prefect retries off: the rerun below can only be Dask's scheduler
    # rescheduling the lost worker's task (distributed.scheduler.allowed-failures).
    run = run_repro_locally(driver, cluster=dask_cluster.address, force=True, retries=0)

    assert run.ok, run.summary()
    assert (dask_cluster.records / "kill-once.fired").exists()
    notes = _records(dask_cluster.records)
    assert len(notes) == len(FAN) + 2  # every stage once, the killed one twice
    (killed,) = {n["stage"] for n in notes if [m["stage"] for m in notes].count(n["stage"]) == 2}
    assert len({n["pid"] for n in notes if n["stage"] == killed}) == 2
    assert outputs(driver) == local_twin
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    objects = fs.find(f"{remote_bucket}/remote/files/md5")
    assert objects
    for key in objects:
        name = "".join(key.split("/")[-2:]).removesuffix(".dir")
        assert hashlib.md5(fs.cat_file(key)).hexdigest() == name, key


def test_exp_run_on_a_new_local_cluster_commits_the_experiment(driver: Path) -> None:
    """``exp run --cluster dask:2``: the exp_run flow's parameter starts its own LocalCluster."""
    (driver / "data" / "in.txt").write_text("changed input\n")

    failed, result, _message = run_experiment_locally(
        driver,
        name="on-dask",
        set_params=[],
        targets=[],
        force=False,
        jobs=None,
        run_cache=True,
        message=None,
        cluster="dask:2",
    )

    assert failed is None and result is not None
    assert result.name == "on-dask"
    final = git(driver, "show", f"{result.commit}:dvc.lock")
    assert "final.txt" in final
    assert (driver / "final.txt").read_text().startswith("s1:CHANGED INPUT")
    assert git(driver, "rev-parse", result.ref) == result.commit


def test_a_dep_outside_the_repository_is_refused_in_one_line(
    tmp_path: Path, dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (tmp_path / "outside.txt").write_text("not on any worker\n")
    make_project(root, s3_config(remote_bucket, s3_endpoint))
    (root / "dvc.yaml").write_text(
        "stages:\n  peek:\n    cmd: cat ../outside.txt > seen.txt\n"
        "    deps: [../outside.txt]\n    outs: [seen.txt]\n"
    )

    run = run_repro_locally(root, cluster=dask_cluster.address)

    assert not run.ok
    assert run.failed == {
        "peek": "dvc.yaml:2: stage 'peek': dep '../outside.txt' is outside the repository, "
        "which workers do not have. Run it without --cluster."
    }
    assert not (root / "seen.txt").exists()
    assert not (root / "dvc.lock").exists()


def test_a_failing_command_is_retried_then_reported_in_one_line(
    tmp_path: Path, dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_project(root, s3_config(remote_bucket, s3_endpoint))
    (root / "dvc.yaml").write_text(
        "stages:\n  bad:\n    cmd: touch $CLUSTER_RECORDS/bad-$$.try && exit 3\n"
        "    deps: [data/in.txt]\n    outs: [never.txt]\n"
    )
    _clear(dask_cluster.records)

    run = run_repro_locally(root, cluster=dask_cluster.address, retries=1)

    assert not run.ok
    assert run.failed["bad"].startswith(
        "dvc.yaml:2: stage 'bad': command 'touch $CLUSTER_RECORDS/bad-$$.try && exit 3' "
        "failed with exit code 3"
    )
    assert "\n" not in run.failed["bad"]
    assert len(list(dask_cluster.records.glob("bad-*.try"))) == 2  # --retries 1: two tries
    assert not (root / "dvc.lock").exists()
    assert not (root / "never.txt").exists()


def test_the_cli_runs_changed_stages_on_the_cluster(driver: Path, dask_cluster) -> None:
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    (driver / "data" / "settings.txt").write_text("mode=slow\n")
    _clear(dask_cluster.records)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    cli = str(Path(sys.executable).with_name("prefect-dvc"))

    done = subprocess.run(
        [cli, "repro", "--cluster", dask_cluster.address, "--retries", "1"],
        cwd=driver,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert sorted(n["stage"] for n in _records(dask_cluster.records)) == sorted([*FAN, "join"])
    assert "MODE=SLOW" in (driver / "final.txt").read_text()
    assert hashlib.md5(b"mode=slow\n").hexdigest() in (driver / "dvc.lock").read_text()


def _wait_for(path: Path, worker: threading.Thread) -> None:
    """Until ``path`` exists; fails at once if the run ended first (no timing asserted)."""
    for _ in range(2400):
        if path.exists():
            return
        assert worker.is_alive(), "the cluster run ended before its stage started"
        worker.join(0.05)
    pytest.fail(f"{path.name} never appeared")


def _in_thread(target, *args, **kwargs) -> tuple[threading.Thread, list[object]]:
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(target(*args, **kwargs)), daemon=True)
    worker.start()
    return worker, box


def test_a_cluster_run_holds_the_repository_locks_of_a_local_run(
    tmp_path: Path, dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    from prefect.settings import PREFECT_API_URL

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_hold_project(root, s3_config(remote_bucket, s3_endpoint), "held")
    worker, box = _in_thread(run_repro_locally, root, cluster=dask_cluster.address)
    _wait_for(dask_cluster.records / "held.started", worker)
    try:
        by_dvc = run_dvc(root, "repro")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
        ours = subprocess.run(
            [str(Path(sys.executable).with_name("prefect-dvc")), "repro"],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        (dask_cluster.records / "held.go").write_text("")
        worker.join(300)

    # real DVC is refused on the stage's paths, as during a local run ...
    assert by_dvc.returncode != 0
    assert "is busy, it is being blocked by" in by_dvc.stderr + by_dvc.stdout
    # ... and so is a second prefect-dvc repro, in one line naming the stage
    assert ours.returncode != 0
    assert "stage 'held': cannot run: " in ours.stderr, ours.stderr
    error = [line for line in ours.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and error[0].count("stage 'held'") == 1, ours.stderr  # not doubled
    assert "Traceback" not in ours.stderr
    assert [r.ok for r in box] == [True]  # type: ignore[attr-defined]
    assert (root / "held.txt").read_text() == "held hello\n"
    assert "held.txt" in (root / "dvc.lock").read_text()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not {".git", "tmp", "cache"} & set(p.relative_to(root).parts)
    }


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_a_stop_signal_to_the_driver_kills_the_command_on_its_worker(
    sig: int, tmp_path: Path, dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    from prefect.settings import PREFECT_API_URL

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_hold_project(root, s3_config(remote_bucket, s3_endpoint), "stopme")
    before = _tree(root)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    runs = f"{remote_bucket}/remote/runs"
    entries = set(fs.find(runs)) if fs.exists(runs) else set()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    started = dask_cluster.records / "stopme.started"
    driver = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("prefect-dvc")),
            "repro",
            "--cluster",
            dask_cluster.address,
            "--retries",
            "2",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(2400):
            if started.exists() or driver.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), driver.communicate()[1]
        command = int(started.read_text())
        assert psutil.pid_exists(command)  # running on a worker, not here
        driver.send_signal(sig)
        _out, err = driver.communicate(timeout=120)
    finally:
        (dask_cluster.records / "stopme.go").write_text("")  # never needed when it works
        driver.kill()

    assert driver.returncode == 128 + sig, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "'stopme'" in err, err
    assert "Traceback" not in err
    # the command on the worker was killed, not left running; not retried
    assert not psutil.pid_exists(command) or psutil.Process(command).status() == "zombie"
    assert len(list(dask_cluster.records.glob("stopme.started"))) == 1
    # nothing recorded: workspace as it was, no run-cache entry, no partial object
    assert _tree(root) == before
    fs.invalidate_cache()
    assert (set(fs.find(runs)) if fs.exists(runs) else set()) == entries
    for key in fs.find(f"{remote_bucket}/remote/files/md5"):
        name = "".join(key.split("/")[-2:]).removesuffix(".dir")
        assert hashlib.md5(fs.cat_file(key)).hexdigest() == name, key


def test_wdir_and_foreach_stages_end_as_a_local_run_and_pull_restores_them(
    tmp_path: Path, dask_cluster, remote_bucket: str, s3_endpoint: str
) -> None:
    twin = tmp_path / "twin"
    twin.mkdir()
    git(twin, "init", "-q", "-b", "main")
    make_shapes_project(twin)
    assert run_repro_locally(twin).ok
    expected = shape_outputs(twin)
    assert len(expected) == 6
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_shapes_project(root, s3_config(remote_bucket, s3_endpoint))
    _clear(dask_cluster.records)

    run = run_repro_locally(root, cluster=dask_cluster.address)

    assert run.ok, run.summary()
    assert {n: r.outcome for n, r in run.results.items()} == dict.fromkeys(
        ["prep", "loop@a", "loop@b"], Outcome.RAN
    )
    assert shape_outputs(root) == expected
    notes = {n["stage"]: Path(n["cwd"]) for n in _records(dask_cluster.records)}
    assert sorted(notes) == ["loop@a", "loop@b", "prep"]
    assert notes["prep"].name == "sub"  # ran in its wdir, in a scratch copy on a worker
    assert all(not cwd.is_relative_to(root) for cwd in notes.values())

    # --pull on the cluster: a fresh clone gets every out from the remote, running nothing
    git(root, "add", "dvc.lock", "sub/.gitignore", "res/.gitignore")
    git(root, "commit", "-q", "-m", "ran on the cluster")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    _clear(dask_cluster.records)

    pulled = run_repro_locally(clone, cluster=dask_cluster.address, pull=True)

    assert pulled.ok, pulled.summary()
    assert Outcome.RAN not in {r.outcome for r in pulled.results.values()}
    assert _records(dask_cluster.records) == []
    assert shape_outputs(clone) == expected


def test_ctrl_c_with_a_new_local_cluster_names_only_the_running_stage_in_one_line(
    tmp_path: Path, remote_bucket: str, s3_endpoint: str, prefect_api: None
) -> None:
    """Ctrl-C reaches the whole foreground group: the driver and its LocalCluster's workers.

    Two foreach stages on one worker: one runs, the other waits on Dask; only
    the running one is "stopped while running", the other is "not run".
    """
    from prefect.settings import PREFECT_API_URL

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    make_hold_foreach(root, s3_config(remote_bucket, s3_endpoint), ("a", "b"))
    before = _tree(root)
    records = tmp_path / "records"
    records.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=str(PREFECT_API_URL.value()), CLUSTER_RECORDS=str(records))
    driver = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect-dvc")), "repro", "--cluster", "dask:1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # NOTE: its own group, as a terminal's foreground job
    )
    try:
        for _ in range(2400):
            if list(records.glob("*.started")) or driver.poll() is not None:
                break
            time.sleep(0.05)
        started = list(records.glob("*.started"))
        assert len(started) == 1, driver.communicate()[1]
        item = started[0].name.removeprefix("hold-").removesuffix(".started")
        other = "b" if item == "a" else "a"
        command = int(started[0].read_text())
        os.killpg(driver.pid, signal.SIGINT)
        _out, err = driver.communicate(timeout=120)
    finally:
        for name in ("a", "b"):
            (records / f"hold-{name}.go").write_text("")
        driver.kill()

    assert driver.returncode == 128 + signal.SIGINT, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"ERROR: interrupted by SIGINT; stage(s) stopped while running: 'hold@{item}'."
    ), err
    assert f"hold@{other}" not in last, err
    # Dask's INFO logs stay quiet and the workers print no KeyboardInterrupt
    assert "KeyboardInterrupt" not in err and " - INFO - " not in err, err
    assert "distributed.scheduler - INFO" not in err and "distributed.nanny" not in err, err
    assert not (records / f"hold-{other}.started").exists()  # its command never started
    assert not psutil.pid_exists(command) or psutil.Process(command).status() == "zombie"
    assert _tree(root) == before
