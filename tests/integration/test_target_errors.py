"""Targets naming nothing are refused in every project shape; `repro -f --dry` tells the truth.

Found by a fresh user trial: in a project without `dvc.yaml`, `status nosuch`
said "up to date" and exited 0, where real DVC 3.67.1 refuses the target.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _ours(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("target", ["nosuch", "bad::name", "nosuch.dvc"])
@pytest.mark.parametrize("shape", ["empty", "only .dvc files"])
def test_a_target_naming_nothing_is_refused_as_dvc_refuses_it(
    git_repo: Path, target: str, shape: str
) -> None:
    if shape == "only .dvc files":
        gen(git_repo, {"data.txt": "x\n"})
        assert _ours(git_repo, "add", "data.txt").returncode == 0
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-q", "-m", "data")
    before = git(git_repo, "status", "--porcelain")
    ours = _ours(git_repo, "status", target)
    theirs = run_dvc(git_repo, "status", target)
    assert theirs.returncode != 0 and ours.returncode != 0, ours.stdout
    errors = [line for line in ours.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "Traceback" not in ours.stderr
    assert "up to date" not in ours.stdout
    assert git(git_repo, "status", "--porcelain") == before


def test_repro_force_dry_says_every_stage_will_run(git_repo: Path) -> None:
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stage")
    gen(git_repo, {"a.txt": "a\n"})
    # NOTE: a lock as a run would write it, so the stage is up to date without -f
    assert run_dvc(git_repo, "commit", "-f").returncode == 0
    assert "a: up to date" in _ours(git_repo, "repro", "--dry").stdout
    forced = _ours(git_repo, "repro", "-f", "--dry")
    assert forced.returncode == 0, forced.stderr
    assert "a: will run (forced with -f)" in forced.stdout
    assert (git_repo / "a.txt").read_text() == "a\n"
