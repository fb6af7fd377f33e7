"""``deploy/prefect.yaml``: its defaults run on any project (no params overrides)."""

from __future__ import annotations

from pathlib import Path

import yaml

from prefect_dvc.flows.experiment import exp_run

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "prefect.yaml"


def test_template_deployments_override_no_params_and_name_real_parameters() -> None:
    deployments = yaml.safe_load(TEMPLATE.read_text())["deployments"]
    assert deployments
    known = set(exp_run.parameters.properties)
    for deployment in deployments:
        params = deployment.get("parameters") or {}
        assert set(params) <= known, deployment["name"]
        # an override of a key the project lacks fails every run ("train.epochs" did)
        assert params.get("set_params", []) == [], deployment["name"]
        assert deployment["entrypoint"] == "prefect_dvc.flows.experiment.exp_run"
