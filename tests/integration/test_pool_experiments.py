"""Queued experiments on a work pool (issue #16 section 2), end to end with real parts.

One real ``prefect server`` (``prefect-dvc server start``) on 127.0.0.1, two
real ``prefect worker start --pool`` processes (process pool, ``--limit 1``
each, a distinct ``WORKER_MARK`` and the stage's credential ``POOL_TOKEN``
in their environment only), a bare ``file://`` Git remote and a local-folder
DVC remote. Five experiments are queued; ``exp run --run-all --pool -j 2``
sends them, four land and are fetched, one fails on the worker.

The driver's own behaviours use the same server: the ``-j`` bound read back
from the runs' times, Ctrl+C on a second pool no worker serves (the test
moves a run to Running as a worker would), and an API that fails or goes
away, through a loopback relay (``tests/tcp_relay.py``) in front of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from helpers import free_port, gen, git
from prefect_servers import running_server
from tcp_relay import relay_to

from prefect_dvc.errors import ConfigError
from prefect_dvc.experiments.pool import check_batch
from prefect_dvc.experiments.pool_driver import Progress, run_batch
from prefect_dvc.experiments.queue import Queue, QueuedExp
from prefect_dvc.experiments.refs import ExpRef

pytestmark = [pytest.mark.slow, pytest.mark.prefect]
BIN = Path(sys.executable).parent
POOL = "exp-pool"
TOKEN = "pool-token-" + uuid.uuid4().hex
DRIVER_SECRET = "driver-secret-" + uuid.uuid4().hex
STAGE = (
    'test ${lr} -ne 0 && test -n "$POOL_TOKEN" && '
    'printf \'{"lr": %s, "worker": "%s"}\\n\' ${lr} "$WORKER_MARK" > metrics.json'
)


@dataclass(frozen=True)
class Pooled:
    """The finished batch: the driver's result, the repositories and the API."""

    api_url: str
    env: dict[str, str]
    repo: Path
    origin: Path
    run: subprocess.CompletedProcess[str]
    base: Path


@contextmanager
def _worker(env: dict[str, str], mark: str, folder: Path) -> Iterator[None]:
    folder.mkdir()
    env = {**env, "WORKER_MARK": mark, "POOL_TOKEN": TOKEN}
    env.update(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
    with (folder / "worker.log").open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _project(base: Path) -> tuple[Path, Path]:
    """A DVC project pushed to a bare ``file://`` remote; ``(work tree, bare origin)``."""
    origin, repo = base / "origin.git", base / "repo"
    git(base, "init", "-q", "--bare", "-b", "main", str(origin))
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    config = f"[core]\n    remote = store\n['remote \"store\"']\n    url = {base / 'store'}\n"
    dvc_yaml = (
        f"stages:\n  train:\n    cmd: {json.dumps(STAGE)}\n    params: [lr]\n"
        "    metrics:\n    - metrics.json:\n        cache: false\n"
    )
    gen(
        repo,
        {
            ".dvc/config": config,
            ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
            "params.yaml": "lr: 1\n",
            "dvc.yaml": dvc_yaml,
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline")
    git(repo, "remote", "add", "origin", origin.as_uri())
    git(repo, "push", "-q", "origin", "main")
    return repo, origin


def _cli(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "prefect-dvc"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pooled]:
    """Queue 5 experiments (one fails), run them on the pool with two workers, -j 2."""
    base = tmp_path_factory.mktemp("pool")
    repo, origin = _project(base)
    with ExitStack() as stack:
        srv = stack.enter_context(running_server(base, log_level="INFO"))
        api_url, env = srv.api_url, srv.api_env
        create = subprocess.run(
            [str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert create.returncode == 0, create.stdout + create.stderr
        stack.enter_context(_worker(env, "w1", base / "w1"))
        stack.enter_context(_worker(env, "w2", base / "w2"))
        driver = {**env, "AWS_SECRET_ACCESS_KEY": DRIVER_SECRET}
        queued = _cli(repo, driver, "exp", "run", "--queue", "-S", "lr=2,3,4,5", "-n", "p")
        assert queued.returncode == 0, queued.stderr
        boom = _cli(repo, driver, "exp", "run", "--queue", "-S", "lr=0", "-n", "boom")
        assert boom.returncode == 0, boom.stderr
        run = _cli(repo, driver, "exp", "run", "--run-all", "--pool", POOL, "-j", "2")
        yield Pooled(api_url, env, repo, origin, run, base)


def _exp_refs(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").split("\n")
    return {ref.rsplit("/", 1)[-1]: sha for ref, sha in (ln.split() for ln in lines if ln)}


def test_four_refs_come_back_from_both_workers(pooled: Pooled) -> None:
    refs = _exp_refs(pooled.repo)
    assert sorted(refs) == ["p-1", "p-2", "p-3", "p-4"], pooled.run.stdout + pooled.run.stderr
    # the same refs (same commits) are on the Git remote: the workers pushed them
    assert _exp_refs(pooled.origin) == refs
    metrics = [json.loads(git(pooled.repo, "show", f"{sha}:metrics.json")) for sha in refs.values()]
    assert sorted(m["lr"] for m in metrics) == [2, 3, 4, 5]
    assert {m["worker"] for m in metrics} == {"w1", "w2"}
    shown = _cli(pooled.repo, pooled.env, "exp", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    for name in refs:
        assert f'"{name}"' in shown.stdout


def test_progress_lines_and_the_failed_run(pooled: Pooled) -> None:
    out, err = pooled.run.stdout, pooled.run.stderr
    assert pooled.run.returncode != 0
    ui = pooled.api_url.removesuffix("/api") + "/runs/flow-run/"
    for name in ("p-1", "p-2", "p-3", "p-4"):
        assert f"{name}: queued ({ui}" in out
        assert f"{name}: done ({ui}" in out
    failed = [ln for ln in out.splitlines() if ln.startswith("boom: failed")]
    assert len(failed) == 1 and ui in failed[0]
    assert "1 of 5 experiment(s) failed on the pool: boom" in err
    # the loopback server: one line saying remote workers need a reachable API
    assert sum("reachable PREFECT_API_URL" in ln for ln in err.splitlines()) == 1
    states = {e["name"]: e["state"] for e in _queue(pooled)}
    assert states == {"p-1": "success", "p-2": "success", "p-3": "success", "p-4": "success"} | {
        "boom": "failed"
    }


def _queue(pooled: Pooled) -> list[dict[str, Any]]:
    status = _cli(pooled.repo, pooled.env, "queue", "status", "--json")
    assert status.returncode == 0, status.stderr
    return list(json.loads(status.stdout))


@contextmanager
def _api(api_url: str) -> Iterator[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def _on(parts: list[Any], pool: str = POOL) -> list[Any]:
    """The flow runs or deployments of work pool ``pool``."""
    return [p for p in parts if p.work_pool_name == pool]


def test_runs_carry_only_baseline_overrides_and_name(pooled: Pooled) -> None:
    baseline = git(pooled.repo, "rev-parse", "HEAD")
    with _api(pooled.api_url) as client:
        # NOTE: on POOL only: the driver tests below use a second pool
        runs = [r for r in _on(client.read_flow_runs()) if r.name != "cancel-me"]
        (deployment,) = _on(client.read_deployments())
    assert len(runs) == 5
    for run in runs:
        # Prefect merges the deployment's defaults (repo, push) into each run's
        assert set(run.parameters) == {"rev", "set_params", "name", "repo", "push"}
        assert run.parameters["rev"] == baseline and run.work_pool_name == POOL
        assert run.parameters["repo"] == pooled.origin.as_uri()
    assert deployment.parameters == {"repo": pooled.origin.as_uri(), "push": True}
    # heartbeats on for pool runs, so Prefect can mark a dead worker's run crashed
    assert deployment.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]


def test_no_secret_in_the_api(pooled: Pooled) -> None:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    with _api(pooled.api_url) as client:
        runs = client.read_flow_runs()
        parts: list[Any] = [*runs, *client.read_task_runs(), *client.read_artifacts()]
        parts += [*client.read_logs(), *client.read_variables(), *client.read_deployments()]
        parts += [*client.read_work_pools(), *client.read_block_documents(include_secrets=False)]
        for run in runs:
            parts += client.read_flow_run_states(run.id)
    seen = "\n".join(p.model_dump_json() for p in parts)
    assert "p-1" in seen and "lr=2" in seen  # the search sees the runs and their parameters
    assert TOKEN not in seen and DRIVER_SECRET not in seen


def test_unpushed_baseline_and_unknown_pool_send_nothing(pooled: Pooled) -> None:
    clone = pooled.base / "second"
    git(pooled.base, "clone", "-q", pooled.origin.as_uri(), str(clone))
    with _api(pooled.api_url) as client:
        before = len(client.read_flow_runs())
    queued = _cli(clone, pooled.env, "exp", "run", "--queue", "-S", "lr=7", "-n", "at-a")
    assert queued.returncode == 0, queued.stderr
    nopool = _cli(clone, pooled.env, "queue", "start", "--pool", "nope")
    assert nopool.returncode != 0
    (line,) = nopool.stderr.strip().splitlines()
    assert "no work pool 'nope'" in line and POOL in line and "work-pool create" in line
    gen(clone, {"params.yaml": "lr: 8\n"})
    git(clone, "commit", "-q", "-am", "not pushed")
    head = git(clone, "rev-parse", "HEAD")
    queued = _cli(clone, pooled.env, "exp", "run", "--queue", "-S", "lr=9", "-n", "at-b")
    assert queued.returncode == 0, queued.stderr
    refused = _cli(clone, pooled.env, "exp", "run", "--run-all", "--pool", POOL)
    assert refused.returncode != 0
    (line,) = refused.stderr.strip().splitlines()
    assert f"baseline {head[:7]} is not on Git remote 'origin'" in line
    assert "git push origin" in line and "nothing was sent" in line
    with _api(pooled.api_url) as client:
        assert len(client.read_flow_runs()) == before
    status = _cli(clone, pooled.env, "queue", "status", "--json")
    assert {e["name"]: e["state"] for e in json.loads(status.stdout)} == {
        "at-a": "queued",
        "at-b": "queued",
    }
    assert _exp_refs(clone) == {}


def test_a_run_no_worker_took_is_cancelled_and_the_deployment_is_found_again(
    pooled: Pooled,
) -> None:
    from datetime import datetime, timedelta, timezone

    from prefect.states import Scheduled

    from prefect_dvc.flows import pool_runs

    url = pooled.origin.as_uri()
    with _api(pooled.api_url) as client:
        (deployment,) = _on(client.read_deployments())
        # due tomorrow: no worker takes it meanwhile
        tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
        later = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"rev": "0" * 40, "set_params": [], "name": "cancel-me"},
            name="cancel-me",
            state=Scheduled(scheduled_time=tomorrow),
        )
        finished = next(r for r in client.read_flow_runs() if r.name == "p-1")
        assert pool_runs.find_deployment(url, POOL) == (
            pool_runs.deployment_name(url, POOL),
            deployment.id,
            deployment.job_variables,
        )
        assert pool_runs.find_deployment(url, "other-pool") is None
        # a user's deployment of the same repository that does not push is not used
        from prefect.client.schemas.actions import WorkPoolCreate

        from prefect_dvc.flows.experiment import exp_run

        client.create_work_pool(WorkPoolCreate(name="other-pool", type="process"))
        for name, push in (("no-push", False), ("pushes", True)):
            exp_run.to_deployment(
                name=name, work_pool_name="other-pool", parameters={"repo": url, "push": push}
            ).apply()
            found = pool_runs.find_deployment(url, "other-pool")
            assert (found[0] if found else None) == ("pushes" if push else None)
        for name in ("no-push", "pushes"):
            client.delete_deployment(client.read_deployment_by_name(f"exp_run/{name}").id)
        client.delete_work_pool("other-pool")
        assert pool_runs.cancel_if_queued(later.id) is True
        assert pool_runs.cancel_if_queued(finished.id) is False
        assert client.read_flow_run(later.id).state.type.value == "CANCELLED"
        assert client.read_flow_run(finished.id).state.is_completed()


@pytest.fixture
def small(git_repo: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A pushed one-stage project and an environment whose Prefect API is not there."""
    origin = tmp_path / "o.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    gen(git_repo, {"params.yaml": "lr: 1\n", "dvc.yaml": "stages:\n  t:\n    cmd: echo ${lr}\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "p")
    git(git_repo, "remote", "add", "origin", origin.as_uri())
    git(git_repo, "push", "-q", "origin", "main")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api", PREFECT_DVC_SERVER="off")
    return git_repo, env


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["exp", "run", "--queue", "-S", "lr=5", "--run-all", "--pool", ""], "--pool ''"),
        (["exp", "run", "--queue", "-S", "lr=5", "--run-all", "--pool", "a/b"], "--pool 'a/b'"),
        (["exp", "run", "-S", "lr=5", "--pool", "p"], "use it with --run-all"),
        (["queue", "start", "--pool", "../x"], "--pool '../x' is not a work pool name"),
    ],
)
def test_bad_pool_options_are_one_line_and_queue_nothing(
    small: tuple[Path, dict[str, str]], args: list[str], said: str
) -> None:
    repo, env = small
    run = _cli(repo, env, *args)
    assert run.returncode != 0
    (line,) = run.stderr.strip().splitlines()
    assert said in line
    assert not (repo / ".dvc" / "tmp" / "prefect-dvc" / "queue").exists() or not list(
        (repo / ".dvc" / "tmp" / "prefect-dvc" / "queue").glob("*.json")
    )
    assert git(repo, "status", "--porcelain") == ""  # params.yaml untouched


def test_an_unreachable_api_is_one_line_and_the_entry_stays_queued(
    small: tuple[Path, dict[str, str]],
) -> None:
    repo, env = small
    assert _cli(repo, env, "exp", "run", "--queue", "-S", "lr=3", "-n", "q").returncode == 0
    run = _cli(repo, env, "queue", "start", "--pool", "p")
    assert run.returncode != 0
    (line,) = run.stderr.strip().splitlines()
    assert f"the Prefect API at {env['PREFECT_API_URL']} cannot be used" in line
    status = json.loads(_cli(repo, env, "queue", "status", "--json").stdout)
    assert [(e["name"], e["state"]) for e in status] == [("q", "queued")]


def test_the_documented_zombie_automation_is_accepted_by_the_server(pooled: Pooled) -> None:
    spec = Path(__file__).resolve().parents[2] / "deploy" / "zombie-automation.yaml"
    made = subprocess.run(
        [str(BIN / "prefect"), "automation", "create", "--from-file", str(spec)],
        env=pooled.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    with _api(pooled.api_url) as client:
        (automation,) = client.read_automations_by_name("prefect-dvc crash zombie flow runs")
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 180
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert [(a.type, a.state.value) for a in automation.actions] == [
        ("change-flow-run-state", "CRASHED")
    ]


# The driver's bound, Ctrl+C and a failing API, against the same real server.
# IDLE is a second pool with no worker: its runs stay Scheduled until the test
# (acting as a worker, through the real API) moves them.
IDLE = "idle-pool"


@pytest.fixture(scope="module")
def idle(pooled: Pooled) -> str:
    """The no-worker pool ``IDLE`` on the pooled server."""
    from prefect.client.schemas.actions import WorkPoolCreate

    with _api(pooled.api_url) as client:
        client.create_work_pool(WorkPoolCreate(name=IDLE, type="process"))
    return IDLE


def _runs_on(api_url: str, pool: str) -> list[Any]:
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    with _api(api_url) as client:
        return client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
        )


def test_at_most_j_runs_were_in_flight_and_each_result_was_fetched(pooled: Pooled) -> None:
    names = ["boom", "p-1", "p-2", "p-3", "p-4"]
    runs = [r for r in _runs_on(pooled.api_url, POOL) if r.name in names]
    assert sorted(r.name for r in runs) == names and all(r.end_time for r in runs)
    # A run is in flight from its creation (the driver sent it) to its end; the
    # driver sends the next one only after a poll saw one end, so ends go first.
    edges = sorted([(r.created, 1) for r in runs] + [(r.end_time, -1) for r in runs])
    flying = [sum(step for _, step in edges[: i + 1]) for i in range(len(edges))]
    assert max(flying) == 2, [(r.name, r.created, r.end_time) for r in runs]
    baseline = git(pooled.origin, "rev-parse", "main")
    for entry in Queue(pooled.repo).entries():
        if entry.name != "boom":  # each landed result was fetched, as exp pull would
            ref = ExpRef(baseline, entry.name).ref
            assert entry.commit == git(pooled.repo, "rev-parse", ref)
            assert entry.commit == git(pooled.origin, "rev-parse", ref)
    lines = pooled.run.stdout.splitlines()
    for name in names[1:]:  # per experiment: queued, maybe running, then done
        said = [ln.split(" ")[1] for ln in lines if ln.startswith(f"{name}: ")]
        assert said in (["queued", "running", "done"], ["queued", "done"]), lines


def _wait_for(check: Any, what: str, seconds: float = 120) -> Any:
    """Poll ``check()`` until it returns something true; fail naming ``what`` after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)
    return found


def test_an_interrupt_cancels_untaken_runs_and_records_taken_ones_as_failed(
    pooled: Pooled, idle: str
) -> None:
    import signal

    from prefect.states import Running

    clone = pooled.base / "interrupt"
    git(pooled.base, "clone", "-q", pooled.origin.as_uri(), str(clone))
    queued = _cli(clone, pooled.env, "exp", "run", "--queue", "-S", "lr=11,12,13", "-n", "int")
    assert queued.returncode == 0, queued.stderr
    out = pooled.base / "interrupt.out"
    env = {**pooled.env, "PYTHONUNBUFFERED": "1"}
    args = [str(BIN / "prefect-dvc"), "exp", "run", "--run-all", "--pool", idle, "-j", "2"]
    with out.open("w") as sink:
        # as in a terminal, whatever SIGINT disposition the test runner inherited
        proc = subprocess.Popen(
            args,
            cwd=clone,
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:

        def sent() -> list[Any]:
            runs = [r for r in _runs_on(pooled.api_url, idle) if r.name.startswith("int-")]
            said = out.read_text().count(": queued (")
            ready = len(runs) == 2 and said == 2 and all(r.state.is_scheduled() for r in runs)
            return sorted(runs, key=lambda r: r.name) if ready else []

        taken, untaken = _wait_for(sent, "two Scheduled runs on the idle pool")
        with _api(pooled.api_url) as client:  # a worker takes one of them
            client.set_flow_run_state(taken.id, Running(), force=True)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (err, out.read_text())
    warned = ("No worker is online", "is on this machine only")
    said = [ln for ln in err.decode().splitlines() if not any(w in ln for w in warned)]
    assert said == [
        f"ERROR: interrupted: cancelled the runs of {untaken.name} (queued again); the runs of "
        f"{taken.name} go on (recorded failed here). 'prefect-dvc exp pull origin' fetches "
        "their experiments once pushed."
    ]
    with _api(pooled.api_url) as client:
        assert client.read_flow_run(untaken.id).state.is_cancelled()
        assert client.read_flow_run(taken.id).state.is_running()  # it goes on
    entries = {
        e["name"]: e
        for e in json.loads(_cli(clone, pooled.env, "queue", "status", "--json").stdout)
    }
    assert sorted(entries) == ["int-1", "int-2", "int-3"]
    ui = pooled.api_url.removesuffix("/api") + "/runs/flow-run/"
    assert entries[untaken.name]["state"] == "queued"
    assert f"{ui}{untaken.id} was cancelled" in entries[untaken.name]["message"]
    assert entries[taken.name]["state"] == "failed"
    assert entries[taken.name]["message"] == f"interrupted while on the pool: {ui}{taken.id}"
    (unsent,) = set(entries) - {taken.name, untaken.name}
    assert (entries[unsent]["state"], entries[unsent]["message"]) == ("queued", "")
    assert not Queue(clone).claims.running()  # a later queue start sends them again
    assert _exp_refs(clone) == {}


@contextmanager
def _driver_api(api_url: str) -> Iterator[None]:
    """This process's Prefect client on ``api_url`` (the real server, or a relay to it)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield


def _own_project(
    pooled: Pooled, folder: Path, names: list[str]
) -> tuple[Path, Path, list[QueuedExp]]:
    """A clone with its own bare origin (so refs pushed there touch no other test) and entries."""
    origin, repo = folder / "origin.git", folder / "repo"
    git(pooled.base, "clone", "-q", "--bare", pooled.origin.as_uri(), str(origin))
    git(folder, "clone", "-q", origin.as_uri(), str(repo))
    base = git(repo, "rev-parse", "HEAD")
    entries = [
        QueuedExp(id=f"{n}-{i}", name=n, baseline=base, created=i) for i, n in enumerate(names)
    ]
    Queue(repo).add(entries)
    return repo, origin, entries


def _land_as_a_worker(api_url: str, origin: Path, entry: QueuedExp, run_id: Any) -> None:
    """What a worker's run does, through real parts: push the experiment ref, end Completed."""
    from prefect.states import Completed

    tree = git(origin, "rev-parse", f"{entry.baseline}^{{tree}}")
    sha = git(origin, "commit-tree", tree, "-p", entry.baseline, "-m", entry.name)
    git(origin, "update-ref", ExpRef(entry.baseline, entry.name).ref, sha)
    with _api(api_url) as client:
        client.set_flow_run_state(run_id, Completed(), force=True)


def test_failed_calls_are_retried_or_recorded_and_a_landed_run_is_fetched(
    pooled: Pooled, idle: str, tmp_path: Path
) -> None:
    from prefect_dvc.cli.exp_pool import ready_pool

    repo, origin, entries = _own_project(pooled, tmp_path, ["s1", "r1"])
    queue = Queue(repo)
    batch = check_batch(repo, "origin", entries)
    lines: list[Progress] = []
    with relay_to(pooled.api_url) as relay, _driver_api(relay.url):
        api = ready_pool(batch, idle)

        def meanwhile(step: Progress) -> None:
            lines.append(step)
            if step.name == "s1":  # the API fails r1's submission
                relay.fail_next(1)
            else:  # then two polls, while s1 lands
                relay.fail_next(2)
                run_id = UUID(queue.find("s1").message.rsplit("/", 1)[-1])
                _land_as_a_worker(pooled.api_url, origin, entries[0], run_id)

        results = run_batch(
            queue, batch, api, jobs=2, report=meanwhile, poll_seconds=0, poll_failures=3
        )
        assert relay.failed == 3
    assert {r.name: r.state for r in results} == {"s1": "success", "r1": "failed"}
    ref = ExpRef(entries[0].baseline, "s1").ref
    assert queue.find("s1").commit == git(repo, "rev-parse", ref) == git(origin, "rev-parse", ref)
    r1 = queue.find("r1").message
    assert (
        r1.startswith(f"not sent: the Prefect API at {relay.url} cannot be used") and "\n" not in r1
    )
    assert [(p.name, p.phase) for p in lines] == [
        ("s1", "queued"),
        ("r1", "failed"),
        ("s1", "done"),
    ]
    assert not queue.claims.running()
    assert [r.name for r in _runs_on(pooled.api_url, idle) if r.name in ("s1", "r1")] == ["s1"]


def test_an_api_that_stays_away_ends_the_batch_in_one_line_recording_its_run(
    pooled: Pooled, idle: str, tmp_path: Path
) -> None:
    from prefect_dvc.cli.exp_pool import ready_pool

    repo, _origin, entries = _own_project(pooled, tmp_path, ["gone"])
    queue = Queue(repo)
    batch = check_batch(repo, "origin", entries)
    with relay_to(pooled.api_url) as relay, _driver_api(relay.url):
        api = ready_pool(batch, idle)
        with pytest.raises(ConfigError) as err:
            run_batch(
                queue,
                batch,
                api,
                jobs=1,
                report=lambda p: relay.refuse(),
                poll_failures=3,
                poll_seconds=0,
            )
    assert f"the Prefect API at {relay.url} cannot be used" in str(err.value)
    assert "\n" not in str(err.value)
    (run,) = [r for r in _runs_on(pooled.api_url, idle) if r.name == "gone"]
    assert run.state.is_scheduled()  # the driver could not reach it to cancel it
    gone = queue.find("gone")
    assert gone.state == "failed" and gone.message.endswith(f"/runs/flow-run/{run.id}")
    assert gone.message.startswith("interrupted while on the pool: ")
    assert not queue.claims.running()


def test_a_ctrl_c_while_a_sent_run_is_reported_cancels_it(
    pooled: Pooled, idle: str, tmp_path: Path
) -> None:
    from prefect_dvc.cli.exp_pool import ready_pool

    repo, _origin, entries = _own_project(pooled, tmp_path, ["c1", "c2"])
    queue = Queue(repo)
    batch = check_batch(repo, "origin", entries)

    def ctrl_c(step: Progress) -> None:  # as if it came while the line was printed
        raise KeyboardInterrupt

    with _driver_api(pooled.api_url):
        api = ready_pool(batch, idle)
        with pytest.raises(KeyboardInterrupt):
            run_batch(queue, batch, api, jobs=2, report=ctrl_c, poll_seconds=0)
    (run,) = [r for r in _runs_on(pooled.api_url, idle) if r.name in ("c1", "c2")]
    assert run.name == "c1" and run.state.is_cancelled()
    c1, c2 = queue.find("c1"), queue.find("c2")
    assert c1.state == "queued" and c1.message.endswith(f"/runs/flow-run/{run.id} was cancelled")
    assert (c2.state, c2.message) == ("queued", "")
    assert not queue.claims.running()
