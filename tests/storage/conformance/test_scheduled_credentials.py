"""Credentials for scheduled runs (issue #14 section 4), against real servers.

The ``exp_run`` flow clones a Git URL, so the worker has no ``.dvc/config.local``:
its remote credentials come from the ``config_local_secret`` Prefect Secret or
from the environment. Each run pushes its outputs to the DVC remote (proof
that the credentials were used), and then every flow-run field, log, task run,
state and artifact the API holds is searched for the secrets.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import servers
from helpers import gen, git

from prefect_dvc.config import RemoteConfig
from prefect_dvc.storage.remotes import open_remote

pytestmark = pytest.mark.slow
S3_SECRET = "moto-secret-" + uuid.uuid4().hex[:8]


def _api_text(flow_run_id: object) -> str:
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

    APILogWorker.drain_all(timeout=30)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
        )
        states = client.read_flow_run_states(run.id)
    assert logs, "the run logged nothing: the search would prove nothing"
    parts = [run.model_dump_json(), *(log.message for log in logs)]
    parts += [a.model_dump_json() for a in artifacts]
    parts += [t.model_dump_json() for t in tasks]
    parts += [s.model_dump_json() for s in states]
    return "\n".join(parts)


@pytest.fixture
def origin(
    tmp_path: Path, s3_endpoint: str, s3_conformance_bucket: str, sftp_root: tuple[int, Path]
) -> tuple[Path, str, str]:
    """A Git repository whose .dvc/config names an S3 and an SFTP remote, no credentials."""
    prefix = uuid.uuid4().hex[:12]
    s3_url = f"s3://{s3_conformance_bucket}/{prefix}"
    ssh_url = f"ssh://{servers.SSH_USER}@127.0.0.1/{prefix}"
    root = tmp_path / "origin"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    config = (
        f"[core]\n    remote = sftp\n['remote \"sftp\"']\n    url = {ssh_url}\n"
        f"    port = {sftp_root[0]}\n['remote \"s3\"']\n    url = {s3_url}\n"
        f"    endpointurl = {s3_endpoint}\n"
    )
    gen(
        root,
        {
            ".dvc/config": config,
            ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
            "params.yaml": "lr: 1\n",
            "dvc.yaml": "stages:\n  train:\n    cmd: echo ${lr} > model.txt\n"
            "    params: [lr]\n    outs: [model.txt]\n",
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    return root, s3_url, ssh_url


def _pushed(url: str, **options: str) -> set[str]:
    return open_remote(RemoteConfig("r", url, tuple(options.items()))).objects.all_objects()


def test_secret_block_and_environment_credentials_reach_the_remote_and_never_the_api(
    origin: tuple[Path, str, str],
    prefect_api: None,
    s3_endpoint: str,
    sftp_root: tuple[int, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    from prefect_dvc.flows.experiment import exp_run

    root, s3_url, ssh_url = origin
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    block = f"dvc-local-{uuid.uuid4().hex[:8]}"
    local = f"['remote \"sftp\"']\n    password = {servers.SSH_PASSWORD}\n"
    Secret(value=local).save(block)
    # NOTE: 1. the SFTP password only in the Secret block.
    state = exp_run(repo=f"file://{root}", push=True, config_local_secret=block, return_state=True)
    assert state.is_completed(), state.message
    ssh_options = {"port": str(sftp_root[0]), "password": servers.SSH_PASSWORD}
    assert len(_pushed(ssh_url, **ssh_options)) == 1
    seen = _api_text(state.state_details.flow_run_id)
    assert servers.SSH_PASSWORD not in seen
    # NOTE: 2. S3 keys only in the worker's environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    state = exp_run(
        repo=f"file://{root}",
        set_params=["lr=2"],
        push=True,
        remote="s3",
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert len(_pushed(s3_url, endpointurl=s3_endpoint)) == 1
    seen = _api_text(state.state_details.flow_run_id)
    assert S3_SECRET not in seen and servers.SSH_PASSWORD not in seen
    refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps")
    assert len(str(refs).split()) == 2
