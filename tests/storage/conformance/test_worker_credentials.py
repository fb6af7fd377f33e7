"""Credentials for scheduled runs through a real worker (issue #14 section 4).

One real ``prefect server`` (``prefect-dvc server start``) and one real
``prefect worker start --pool`` process serve an ``exp_run`` deployment made
by ``prefect-dvc deploy`` for a ``file://`` Git repository whose
``.dvc/config`` names two remotes and no credentials:

- ``s3`` (moto): the keys come only from a Prefect Secret block holding
  ``.dvc/config.local``, given as the run's ``config_local_secret``; the
  worker has no AWS variables and an empty HOME.
- ``azure`` (Azurite): the connection string comes only from the worker's
  environment (``AZURE_STORAGE_CONNECTION_STRING``, which dvc-azure reads).
  DVC has no environment variable for an SSH password (asyncssh takes keys
  or an agent), so the "other kind" with environment credentials is Azure.

Both runs go through the worker; then the experiment refs must be on the Git
remote, the objects on each DVC remote, and no API listing (flow runs with
their parameters and states, task runs, logs, artifacts, variables,
deployments, work pools, block documents) nor the worker's own output may
contain either secret.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import servers
from helpers import gen, git
from prefect_servers import DROPPED, Server, running_server

from prefect_dvc.config import RemoteConfig
from prefect_dvc.storage.remotes import open_remote

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.s3]
BIN = Path(sys.executable).parent
S3_SECRET = "s3-secret-" + uuid.uuid4().hex
POOL = "creds-pool"


@dataclass(frozen=True)
class Runs:
    """The two finished flow runs, the Git remote and the worker's output file."""

    server: Server
    s3: Any
    azure: Any
    no_keys: Any
    origin: Path
    worker_log: Path
    s3_url: str
    azure_url: str


@contextmanager
def _worker(srv: Server, log: Path, azure_conn: str) -> Iterator[None]:
    env = {**srv.api_env, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    env["PREFECT_WORKER_PREFETCH_SECONDS"] = "1"
    env["AZURE_STORAGE_CONNECTION_STRING"] = azure_conn
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@contextmanager
def _api(srv: Server) -> Iterator[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: srv.api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def _origin(root: Path, s3_url: str, s3_endpoint: str, azure_url: str) -> None:
    """A Git repository with an S3 and an Azure remote and no credentials."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    config = (
        f"[core]\n    remote = azure\n['remote \"azure\"']\n    url = {azure_url}\n"
        f"['remote \"s3\"']\n    url = {s3_url}\n    endpointurl = {s3_endpoint}\n"
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


def _trigger(srv: Server, params: dict[str, Any]) -> Any:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: srv.api_url}):
        return run_deployment("exp_run/creds", parameters=params, timeout=600, poll_interval=1)


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    s3_endpoint: str,
    s3_conformance_bucket: str,
    azure_connection: str,
) -> Iterator[Runs]:
    """Deploy, start one worker, run the S3 (Secret) and Azure (environment) experiments."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    base = tmp_path_factory.mktemp("worker-creds")
    prefix = uuid.uuid4().hex[:12]
    s3_url, azure_url = f"s3://{s3_conformance_bucket}/{prefix}", f"azure://conformance/{prefix}"
    _origin(base / "origin", s3_url, s3_endpoint, azure_url)
    with running_server(base, drop=(*DROPPED, "AZURE_"), log_level="INFO") as srv:
        local = "['remote \"s3\"']\n    access_key_id = moto-key\n"
        local += f"    secret_access_key = {S3_SECRET}\n"
        with temporary_settings(updates={PREFECT_API_URL: srv.api_url}):
            Secret(value=local).save("dvc-config-local")
        deploy = subprocess.run(
            [
                *(str(BIN / "prefect-dvc"), "deploy", "creds", "--pool", POOL),
                *("--param", f"repo=file://{base / 'origin'}", "--param", "push=true"),
                *("--param", f"workdir={base / 'work'}"),
            ],
            env=srv.api_env,
            cwd=base,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deploy.returncode == 0, deploy.stderr
        log = base / "worker.log"
        with _worker(srv, log, azure_connection):
            s3 = _trigger(srv, {"remote": "s3", "config_local_secret": "dvc-config-local"})
            azure = _trigger(srv, {"set_params": ["lr=2"], "name": "from-env"})
            no_keys = _trigger(srv, {"remote": "s3", "set_params": ["lr=3"], "name": "no-keys"})
        yield Runs(srv, s3, azure, no_keys, base / "origin", log, s3_url, azure_url)


def test_both_runs_complete_through_the_worker(runs: Runs) -> None:
    assert runs.s3.state.is_completed(), runs.s3.state
    assert runs.azure.state.is_completed(), runs.azure.state
    # the worker, not an in-process call, ran them
    assert runs.s3.work_pool_name == POOL and runs.azure.work_pool_name == POOL
    refs = git(runs.origin, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    assert len(refs) == 2 and any(r.endswith("/from-env") for r in refs)
    # without the Secret the worker has no S3 keys: the same run fails and says so
    assert runs.no_keys.state.is_failed(), runs.no_keys.state
    message = runs.no_keys.state.message or ""
    assert "no credentials found for bucket 'conformance'" in message
    # the pushed clones are deleted; the unpushed one is kept, with its experiment
    kept = list((runs.origin.parent / "work").iterdir())
    assert len(kept) == 1
    there = git(kept[0] / "repo", "for-each-ref", "--format=%(refname)", "refs/exps").split()
    assert any(ref.endswith("/no-keys") for ref in there)
    by_lr = {git(runs.origin, "show", f"{r}:params.yaml").strip() for r in refs}
    assert by_lr == {"lr: 1", "lr: 2"}


def test_objects_are_on_each_remote(runs: Runs, s3_endpoint: str, azure_connection: str) -> None:
    s3 = RemoteConfig(
        "s3",
        runs.s3_url,
        (("endpointurl", s3_endpoint), ("access_key_id", "x"), ("secret_access_key", "y")),
    )
    azure = RemoteConfig("azure", runs.azure_url, (("connection_string", azure_connection),))
    # one output each ('1' and '2'), and nothing of the other run's
    assert open_remote(s3).objects.all_objects() == {_md5(b"1\n")}
    assert open_remote(azure).objects.all_objects() == {_md5(b"2\n")}


def _md5(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


def _everything(srv: Server) -> str:
    """Every listing the API gives a user or the UI, as one JSON text."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    with _api(srv) as client:
        flow_runs = client.read_flow_runs()
        parts: list[Any] = [*flow_runs, *client.read_task_runs(), *client.read_artifacts()]
        parts += client.read_logs()
        parts += client.read_variables()
        parts += client.read_deployments()
        parts += client.read_work_pools()
        # NOTE: the Secret block is where the keys belong; its listing as the UI
        # reads it (include_secrets=False) must show them masked.
        parts += client.read_block_documents(include_secrets=False)
        for run in flow_runs:
            parts += client.read_flow_run_states(run.id)
    assert len(parts) > 20, "the API holds almost nothing: the search would prove nothing"
    return "\n".join(f"{type(p).__name__}: {p.model_dump_json()}" for p in parts)


def test_no_secret_in_the_api_or_the_worker_output(runs: Runs, azure_connection: str) -> None:
    seen = _everything(runs.server)
    azure_key = servers.AZURITE_KEY
    # the search sees our runs, their parameters and the Secret block
    assert "from-env" in seen and "dvc-config-local" in seen and "BlockDocument" in seen
    for secret in (S3_SECRET, azure_key, azure_connection):
        leaks = [line[:60] for line in seen.splitlines() if secret in line]
        assert not leaks
        assert secret not in runs.worker_log.read_text()
