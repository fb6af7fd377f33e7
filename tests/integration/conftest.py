"""End-to-end fixtures: the real ``prefect-dvc`` command against Prefect's test harness.

The CLI runs as a child process (the installed console script), pointed at
the session's harness API, so each test sees exactly what a user sees:
exit code, stdout and stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import git

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "get-started"
CLI = str(Path(sys.executable).with_name("prefect-dvc"))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def prefect_env(prefect_api: None) -> dict[str, str]:
    """The environment for child processes: the harness's API URL, quiet Prefect logs."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


@pytest.fixture
def cli(prefect_env: dict[str, str]) -> Iterator[Callable[..., CliResult]]:
    """``cli(repo, *args)`` runs ``prefect-dvc args`` in ``repo``."""

    def run(repo: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
        proc = subprocess.run(
            [CLI, *args],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**prefect_env, **(env or {})},
            timeout=600,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    yield run


@pytest.fixture
def example_repo(git_repo: Path) -> Path:
    """The get-started example committed in a fresh Git repository."""
    for item in EXAMPLE.iterdir():
        dest = git_repo / item.name
        if item.is_dir():
            shutil.copytree(item, dest)
        else:
            shutil.copy2(item, dest)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "example")
    return git_repo
