"""A stage command's environment: the variables real DVC 3.67.1 sets (``stage/run.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.execution import stage_env
from prefect_dvc.translators.pipeline import StageSpec

DUMP = 'echo "$DVC_ROOT|$DVC_STAGE|$DVC_EXP_NAME" > '


def test_dvc_stage_is_dvcs_address_in_any_dvc_yaml(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            "dvc.yaml": (
                "stages:\n  top:\n    cmd: " + DUMP + "top.txt\n"
                "  each:\n    foreach: [a]\n    do:\n      cmd: " + DUMP + "each.txt\n"
            ),
            "sub/dvc.yaml": "stages:\n  inner:\n    cmd: " + DUMP + "inner.txt\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stages")
    for target in ("dvc.yaml", "sub/dvc.yaml"):
        done = run_dvc(git_repo, "repro", target)
        assert done.returncode == 0, done.stderr
    stages = {
        "top.txt": StageSpec(name="top", cmd="x"),
        "each.txt": StageSpec(name="each@a", cmd="x"),
        "sub/inner.txt": StageSpec(name="inner", cmd="x", dvcfile="sub/dvc.yaml"),
    }
    for written, stage in stages.items():
        env = stage_env(git_repo, stage, {})
        ours = f"{env['DVC_ROOT']}|{env['DVC_STAGE']}|{env.get('DVC_EXP_NAME', '')}"
        assert (git_repo / written).read_text().strip() == ours


def test_run_env_comes_before_the_stage_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_ROOT", "/outer/project")
    monkeypatch.setenv("DVC_STAGE", "outer-stage")
    stage = StageSpec(name="train", cmd="x", dvcfile="./models/../dvc.yaml")
    assert stage_env(tmp_path, stage, {})["DVC_ROOT"] == "/outer/project"
    env = stage_env(
        tmp_path, stage, {"DVC_ROOT": str(tmp_path), "DVC_EXP_NAME": "e1", "DVC_STAGE": "no"}
    )
    assert (env["DVC_ROOT"], env["DVC_STAGE"], env["DVC_EXP_NAME"]) == (
        str(tmp_path),
        "train",
        "e1",
    )
