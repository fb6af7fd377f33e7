"""Killed and interrupted runs tell the truth (issue #11 section 4).

Real processes: the ``prefect-dvc`` console script runs a stage that waits
for a file, the test kills it (SIGKILL) or asks it to stop (SIGTERM), then
reads the flow run back through the Prefect client of the session harness.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import gen, git

from prefect_dvc.experiments.queue import Queue
from prefect_dvc.runrecord import records_dir

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
WAIT_LIMIT = 180  # seconds: a guard against hanging, never an assertion


def _waiting_pipeline(root: Path, gate: Path) -> None:
    """One stage that writes its pid, then waits until ``gate/release`` exists."""
    gen(
        root,
        {
            "params.yaml": "lr: 1\n",
            "dvc.yaml": (
                "stages:\n"
                "  train:\n"
                f"    cmd: echo $$ > {gate}/pid-${{lr}} && "
                f"while [ ! -f {gate}/release ]; do sleep 0.1; done && echo ${{lr}} > model.txt\n"
                "    params: [lr]\n"
                "    outs: [model.txt]\n"
            ),
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "waiting pipeline")


def _wait_for(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_LIMIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "gate"
    folder.mkdir()
    yield folder
    (folder / "release").touch()  # let any orphaned stage end


def _start(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _records(repo: Path) -> list[dict[str, object]]:
    folder = records_dir(repo)
    return [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []


def _flow_state(flow_run_id: str) -> tuple[str, str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state  # type: ignore[arg-type]
    assert state is not None
    return state.type.value, state.message or ""


def _started_run(
    repo: Path, gate: Path, proc: subprocess.Popen[str], flow: str = "repro", lr: int = 1
) -> str:
    """Wait until the stage runs; return the flow run id from the run record."""
    started = gate / f"pid-{lr}"
    _wait_for(lambda: started.exists() or proc.poll() is not None, "the stage to start")
    assert proc.poll() is None, proc.communicate()
    records = _records(repo)
    assert len(records) == 1 and records[0]["flow"] == flow
    assert records[0]["process"]["pid"] == proc.pid  # type: ignore[index]
    return str(records[0]["flow_run_id"])


def test_sigkilled_repro_is_marked_crashed_by_the_next_command(
    git_repo: Path, gate: Path, cli, prefect_env: dict[str, str]
) -> None:
    _waiting_pipeline(git_repo, gate)
    proc = _start(git_repo, prefect_env, "repro")
    flow_run_id = _started_run(git_repo, gate, proc)
    stage_pid = int((gate / "pid-1").read_text())
    assert _flow_state(flow_run_id)[0] == "RUNNING"
    proc.kill()
    proc.communicate()
    assert _alive(stage_pid), "the stage command outlives a SIGKILLed runner"
    assert _flow_state(flow_run_id)[0] == "RUNNING", "nobody told Prefect yet"
    result = cli(git_repo, "status")
    assert result.code == 0, result.err
    assert f"stopped pid {stage_pid}" in result.err
    _wait_for(lambda: not _alive(stage_pid), "the orphaned stage command to end")
    kind, message = _flow_state(flow_run_id)
    assert kind == "CRASHED"
    assert f"pid {proc.pid}" in message and "'prefect-dvc status'" in message
    assert f"flow run {flow_run_id} (repro) marked Crashed" in result.err
    assert _records(git_repo) == []
    again = cli(git_repo, "status")
    assert again.code == 0 and "Crashed" not in again.err


def test_live_run_record_is_left_alone(
    git_repo: Path, gate: Path, cli, prefect_env: dict[str, str]
) -> None:
    _waiting_pipeline(git_repo, gate)
    proc = _start(git_repo, prefect_env, "repro")
    flow_run_id = _started_run(git_repo, gate, proc)
    result = cli(git_repo, "status")
    assert result.code == 0 and "Crashed" not in result.err
    assert _flow_state(flow_run_id)[0] == "RUNNING"
    (gate / "release").touch()
    _out, err = proc.communicate(timeout=WAIT_LIMIT)
    assert proc.returncode == 0, err
    assert _flow_state(flow_run_id)[0] == "COMPLETED"
    assert _records(git_repo) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_cancels_the_run_naming_the_stage_and_kills_its_group(
    git_repo: Path, gate: Path, prefect_env: dict[str, str], sig: int
) -> None:
    _waiting_pipeline(git_repo, gate)
    proc = _start(git_repo, prefect_env, "repro")
    flow_run_id = _started_run(git_repo, gate, proc)
    stage_pid = int((gate / "pid-1").read_text())
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=WAIT_LIMIT)
    assert proc.returncode == 128 + sig
    errors = [ln for ln in err.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1, err
    assert signal.Signals(sig).name in errors[0] and "'train'" in errors[0]
    assert "Traceback" not in err
    # the stage was stopped, not broken: no exit code, no "fix the command"
    stage_line = (
        f"dvc.yaml:2: stage 'train': stopped by {signal.Signals(sig).name} "
        "while its command was running."
    )
    assert any(ln.endswith(stage_line) for ln in err.splitlines()), err
    assert "exit code -" not in err and "Fix the command" not in err
    assert "Error logging to API" not in err and "NoneType: None" not in err
    kind, message = _flow_state(flow_run_id)
    assert kind == "CANCELLED" and "'train'" in message
    assert not psutil.pid_exists(stage_pid) or psutil.Process(stage_pid).status() == "zombie"
    assert not (git_repo / "model.txt").exists()
    assert not (git_repo / "dvc.lock").exists()
    assert _records(git_repo) == []


def test_sigterm_to_exp_run_cancels_and_records_no_experiment(
    git_repo: Path, gate: Path, prefect_env: dict[str, str]
) -> None:
    _waiting_pipeline(git_repo, gate)
    proc = _start(git_repo, prefect_env, "exp", "run", "-n", "stopped", "-S", "lr=3")
    flow_run_id = _started_run(git_repo, gate, proc, flow="exp_run", lr=3)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=WAIT_LIMIT)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM" in err and "'train'" in err and "Traceback" not in err
    kind, message = _flow_state(flow_run_id)
    assert kind == "CANCELLED" and "'train'" in message
    assert git(git_repo, "for-each-ref", "refs/exps") == ""
    assert _records(git_repo) == []


def test_killed_run_all_puts_the_entry_back_and_the_next_start_reruns_it(
    git_repo: Path, gate: Path, cli, prefect_env: dict[str, str]
) -> None:
    _waiting_pipeline(git_repo, gate)
    queued = cli(git_repo, "exp", "run", "--queue", "-n", "slow", "-S", "lr=1")
    assert queued.code == 0, queued.err
    runner = _start(git_repo, prefect_env, "exp", "run", "--run-all")
    _wait_for(lambda: (gate / "pid-1").exists() or runner.poll() is not None, "the child's stage")
    assert runner.poll() is None, runner.communicate()
    record = next(r for r in _records(git_repo) if r.get("queue_entry"))
    _wait_for(lambda: any(r.get("child") for r in _records(git_repo)), "the child's record")
    child_pid = next(r for r in _records(git_repo) if r.get("child"))["child"]["pid"]  # type: ignore[index]
    clone = Path(str(record["clone"]))
    assert [e.state for e in Queue(git_repo).entries()] == ["running"]
    runner.kill()
    runner.communicate()

    status = cli(git_repo, "queue", "status")
    assert status.code == 0, status.err
    assert "queued experiment 'slow' put back" in status.err
    assert [e.state for e in Queue(git_repo).entries()] == ["queued"]
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == "zombie"
    assert not clone.exists() and not clone.parent.exists()
    assert _records(git_repo) == []

    (gate / "release").touch()
    rerun = cli(git_repo, "queue", "start")
    assert rerun.code == 0, rerun.err
    assert [e.state for e in Queue(git_repo).entries()] == ["success"]
    base = git(git_repo, "rev-parse", "HEAD")
    assert git(git_repo, "rev-parse", f"refs/exps/{base[:2]}/{base[2:]}/slow")
    _assert_no_running_flow_runs()


def _assert_no_running_flow_runs() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        running = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["slow"]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
            )
        )
    assert running == []


def test_records_of_other_hosts_are_never_settled(git_repo: Path, cli) -> None:
    folder = records_dir(git_repo)
    folder.mkdir(parents=True)
    other = {
        "key": "queue-abc",
        "process": {"host": "some-other-host", "pid": 1, "started": 0.0},
        "flow": "queue runner",
        "queue_entry": "abc",
    }
    (folder / "queue-abc.json").write_text(json.dumps(other))
    result = cli(git_repo, "queue", "status")
    assert result.code == 0, result.err
    assert "WARNING" not in result.err
    assert (folder / "queue-abc.json").exists()


def test_status_with_only_live_records_does_not_import_prefect(git_repo: Path) -> None:
    folder = records_dir(git_repo)
    folder.mkdir(parents=True)
    me = psutil.Process()
    live = {
        "key": "live",
        "process": {"host": os.uname().nodename, "pid": me.pid, "started": me.create_time()},
        "flow_run_id": "00000000-0000-0000-0000-000000000000",
        "flow": "repro",
    }
    (folder / "live.json").write_text(json.dumps(live))
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    code = (
        "import sys\nfrom prefect_dvc.cli import main\nrc = main(['status'])\n"
        "assert 'prefect' not in sys.modules, 'prefect imported'\nsys.exit(rc)\n"
    )
    proc = subprocess.run(
        [str(Path(CLI).with_name("python")), "-c", code],
        cwd=git_repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (folder / "live.json").exists()


def test_sigkilled_repro_on_the_temporary_server_leaves_no_server_behind(
    git_repo: Path, gate: Path, tmp_path: Path, prefect_env: dict[str, str]
) -> None:
    """No PREFECT_API_URL: the run starts Prefect's temporary server, which a
    SIGKILL orphans; the next command uses it to mark the run Crashed, then stops it."""
    _waiting_pipeline(git_repo, gate)
    env = {k: v for k, v in prefect_env.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_DVC_SERVER"] = "temporary"
    proc = _start(git_repo, env, "repro", "-f")
    helpers: list[int] = []
    try:
        _started_run(git_repo, gate, proc)
        record = _records(git_repo)[0]
        helpers = [int(h["pid"]) for h in record["helpers"]]  # type: ignore[index, union-attr]
        assert len(helpers) == 1 and _alive(helpers[0])
        server = psutil.Process(helpers[0])
        assert "prefect.server.api.server:create_app" in server.cmdline()
        assert str(record["helper_api_url"]).endswith(f":{server.cmdline()[-5]}/api")
        stage_pid = int((gate / "pid-1").read_text())
        proc.kill()
        proc.wait()  # not communicate(): the orphaned server still holds the pipes open
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
        assert _alive(helpers[0]), "the temporary server outlives a SIGKILLed runner"
        result = subprocess.run(
            [CLI, "status"], cwd=git_repo, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        assert f"stopped pid {stage_pid}, a stage command" in result.stderr
        assert "(repro) marked Crashed" in result.stderr
        assert f"stopped pid {helpers[0]}, a Prefect server" in result.stderr
        assert not _alive(helpers[0])
        assert _records(git_repo) == []
    finally:
        for pid in helpers:
            if _alive(pid):
                psutil.Process(pid).kill()
