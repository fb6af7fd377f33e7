"""Flow parameters reach the API as Prefect would send them, without importing FastAPI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import Flow

from prefect_dvc.flows.experiment import exp_run
from prefect_dvc.flows.repro import repro

PLAIN = {
    "repo": "/work/project",
    "set_params": ["train.lr=0.1", "params.yaml:seed=3"],
    "name": None,
    "targets": ("train@svm", "evaluate"),  # a tuple becomes a list, as jsonable_encoder does
    "jobs": 3,
    "force": True,
    "ratio": 0.25,
    "nested": {"a": [1, {"b": None}]},
}
NOT_PLAIN = {
    **PLAIN,
    "repo": Path("/work/project"),
    "odd": {1: "int key"},
}


@pytest.mark.parametrize("flow", [exp_run, repro], ids=["exp_run", "repro"])
@pytest.mark.parametrize("parameters", [PLAIN, NOT_PLAIN], ids=["plain", "not-plain"])
def test_serialized_as_prefect_serializes(flow: Flow, parameters: dict[str, object]) -> None:
    ours = flow.serialize_parameters(parameters)
    assert ours == Flow.serialize_parameters(flow, parameters)
    assert ours["targets"] == ["train@svm", "evaluate"]


def test_plain_parameters_do_not_import_fastapi() -> None:
    script = (
        "import json, sys\n"
        "from prefect_dvc.flows.experiment import exp_run\n"
        f"out = exp_run.serialize_parameters({PLAIN!r})\n"
        "print(json.dumps(out), 'fastapi' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    sent, fastapi_loaded = proc.stdout.strip().rsplit(" ", 1)
    assert json.loads(sent) == {**PLAIN, "targets": ["train@svm", "evaluate"]}
    assert fastapi_loaded == "False"
