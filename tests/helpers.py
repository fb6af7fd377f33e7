"""Plain helpers shared by the tests (import them with ``from helpers import ...``).

Kept out of ``conftest.py`` on purpose: several folders have their own
``conftest.py``, and a module named ``conftest`` is ambiguous to import.
"""

from __future__ import annotations

import os
import shutil
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


def dvc_bin() -> str | None:
    """Real DVC 3 for interop checks: $PREFECT_DVC_TEST_DVC, or the dev machine's venv."""
    for candidate in (os.environ.get("PREFECT_DVC_TEST_DVC"), "/tmp/dvcvenv/bin/dvc"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("dvc")


def run_dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = dvc_bin()
    if exe is None:
        pytest.skip("real DVC not found: set PREFECT_DVC_TEST_DVC")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [exe, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300
    )
