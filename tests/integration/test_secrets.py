"""Tokens in Git URLs never show (issue #11 section 5).

A ``git_remote``/``repo`` of the form ``https://user:SECRET@127.0.0.1:PORT/x.git``
(a port nothing listens on) is used for ``exp push`` and for the ``exp_run``
flow; the secret is then searched for in the CLI output, every file under
``.dvc/tmp``, and, through the Prefect client, the flow run's state,
parameters, logs and artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, gen, git

SECRET = "s3cr3tT0ken"


def _url() -> str:
    return f"https://someone:{SECRET}@127.0.0.1:{free_port()}/x.git?token={SECRET}x"


@pytest.fixture
def project(git_repo: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    gen(
        git_repo,
        {
            ".dvc/config": f'[core]\n    remote = store\n[remote "store"]\n    url = {store}\n',
            "params.yaml": "lr: 1\n",
            "dvc.yaml": "stages:\n  train:\n    cmd: echo ${lr} > model.txt\n"
            "    params: [lr]\n    outs: [model.txt]\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def _tmp_files_text(root: Path) -> str:
    folder = root / ".dvc" / "tmp"
    if not folder.is_dir():
        return ""
    return "".join(
        p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()
    )


def test_exp_push_to_url_with_token_never_prints_it(project: Path, cli) -> None:
    env = {"GIT_TERMINAL_PROMPT": "0"}
    ran = cli(project, "exp", "run", "-n", "e1", env=env)
    assert ran.code == 0, ran.err
    url = _url()
    for args in (
        ("exp", "push", url, "e1"),
        ("exp", "pull", url, "e1"),
        ("exp", "remove", "-g", url, "e1"),
        ("exp", "push", "-v", url, "e1"),
    ):
        argv = args if args[2] != "-v" else ("-v", "exp", "push", url, "e1")
        result = cli(project, *argv, env=env)
        assert result.code != 0
        assert SECRET not in result.out + result.err, argv
        assert "127.0.0.1" in result.err  # the URL is still named, without its secret
    assert SECRET not in _tmp_files_text(project)


def _everything_the_api_has(flow_run_id: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)  # logs are shipped in batches
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
        )
        states = client.read_flow_run_states(run.id)
    parts = [run.model_dump_json()]
    parts += [log.message for log in logs]
    parts += [a.model_dump_json() for a in artifacts]
    parts += [t.model_dump_json() for t in tasks]
    parts += [s.model_dump_json() for s in states]
    assert logs, "the run logged nothing: the search would prove nothing"
    return "\n".join(parts)


@pytest.mark.parametrize("where", ["repo", "git_remote"])
def test_exp_run_flow_with_token_urls_keeps_them_out_of_the_api(
    project: Path, prefect_api: None, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from prefect_dvc.flows.experiment import exp_run

    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    url = _url()
    if where == "repo":
        state = exp_run(repo=url, return_state=True)
    else:
        state = exp_run(repo=str(project), push=True, git_remote=url, return_state=True)
    assert state.is_failed()
    assert SECRET not in (state.message or "")
    seen = _everything_the_api_has(state.state_details.flow_run_id)
    assert "127.0.0.1" in seen
    assert SECRET not in seen
    assert SECRET not in _tmp_files_text(project)


def test_stage_output_with_a_token_url_is_redacted_on_the_terminal(git_repo: Path, cli) -> None:
    gen(
        git_repo,
        {
            "url.txt": f"cloning https://bot:{SECRET}@example.com/r.git\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: cat url.txt && echo done > o.txt\n"
            "    deps: [url.txt]\n    outs: [o.txt]\n",
        },
    )
    result = cli(git_repo, "repro")
    assert result.code == 0, result.err
    shown = result.out + result.err
    assert "https://***@example.com/r.git" in shown
    assert SECRET not in shown
