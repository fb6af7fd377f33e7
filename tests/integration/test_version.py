"""``--version`` prints the bare installed version, as ``dvc --version`` does; ``version`` more."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def test_version_option_prints_the_installed_version_only(cli, tmp_path: Path) -> None:
    result = cli(tmp_path, "--version", "status")
    assert result.code == 0, result.err
    assert result.out == importlib.metadata.version("prefect-dvc") + "\n"


def test_version_command_names_prefect_and_the_config_folders(cli, tmp_path: Path) -> None:
    result = cli(tmp_path, "version", env={"DVC_GLOBAL_CONFIG_DIR": str(tmp_path / "g")})
    assert result.code == 0, result.err
    assert f"prefect = {importlib.metadata.version('prefect')}" in result.out
    assert f"Global: {tmp_path / 'g'}" in result.out
