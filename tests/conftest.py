"""Fixtures shared by the whole suite.

- Every test runs with an isolated HOME and Git identity (as scmrepo's tests do),
  so the user's ~/.gitconfig or a global DVC config never leaks in.
- ``git_repo``: a real Git repository in ``tmp_path`` with ``.dvc/`` and one commit.
- ``s3_endpoint``: a real ``moto_server`` subprocess on a free loopback port
  (session-wide); ``s3_bucket`` gives each test its own fresh bucket.
- ``prefect_api``: Prefect's own test harness, started once per session and only
  for the tests that ask for it (it costs ~9 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, gen, git
from moto_buckets import fresh_bucket

__all__ = ["free_port", "gen", "git"]

# NOTE: pytest-xdist workers run with COLUMNS=80, which the CLI reads as a
# terminal width (exp show fits its table to it); in CI a pipe has none. Popped
# here, before any fixture (session-wide ones copy the environment) runs.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


@pytest.fixture(scope="session", autouse=True)
def _no_server_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session if a test leaves a Prefect server or idle watcher running.

    Looks for ``prefect server start`` and ``prefect_dvc.flows.idle_watch``
    processes whose ``PREFECT_HOME`` or ``HOME`` lies in this session's temporary
    folders (a developer's own server elsewhere is not ours to judge).
    """
    yield
    import psutil

    base = str(tmp_path_factory.getbasetemp())
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "server start" not in line and "prefect_dvc.flows.idle_watch" not in line:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if any(env.get(k, "").startswith(base) for k in ("PREFECT_HOME", "HOME")):
            left.append(f"{proc.info['pid']}: {line}")
            proc.kill()
    assert not left, f"tests left servers running: {left}"


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test User")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test User")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("DVC_CHECKPOINT", raising=False)
    # NOTE: in-process flows outside the harness keep Prefect's temporary server;
    # the shared background server (the product default) is tested on its own.
    monkeypatch.setenv("PREFECT_DVC_SERVER", "temporary")
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = Test User\n\temail = test@example.com\n"
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A Git repository with ``.dvc/`` (as ``dvc init`` leaves it) and one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A ``moto_server`` on a free 127.0.0.1 port; yields its URL."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(exe).exists():
        pytest.fail(
            "moto_server is not installed: run 'make test' (it installs .[test])", pytrace=False
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the moto endpoint; yields its name. Credentials go in the env."""
    with fresh_bucket(s3_endpoint, monkeypatch, "test") as name:
        yield name


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Prefect's test harness (a temporary API server), once per session."""
    # NOTE: imported here, not at module level: it costs ~3 s to import and
    # most tests never need it.
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
