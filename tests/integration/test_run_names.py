"""A ``repro`` flow run is named after the project folder and targets, read back from Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

pytestmark = pytest.mark.prefect

PIPELINE = """\
stages:
  train:
    cmd: echo trained > model.txt
    outs: [model.txt]
  eval:
    cmd: cat model.txt > score.txt
    deps: [model.txt]
    outs: [score.txt]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-stage project in a folder named ``myproj-<test>`` (unique in the session)."""
    root = tmp_path / f"myproj-{tmp_path.name}"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/cache\n/tmp\n", "dvc.yaml": PIPELINE})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def _runs_like(text: str) -> dict[str, dict[str, object]]:
    """Flow runs whose name holds ``text``: name -> parameters."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=text))
        )
    return {run.name: dict(run.parameters) for run in runs}


@pytest.mark.parametrize(
    ("args", "suffix"),
    [([], ""), (["train"], "-train"), (["train", "eval"], "-train,eval")],
)
def test_repro_run_is_named_after_project_and_targets(
    project: Path, cli, args: list[str], suffix: str
) -> None:
    done = cli(project, "repro", *args)
    assert done.code == 0, done.err
    assert (project / "model.txt").read_text() == "trained\n"
    runs = _runs_like(project.name)
    assert list(runs) == [f"repro-{project.name}{suffix}"]
    assert Path(str(runs[f"repro-{project.name}{suffix}"]["repo"])).resolve() == project


def test_repro_from_a_subfolder_is_named_after_the_project(project: Path, cli) -> None:
    (project / "src").mkdir()
    done = cli(
        project / "src", "repro", "../dvc.yaml:train"
    )  # as a DVC user types it from a sub-folder
    assert done.code == 0, done.err
    assert list(_runs_like(project.name)) == [f"repro-{project.name}-train"]
