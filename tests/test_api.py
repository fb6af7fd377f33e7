"""The read-only Python API: exp_show, params_show, metrics_show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc import api
from prefect_dvc.errors import ExperimentNotFoundError, ParamsError


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    params:\n    - lr\n    - extra.yaml:\n"
            "      - seed\n    metrics:\n    - m.json:\n        cache: false\n",
            "params.yaml": "lr: 0.1\nseed: 3\n",
            "extra.yaml": "seed: 7\nopt: {m: 0.9}\n",
            "m.json": '{"acc": 0.5, "skip": [1]}',
        },
    )
    return git_repo


def test_params_show_merges_files_and_prefixes_clashes(repo: Path) -> None:
    assert api.params_show(repo) == {
        "lr": 0.1,
        "params.yaml:seed": 3,
        "extra.yaml:seed": 7,
        "opt": {"m": 0.9},
    }


def test_metrics_show(repo: Path) -> None:
    assert api.metrics_show(str(repo)) == {"acc": 0.5}


def test_exp_show_json_form(repo: Path) -> None:
    shown = api.exp_show(repo)
    assert [item["rev"] for item in shown] == ["workspace", git(repo, "rev-parse", "HEAD")]
    assert shown[0]["data"]["params"]["extra.yaml"]["data"] == {"seed": 7, "opt": {"m": 0.9}}
    assert shown[1]["name"] == "main" and shown[1]["experiments"] is None
    assert api.exp_show(repo, hide_workspace=True) == shown[1:]
    with pytest.raises(ExperimentNotFoundError, match="unknown revision 'v9'"):
        api.exp_show(repo, revs=["v9"])


def test_unreadable_params_file_is_an_error_and_untouched(repo: Path) -> None:
    (repo / "extra.yaml").write_text("seed: [7\n")
    with pytest.raises(ParamsError, match=r"extra\.yaml: unable to read.*Fix or restore"):
        api.params_show(repo)
    assert (repo / "extra.yaml").read_text() == "seed: [7\n"


def test_api_does_not_import_prefect(repo: Path) -> None:
    code = (
        "import sys; from prefect_dvc import api; api.exp_show(sys.argv[1]); "
        "print('prefect' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(repo)],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
