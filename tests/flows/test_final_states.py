"""The flows called from Python end with our one-line message, never a Prefect TypeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import StageError
from prefect_dvc.translators.flow import PipelineFailedError

FAILING = {
    "dvc.yaml": """\
stages:
  ok:
    cmd: echo fine > ok.txt
    outs: [ok.txt]
  bad:
    cmd: echo about to fail && exit 3
    deps: [ok.txt]
    outs: [bad.txt]
""",
}


@pytest.fixture
def failing_repo(git_repo: Path) -> Path:
    gen(git_repo, FAILING)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "failing pipeline")
    return git_repo


def _read_state(flow_run_id: object) -> tuple[str, str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state  # type: ignore[arg-type]
    assert state is not None
    return state.type.value, state.message or ""


@pytest.mark.parametrize("which", ["exp_run", "repro"])
def test_failing_stage_ends_the_flow_failed_with_one_line(
    failing_repo: Path, prefect_api: None, which: str
) -> None:
    from prefect_dvc.flows.experiment import exp_run
    from prefect_dvc.flows.repro import repro

    flow = exp_run if which == "exp_run" else repro
    state = flow(repo=str(failing_repo), return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, PipelineFailedError)
    assert "stage 'bad'" in str(error) and "exit code 3" in str(error)
    assert "\n" not in str(error)
    assert set(error.run.failed) == {"bad"} and set(error.run.results) == {"ok"}
    kind, message = _read_state(state.state_details.flow_run_id)
    assert kind == "FAILED" and message == str(error)
    with pytest.raises(StageError) as raised:
        flow(repo=str(failing_repo))
    assert str(raised.value) == str(error)
    assert not git(failing_repo, "for-each-ref", "refs/exps")


def test_bad_git_remote_fails_before_any_stage_runs(failing_repo: Path, prefect_api: None) -> None:
    from prefect_dvc.errors import GitError
    from prefect_dvc.flows.experiment import exp_run

    state = exp_run(
        repo=str(failing_repo), push=True, git_remote="--upload-pack=touch X", return_state=True
    )
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, GitError) and "is not a usable Git remote" in str(error)
    assert not (failing_repo / "ok.txt").exists()
    assert not (failing_repo / "dvc.lock").exists()
