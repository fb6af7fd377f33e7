"""A real Prefect server for end-to-end tests (``from prefect_servers import ...``).

``running_server`` starts ``prefect-dvc server start`` on a free port with its
own PREFECT_HOME and HOME under a test folder and stops it on exit; the child
environment drops the caller's Prefect (and cloud credential) settings so no
test reaches a user's server or account.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers import free_port

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
#: Variable prefixes a child never inherits: Prefect settings and AWS keys.
DROPPED = ("PREFECT_", "AWS_")


@dataclass(frozen=True)
class Server:
    """A running server: its API URL, PREFECT_HOME and the child environment.

    ``env`` has no PREFECT_API_URL (a command finds the server under
    PREFECT_HOME); ``api_env`` adds it.
    """

    api_url: str
    home: Path
    env: dict[str, str]

    @property
    def ui_url(self) -> str:
        """The UI's address: the API URL without ``/api``."""
        return self.api_url.removesuffix("/api")

    @property
    def api_env(self) -> dict[str, str]:
        """``env`` with PREFECT_API_URL naming this server."""
        return {**self.env, "PREFECT_API_URL": self.api_url}


def child_env(
    home: Path,
    user_home: Path,
    *,
    drop: tuple[str, ...] = DROPPED,
    log_level: str = "WARNING",
) -> dict[str, str]:
    """Environment for child processes: no inherited ``drop`` prefixes, our HOME and Git identity.

    Args:
        home: PREFECT_HOME for the children (an existing folder).
        user_home: HOME (an existing folder); a ``.gitconfig`` naming ``main``
            the default branch is written there.
        drop: variable-name prefixes removed from ``os.environ``.
        log_level: PREFECT_LOGGING_LEVEL of the children.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        HOME=str(user_home),
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL=log_level,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test User",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test User",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    (user_home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    return env


@contextmanager
def running_server(
    base: Path, *, drop: tuple[str, ...] = DROPPED, log_level: str = "WARNING"
) -> Iterator[Server]:
    """``prefect-dvc server start`` on a free port under ``base``; stopped on exit.

    ``base/prefect-home`` and ``base/user-home`` become PREFECT_HOME and HOME;
    ``drop`` and ``log_level`` go to ``child_env``. Asserts the start prints
    the ``export PREFECT_API_URL=...`` line and the stop ends the server.
    """
    home, user_home = base / "prefect-home", base / "user-home"
    home.mkdir(parents=True)
    user_home.mkdir(parents=True)
    env = child_env(home, user_home, drop=drop, log_level=log_level)
    port = free_port()
    start = subprocess.run(
        [CLI, "server", "start", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert start.returncode == 0, start.stdout + start.stderr
    api_url = f"http://127.0.0.1:{port}/api"
    assert f"export PREFECT_API_URL={api_url}" in start.stdout
    pid = json.loads((home / "prefect-dvc-server.json").read_text())["pid"]
    try:
        yield Server(api_url, home, env)
    finally:
        stop = subprocess.run(
            [CLI, "server", "stop"], env=env, capture_output=True, text=True, timeout=120
        )
        assert stop.returncode == 0, stop.stderr
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return " Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    except OSError:
        return True
