"""``helpers.dvc_bin``/``chromium_bin``: under ``make test`` a missing tool fails, never skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROBE = """\
from helpers import chromium_bin, dvc_bin


def test_dvc():
    assert dvc_bin()


def test_chromium():
    assert chromium_bin()
"""


def _run(tmp_path: Path, env_update: dict[str, str]) -> str:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_DVC_TEST_")}
    env.update(env_update, PYTHONPATH=f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout


@pytest.mark.parametrize("var", ["PREFECT_DVC_TEST_DVC", "PREFECT_DVC_TEST_CHROMIUM"])
def test_a_set_path_to_a_missing_tool_fails_with_what_to_do(tmp_path: Path, var: str) -> None:
    out = _run(tmp_path, {var: str(tmp_path / "absent")})
    assert f"not found at {var}={tmp_path / 'absent'}" in out
    # the other variable is unset here, as in a hand run: that tool's test skips
    assert "1 failed, 1 skipped" in out


def test_without_the_variables_a_hand_run_skips_with_the_reason(tmp_path: Path) -> None:
    out = _run(tmp_path, {})
    assert "2 skipped" in out and "run 'make test', or set PREFECT_DVC_TEST_DVC" in out


def test_a_set_path_to_a_real_executable_is_used(tmp_path: Path) -> None:
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    out = _run(tmp_path, {"PREFECT_DVC_TEST_DVC": str(exe), "PREFECT_DVC_TEST_CHROMIUM": str(exe)})
    assert "2 passed" in out
