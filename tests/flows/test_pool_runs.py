"""The pure parts of ``flows/pool_runs.py``: deployment names and heartbeat job variables.

The API calls (pools, deployments, flow runs, cancelling) run against a real
server and real workers in ``tests/integration/test_pool_experiments.py``.
"""

from __future__ import annotations

import pytest

from prefect_dvc.flows.pool_runs import HEARTBEAT_ENV, deployment_name, heartbeat_job_variables


@pytest.mark.parametrize(
    ("url", "stem"),
    [
        ("https://github.com/acme/model.git", "model"),
        ("git@github.com:acme/model.git", "model"),
        ("file:///srv/git/My Project.git/", "My-Project"),
        ("ssh://host/", "host"),
        ("file:///", "repo"),
    ],
)
def test_deployment_names_are_readable_and_apart(url: str, stem: str) -> None:
    name = deployment_name(url, "gpu")
    assert name.startswith(f"pool-{stem}-") and len(name.rsplit("-", 1)[-1]) == 8
    assert deployment_name(url, "cpu") != name  # one deployment per URL and pool
    assert "/" not in name and " " not in name


def test_heartbeats_are_added_to_a_deployments_env_only_when_missing() -> None:
    assert heartbeat_job_variables({"env": {HEARTBEAT_ENV: "30"}}) is None
    assert heartbeat_job_variables({}) == {"env": {HEARTBEAT_ENV: "60"}}
    added = heartbeat_job_variables({"env": {"AWS_SECRET_ACCESS_KEY": "s3cr3t"}, "image": "x"})
    # workers merge a run's env into the deployment's: nothing of it is copied into runs
    assert added == {"env": {HEARTBEAT_ENV: "60"}}
