"""Plain helpers shared by the tests (import them with ``from helpers import ...``).

Kept out of ``conftest.py`` on purpose: several folders have their own
``conftest.py``, and a module named ``conftest`` is ambiguous to import.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path


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
