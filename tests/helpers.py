"""Plain helpers shared by the tests (import them with ``from helpers import ...``).

Kept out of ``conftest.py`` on purpose: several folders have their own
``conftest.py``, and a module named ``conftest`` is ambiguous to import.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stripped stdout (raises on failure)."""
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def gen(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write ``files`` (path -> text or bytes) under ``root``, creating folders."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DVC_ENV = "PREFECT_DVC_TEST_DVC"
CHROMIUM_ENV = "PREFECT_DVC_TEST_CHROMIUM"
DVCLIVE_ENV = "PREFECT_DVC_TEST_DVCLIVE"


def _tool(env_var: str, what: str, install: str) -> str:
    """The executable named by ``env_var``: the one way tests find an outside tool.

    ``make test`` exports the variable, so there a missing tool fails the
    test with what to do. A developer running pytest by hand without the
    variable gets a skip that says how to run these tests.
    """
    value = os.environ.get(env_var)
    if not value:
        pytest.skip(f"{what} is not configured: run 'make test', or set {env_var}")
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{what} not found at {env_var}={value}: {install}", pytrace=False)
    return str(path)


def dvc_bin() -> str:
    """Real DVC 3.67.1's ``dvc`` executable, from ``$PREFECT_DVC_TEST_DVC``."""
    return _tool(DVC_ENV, "real DVC", "run 'make test' (it installs dvc==3.67.1 in .venv-dvc)")


def dvc_python() -> str:
    """The Python interpreter of real DVC's environment (to call DVC's own functions)."""
    python = Path(dvc_bin()).with_name("python")
    if not python.exists():
        pytest.fail(f"no python beside {DVC_ENV}: {python} is missing", pytrace=False)
    return str(python)


def chromium_bin() -> str:
    """Headless Chromium, from ``$PREFECT_DVC_TEST_CHROMIUM``."""
    return _tool(CHROMIUM_ENV, "Chromium", "apt-get install -y chromium (make test does)")


def run_dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = dvc_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [exe, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300
    )


def dvclive_python() -> str:
    """A Python with the real ``dvclive`` and DVC for stages, from ``$PREFECT_DVC_TEST_DVCLIVE``.

    ``make test`` installs dvclive into DVC's environment and points the
    variable at its interpreter; an interpreter that cannot import dvclive
    fails the test (never a skip).
    """
    python = _tool(DVCLIVE_ENV, "DVCLive", "run 'make test' (it installs dvclive in .venv-dvc)")
    probe = subprocess.run([python, "-c", "import dvclive"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"{python} cannot import dvclive: {probe.stderr.strip()}", pytrace=False)
    return python
