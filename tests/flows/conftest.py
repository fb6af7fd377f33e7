"""Fixtures shared by the background-server tests of ``prefect_dvc.flows``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

from prefect_dvc.flows import server as server_lib


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh PREFECT_HOME and a free API port; any server left there is stopped.

    No PREFECT_API_URL nor PREFECT_DVC_SERVER* setting is inherited, so each
    test chooses the server it means.
    """
    home = tmp_path / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_SERVER_API_PORT", str(free_port()))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    for name in ("PREFECT_API_URL", "PREFECT_DVC_SERVER", "PREFECT_DVC_SERVER_IDLE"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield home
    finally:
        server_lib.stop_server(home)
