"""The first command of a day spawns the background server before it imports Prefect.

Real processes: real ``prefect server start`` children, the real CLI's
``repro`` run in a probe process that notes, at the moment Prefect is first
imported, which server the record names; the flow run is read back from the
server. A no-op starts nothing; a server spawned early and never used is
stopped when the process exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers import gen, git

from prefect_dvc.flows import server as server_lib

pytestmark = pytest.mark.filterwarnings(r"ignore:subprocess \d+ is still running:ResourceWarning")

# Runs the CLI in-process; prints, when "prefect" is first imported, the
# server record as it is then (JSON, or null), and exits with the CLI's code.
_PROBE = """
import json, sys
from pathlib import Path
record = Path(sys.argv[1])
seen = []

class Probe:
    def find_spec(self, name, path=None, target=None):
        if name == "prefect" and not seen:
            seen.append(json.loads(record.read_text()) if record.exists() else None)
        return None

sys.meta_path.insert(0, Probe())
from prefect_dvc.cli import main
code = main(sys.argv[2:])
print("AT_IMPORT=" + json.dumps(seen[0] if seen else "not imported"))
sys.exit(code)
"""

# A command's path: spawn early, import Prefect, then ask for the API.
_RACER = """
from prefect_dvc.flows.background import api_for_command, start_early
start_early()
import prefect
print(api_for_command(print))
"""

_ABANDON = """
from prefect_dvc.flows import background
background.start_early()
pending = background._pending.get(background.server_lib.prefect_home())
print(pending.info.pid if pending else "none", flush=True)
"""


def _probe(repo: Path, home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], object]:
    record = home / server_lib.STATE_FILE
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(record), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("AT_IMPORT=")]
    return result, json.loads(lines[-1].removeprefix("AT_IMPORT=")) if lines else None


def _servers(home: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if "server start" in " ".join(proc.info["cmdline"] or []):
            try:
                if proc.environ().get("PREFECT_HOME") == str(home):
                    found.append(proc.pid)
            except psutil.Error:
                continue
    return found


def _flow_runs(api_url: str) -> list[str]:
    import urllib.request

    request = urllib.request.Request(
        api_url + "/flow_runs/filter", b"{}", {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return [run["state_type"] for run in json.loads(resp.read())]


def test_early_server_is_the_one_used_and_a_no_op_spawns_nothing(
    home: Path, git_repo: Path
) -> None:
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stage")

    # No database yet: nothing is spawned early (a first start runs migrations).
    first, at_import = _probe(git_repo, home, "repro")
    assert first.returncode == 0, first.stderr
    assert at_import is None and (home / "prefect.db").exists()
    server_lib.stop_server(home)
    assert _servers(home) == []

    # A no-op imports no Prefect and starts no server.
    noop, at_import = _probe(git_repo, home, "repro")
    assert noop.returncode == 0, noop.stderr
    assert at_import == "not imported" and "up to date" in noop.stdout
    assert server_lib.read_info(home) is None and _servers(home) == []

    # The first command of the day: spawned before Prefect's import, and used.
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo b > a.txt\n    outs: [a.txt]\n"})
    day, at_import = _probe(git_repo, home, "repro")
    assert day.returncode == 0, day.stderr
    assert day.stderr.count("Started a local Prefect server") == 1
    info = server_lib.read_info(home)
    assert isinstance(at_import, dict) and info is not None
    assert at_import["pid"] == info.pid and at_import["api_url"] == info.api_url
    assert _servers(home) == [info.pid] and info.watcher is not None
    assert _flow_runs(info.api_url) == ["COMPLETED", "COMPLETED"]
    assert (git_repo / "a.txt").read_text() == "b\n"

    # Four first commands at once: one server, which all of them use.
    server_lib.stop_server(home)
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in racers]
    assert all(proc.returncode == 0 for proc in racers), outputs
    info = server_lib.read_info(home)
    assert info is not None and _servers(home) == [info.pid]
    assert {out.strip().splitlines()[-1] for out in outputs} == {info.api_url}
    assert sum(out.count("Started a local Prefect server") for out in outputs) == 1

    # Spawned early, never used (the command ended first): stopped and forgotten at exit.
    server_lib.stop_server(home)
    abandon = subprocess.run(
        [sys.executable, "-c", _ABANDON], capture_output=True, text=True, timeout=120
    )
    assert abandon.returncode == 0, abandon.stderr
    assert abandon.stdout.strip() not in ("", "none")
    assert (
        not psutil.pid_exists(int(abandon.stdout))
        or psutil.Process(int(abandon.stdout)).status() == psutil.STATUS_ZOMBIE
    )
    assert server_lib.read_info(home) is None and _servers(home) == []


def test_a_configured_api_or_a_start_in_progress_spawns_nothing_early(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_dvc.flows import background

    home.mkdir(parents=True)
    (home / "prefect.db").write_bytes(b"")  # only its presence is read: no server starts here
    monkeypatch.chdir(tmp_path)
    for key, value in (
        ("PREFECT_API_URL", "http://127.0.0.1:9/api"),
        ("PREFECT_DVC_SERVER", "temporary"),
        ("PREFECT_DVC_SERVER", "off"),
    ):
        with monkeypatch.context() as m:
            m.setenv(key, value)
            background.start_early()
            assert background._pending == {} and server_lib.read_info(home) is None
    for path, text in (
        (home / "profiles.toml", '[profiles.x]\nPREFECT_API_URL = "http://h/api"\n'),
        (tmp_path / "prefect.toml", "[api]\nurl = 'http://h/api'\n"),
        (tmp_path / ".env", "PREFECT_API_URL=http://h/api\n"),
        (tmp_path / "pyproject.toml", "[tool.prefect.api]\nurl = 'http://h/api'\n"),
    ):
        path.write_text(text)
        background.start_early()
        assert background._pending == {} and server_lib.read_info(home) is None
        path.unlink()
    # Another command holds the start lock: it starts the server, we do not.
    with (home / background.LOCK_FILE).open("a") as held:
        import fcntl

        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        background.start_early()
        assert background._pending == {} and server_lib.read_info(home) is None
