"""The embedded default: one background Prefect server, started on demand, stopped when idle.

Real processes throughout: real ``prefect server start`` children, four
commands racing to start one, a real ``prefect-dvc repro`` whose flow run
and task runs are read back from that server, and the idle watcher stopping
it. Every test stops what it started (``conftest._no_server_left_behind``
fails the session otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from helpers import free_port, gen, git

from prefect_dvc.errors import ConfigError
from prefect_dvc.flows import server as server_lib
from prefect_dvc.flows.background import api_for_command, server_mode

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
# NOTE: the server and its watcher outlive the call that starts them on purpose;
# the session-wide check in conftest.py proves none outlives its test.
pytestmark = pytest.mark.filterwarnings(r"ignore:subprocess \d+ is still running:ResourceWarning")
HOLD = (
    "import sys, time; from pathlib import Path;"
    " from prefect_dvc.flows.background import mark_used;"
    " mark_used(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"
)
ASK = "from prefect_dvc.flows.background import api_for_command; print(api_for_command(print))"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _api(url: str, path: str, body: dict[str, object]) -> object:
    request = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.5)
    return False


def test_four_commands_at_once_start_one_server_which_a_repro_uses_and_idle_stops(
    home: Path, git_repo: Path, request: pytest.FixtureRequest
) -> None:
    env = _env(PREFECT_DVC_SERVER_IDLE="6")
    home.mkdir(parents=True)
    holder = subprocess.Popen(  # a command using the server from before it starts
        [sys.executable, "-c", HOLD, str(home)], env=env, stdout=subprocess.PIPE, text=True
    )
    request.addfinalizer(holder.kill)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    racers = [
        subprocess.Popen([sys.executable, "-c", ASK], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in racers]
    assert all(proc.returncode == 0 for proc in racers), outputs
    urls = {out.strip().splitlines()[-1] for out in outputs}
    info = server_lib.read_info(home)
    assert info is not None and urls == {info.api_url} and info.idle == 6.0
    assert sum(out.count("Started a local Prefect server") for out in outputs) == 1
    servers = [
        p for p in psutil.process_iter(["cmdline"])
        if "server start" in " ".join(p.info["cmdline"] or [])
        and p.environ().get("PREFECT_HOME") == str(home)
    ]  # fmt: skip
    assert [p.pid for p in servers] == [info.pid]

    # A live command holds the server however long it takes (here: far past the 6 s).
    time.sleep(8)  # NOTE: longer than the idle setting, to prove the hold (not a timing check)
    assert server_lib.healthy(info.api_url, timeout=5)

    # A real command finds it (no second start) and its runs land on it.
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stage")
    repro = subprocess.run(
        [CLI, "repro"], cwd=git_repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert repro.returncode == 0, repro.stderr
    assert "Started a local Prefect server" not in repro.stdout + repro.stderr
    runs = _api(info.api_url, "/flow_runs/filter", {})
    assert [r["state_type"] for r in runs] == ["COMPLETED"]  # type: ignore[index, union-attr]
    tasks = _api(info.api_url, "/task_runs/count", {})
    assert tasks == 1

    holder.kill()
    holder.wait()
    # Unused for 6 s: the watcher stops it and forgets it.
    assert _wait_gone(info.pid, 120), "the idle server was not stopped"
    deadline = time.monotonic() + 30
    while server_lib.read_info(home) is not None and time.monotonic() < deadline:
        time.sleep(0.2)  # the watcher forgets the record right after the server exits
    assert server_lib.read_info(home) is None
    assert "server idle" in Path(info.log).read_text()


def test_a_stale_record_is_replaced_by_a_fresh_server(home: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    home.mkdir(parents=True)
    stale = {"api_url": f"http://127.0.0.1:{free_port()}/api", "pid": dead.pid, "log": "x"}
    (home / server_lib.STATE_FILE).write_text(json.dumps(stale))
    lines: list[str] = []
    url = api_for_command(lines.append)
    info = server_lib.read_info(home)
    assert info is not None and url == info.api_url != stale["api_url"]
    assert info.pid != dead.pid and server_lib.healthy(url)
    assert len(lines) == 1 and info.ui_url in lines[0] and "30 min" in lines[0]
    # The next command finds it: no start, no line.
    assert api_for_command(lines.append) == url and len(lines) == 1
    # Its record deleted (PREFECT_HOME removed), nobody can find it: the watcher stops it.
    (home / server_lib.STATE_FILE).unlink()
    assert _wait_gone(info.pid, 60), "an orphaned background server kept running"
    assert info.watcher is not None and _wait_gone(info.watcher, 30)


def test_off_refuses_temporary_returns_none_and_bad_values_are_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_DVC_SERVER", "off")
    with pytest.raises(ConfigError) as caught:
        api_for_command(print)
    assert str(caught.value) == (
        "no Prefect API is configured and PREFECT_DVC_SERVER=off. Set PREFECT_API_URL,"
        " or start a server with 'prefect-dvc server start'."
    )
    monkeypatch.setenv("PREFECT_DVC_SERVER", "temporary")
    assert api_for_command(print) is None
    monkeypatch.setenv("PREFECT_DVC_SERVER", "sometimes")
    with pytest.raises(ConfigError, match="PREFECT_DVC_SERVER='sometimes' is not one of"):
        server_mode()
    monkeypatch.setenv("PREFECT_DVC_SERVER", "background")
    monkeypatch.setenv("PREFECT_DVC_SERVER_IDLE", "soon")
    with pytest.raises(ConfigError, match="PREFECT_DVC_SERVER_IDLE='soon' is not a number"):
        api_for_command(print)
    assert not home.joinpath(server_lib.STATE_FILE).exists()


def test_off_through_the_cli_is_one_line_and_runs_nothing(home: Path, git_repo: Path) -> None:
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stage")
    result = subprocess.run(
        [CLI, "repro"],
        cwd=git_repo,
        env=_env(PREFECT_DVC_SERVER="off"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "ERROR: no Prefect API is configured and PREFECT_DVC_SERVER=off. Set PREFECT_API_URL,"
        " or start a server with 'prefect-dvc server start'."
    ]
    assert not (git_repo / "a.txt").exists() and not (git_repo / "dvc.lock").exists()


HEALTH = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'true')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


def test_an_unrecorded_server_of_another_prefect_home_is_not_used(
    home: Path, tmp_path: Path
) -> None:
    """A hand-started server on the default port serves whichever home started it.

    Before: any healthy server on ``PREFECT_SERVER_API_PORT`` was used, so a
    user with their own ``PREFECT_HOME`` sent runs into a stranger's database
    without a word. The stand-in answers ``/api/health`` like a Prefect server;
    what is under test is whose home the listening process has.
    """
    port = int(os.environ["PREFECT_SERVER_API_PORT"])
    other = tmp_path / "someone-elses-home"
    proc = subprocess.Popen(
        [sys.executable, "-c", HEALTH, str(port)], env=_env(PREFECT_HOME=str(other))
    )
    try:
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 30
        while not server_lib.healthy(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_lib.healthy(url)
        assert server_lib.find_local_server(home) is None
        assert server_lib.find_local_server(other) == url
    finally:
        proc.kill()
        proc.wait()
