"""Deployments, schedules, ``serve`` and a real ``prefect server`` (the deployments issue).

One real Prefect server (UI on) is started for this module by ``prefect-dvc
server start`` on a free port with its own PREFECT_HOME, and stopped at the
end. A ``prefect-dvc serve`` child process serves the ``exp_run`` deployment;
runs are triggered with ``run_deployment`` and checked where a user would
look: the bare Git remote, the DVC remote (a folder, or S3 on moto) and the
Prefect API (states, tags, task-run names, artifacts).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, gen, git
from prefect_servers import CLI, Server, running_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "get-started"
pytestmark = [pytest.mark.slow, pytest.mark.prefect]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server")) as srv:
        yield srv


@contextmanager
def api(srv: Server) -> Iterator[Any]:
    """A sync Prefect client on ``srv`` (settings for this block only)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: srv.api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def cli(srv: Server, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**srv.env, "PREFECT_API_URL": srv.api_url, **extra}
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def make_project(root: Path, remote_config: str) -> Path:
    """The example project with ``.dvc/config`` (a default remote) committed, plus a bare clone."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    gen(root, {".dvc/config": remote_config, ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example")
    bare = root.parent / f"{root.name}.git"
    git(root.parent, "clone", "-q", "--bare", str(root), str(bare))
    return bare


# ----------------------------------------------------------------- deploy


def test_deploy_creates_schedule_read_back(server: Server, tmp_path: Path) -> None:
    out = cli(
        server,
        tmp_path,
        "deploy",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--param",
        "repo=file:///srv/project.git",
        "--param",
        "push=true",
        "--param",
        'set_params=["train.lr=0.05"]',
        "--pool",
        "dvc-test-pool",
        "--tag",
        "nightly",
    )
    assert out.returncode == 0, out.stderr
    assert "Created work pool 'dvc-test-pool'" in out.stdout
    with api(server) as client:
        dep = client.read_deployment_by_name("exp_run/nightly")
        pool = client.read_work_pool("dvc-test-pool")
    assert pool.type == "process"
    assert dep.work_pool_name == "dvc-test-pool"
    assert dep.entrypoint == "prefect_dvc.flows.experiment.exp_run"
    assert dep.parameters == {
        "repo": "file:///srv/project.git",
        "push": True,
        "set_params": ["train.lr=0.05"],
    }
    assert [s.schedule.cron for s in dep.schedules] == ["0 3 * * *"]
    # worker runs send heartbeats (local runs rely on run records instead)
    assert dep.job_variables == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60"}}
    assert dep.schedules[0].active and dep.schedules[0].schedule.timezone == "UTC"
    assert set(dep.tags) == {"prefect-dvc", "nightly"}
    # the UI shows the docstring's parameter descriptions
    props = dep.parameter_openapi_schema["properties"]
    assert "Git URL" in props["repo"]["description"]
    assert "run-cache" in props["push"]["description"]

    # Updating replaces the schedule; a bad cron changes nothing and says why.
    out = cli(
        server,
        tmp_path,
        "deploy",
        "nightly",
        "--interval",
        "3600",
        "--pool",
        "dvc-test-pool",
        "--param",
        "repo=file:///srv/project.git",
    )
    assert out.returncode == 0, out.stderr
    bad = cli(
        server,
        tmp_path,
        "deploy",
        "nightly",
        "--cron",
        "61 * * *",
        "--pool",
        "dvc-test-pool",
        "--param",
        "repo=file:///srv/project.git",
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("ERROR: invalid cron '61 * * *'")
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = cli(server, tmp_path, "deploy", "x", "--param", "lr=0.1")
    assert unknown.returncode == 1 and "exp_run has no parameter 'lr'" in unknown.stderr
    with api(server) as client:
        dep = client.read_deployment_by_name("exp_run/nightly")
        names = [d.name for d in client.read_deployments()]
    assert [s.schedule.interval.total_seconds() for s in dep.schedules] == [3600]
    assert dep.parameters == {"repo": "file:///srv/project.git"}
    assert "x" not in names


def test_server_status_and_start_again(server: Server, tmp_path: Path) -> None:
    status = cli(server, tmp_path, "server", "status")
    assert status.returncode == 0 and server.ui_url in status.stdout
    again = cli(server, tmp_path, "server", "start")
    assert again.returncode == 0 and "Already running" in again.stdout
    empty = tmp_path / "empty-home"
    none = cli(
        server,
        tmp_path,
        "server",
        "status",
        PREFECT_HOME=str(empty),
        PREFECT_SERVER_API_PORT=str(free_port()),
    )
    assert none.returncode == 1
    assert none.stderr.startswith("ERROR: no Prefect server is running")


# ------------------------------------------------------------ fast path


def test_exp_run_uses_running_server(server: Server, tmp_path: Path) -> None:
    """No PREFECT_API_URL but a server under PREFECT_HOME: no temporary server, no lost tasks."""
    make_project(tmp_path / "proj", "")
    env = {k: v for k, v in server.env.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run(
        [CLI, "exp", "run", "-n", "fastpath"],
        cwd=tmp_path / "proj",
        env={**env, "PREFECT_LOGGING_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "temporary server" not in proc.stdout + proc.stderr
    run = _flow_run_named(server, "fastpath")
    assert {"prefect-dvc", "exp:fastpath"} <= set(run.tags)
    names = _task_run_names(server, run.id, expected=10)
    assert {"prepare", "featurize@train", "train@svm-quadratic", "evaluate"} <= set(names)


def _flow_run_named(srv: Server, name: str) -> Any:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with api(srv) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    assert len(runs) == 1, runs
    return runs[0]


def _task_runs(srv: Server, flow_run_id: Any, expected: int) -> list[Any]:
    """Task runs are recorded asynchronously: poll until ``expected`` are there."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    while True:
        with api(srv) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        done = [r for r in runs if r.state is not None and r.state.is_final()]
        if len(done) >= expected or time.monotonic() > deadline:
            return done
        time.sleep(0.3)


def _task_run_names(srv: Server, flow_run_id: Any, expected: int) -> list[str]:
    return [r.name for r in _task_runs(srv, flow_run_id, expected)]


# ---------------------------------------------------------------- serve


@pytest.fixture(scope="module")
def served(server: Server, s3_endpoint: str) -> Iterator[Callable[..., Any]]:
    """``prefect-dvc serve worker`` in a child process; yields ``trigger(**params)``."""
    env = {
        **server.env,
        "PREFECT_API_URL": server.api_url,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    log = server.home / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CLI, "serve", "worker", "--param", "repo=file:///nowhere.git", "--param", "push=true"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=server.home,
        )
    try:
        _wait_for_deployment(server, "exp_run/worker", proc, log)
        yield lambda **params: _trigger(server, "exp_run/worker", params)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _wait_for_deployment(srv: Server, name: str, proc: subprocess.Popen[str], log: Path) -> None:
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with api(srv) as client:
                client.read_deployment_by_name(name)
            return
        except ObjectNotFound:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)


def _trigger(srv: Server, name: str, params: dict[str, Any]) -> Any:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: srv.api_url}):
        return run_deployment(name, parameters=params, timeout=600, poll_interval=1)


def _artifacts(srv: Server, flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with api(srv) as client:
        found = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def _exp_refs(bare: Path) -> dict[str, str]:
    lines = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").split("\n")
    return {ref.rsplit("/", 1)[-1]: ref for ref, _ in (line.split() for line in lines if line)}


def test_served_deployment_pushes_experiment(
    served: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    store = tmp_path / "dvcstore"
    config = f'[core]\n    remote = store\n[remote "store"]\n    url = {store}\n'
    bare = make_project(tmp_path / "proj", config)
    work = tmp_path / "work"
    run = served(
        repo=f"file://{bare}", name="served-exp", set_params=["train.lr=0.2"], workdir=str(work)
    )
    assert run.state.is_completed(), run.state
    assert run.name == "served-exp"
    assert {"prefect-dvc", "exp:served-exp"} <= set(run.tags)
    # the experiment is on the Git remote, with the override committed
    ref = _exp_refs(bare)["served-exp"]
    baseline = git(bare, "rev-parse", "main")
    assert ref.startswith(f"refs/exps/{baseline[:2]}/{baseline[2:]}/")
    assert "lr: 0.2" in git(bare, "show", f"{ref}:params.yaml")
    assert "train@svm-quadratic" in git(bare, "show", f"{ref}:dvc.lock")
    # outs and run-cache entries are on the DVC remote; the clone is gone
    assert len(list((store / "runs").glob("*/*/*"))) == 8
    assert any((store / "files" / "md5").rglob("*.dir"))
    assert list(work.iterdir()) == []
    # artifacts and task runs, as the UI shows them
    arts = _artifacts(server, run.id)
    assert arts["exp-served-exp"].type == "table"
    rows = json.loads(arts["exp-served-exp"].data)
    assert any(r["key"] == "train.lr" and r["experiment"] == "0.2" for r in rows)
    assert ref in arts["exp-served-exp-push"].data
    tasks = _task_runs(server, run.id, expected=10)
    assert {"prepare", "evaluate", "train@logreg-linear"} <= {t.name for t in tasks}
    assert all(set(t.tags) <= {"prefect-dvc", "exp:served-exp"} for t in tasks)


@pytest.mark.s3
def test_fresh_worker_restores_from_remote_run_cache(
    served: Callable[..., Any], server: Server, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    config = (
        "[core]\n    remote = s3store\n"
        f'[remote "s3store"]\n    url = s3://{s3_bucket}/dvc\n    endpointurl = {s3_endpoint}\n'
    )
    bare = make_project(tmp_path / "proj", config)
    first = served(repo=f"file://{bare}", name="s3-first")
    assert first.state.is_completed(), first.state
    # a second worker: new clone, empty cache; only the evaluate params changed
    second = served(
        repo=f"file://{bare}",
        name="s3-second",
        set_params=["config/evaluate.yaml:evaluate.threshold=0.6"],
    )
    assert second.state.is_completed(), second.state
    states = {t.name: t.state.name for t in _task_runs(server, second.id, expected=10)}
    assert states["evaluate"] == "Completed"
    restored = [n for n in states if n.startswith(("prepare", "featurize", "train"))]
    assert len(restored) == 7
    assert {states[n] for n in restored} == {"RunCacheHit"}
    assert set(_exp_refs(bare)) >= {"s3-first", "s3-second"}
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    assert len(fs.glob(f"{s3_bucket}/dvc/runs/*/*/*")) == 9  # 8 stages + evaluate again
    s3fs.S3FileSystem.clear_instance_cache()


def _logs(srv: Server, flow_run_id: Any, until: str) -> list[str]:
    """The run's log messages; logs are shipped in batches: poll until ``until`` is there."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 30
    while True:
        with api(srv) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        messages = [log.message for log in logs]
        if any(until in m for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.5)


def test_failed_deployment_run_ends_with_our_line_not_a_typeerror(
    served: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    """An override of a key the project lacks (the old template's default) fails in one line."""
    bare = make_project(tmp_path / "proj", "")
    run = served(repo=f"file://{bare}", name="bad-key", set_params=["nosuch.key=20"])
    assert run.state.is_failed(), run.state
    message = run.state.message or ""
    assert "Could not override 'nosuch.key'" in message and "\n" not in message.strip()
    records = _logs(server, run.id, until="Engine execution")
    logs = "\n".join(records)
    assert message in records  # our line is a log record of its own
    assert "TypeError" not in logs
    # NOTE: the flow body no longer raises, so Prefect's "Encountered exception
    # during execution" traceback is gone; prefect/engine.py still logs the
    # state's error once more ("Engine execution exited..."), ending in our line.
    assert "Encountered exception during execution" not in logs
    assert _exp_refs(bare) == {}
