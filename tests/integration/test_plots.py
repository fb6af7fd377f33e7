"""Plots end to end on the get-started example: two experiments, ``plots diff``, artifacts.

The experiments change ``evaluate.threshold`` only, so the second one is a
one-stage re-run; the ROC curve is the same for both (the threshold does not
move it) but each experiment keeps its own copy in its commit, which is what
``plots diff`` reads.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from helpers import run_dvc

from prefect_dvc.tasks.artifacts import artifact_key


@pytest.fixture
def two_experiments(example_repo: Path, cli) -> Path:
    for name, lr, extra in (("lr-low", "0.01", []), ("lr-high", "0.2", ["--plots"])):
        result = cli(
            example_repo, "exp", "run", "-n", name, "-S", f"train.lr={lr}", "-j", "2", *extra
        )
        assert result.code == 0, result.err
    return example_repo


def test_two_experiments_diff_and_artifacts(two_experiments: Path, cli, tmp_path: Path) -> None:
    """``plots diff`` compares experiments by name; each run published its plots artifact."""
    root = two_experiments
    out = tmp_path / "page"

    page = cli(root, "plots", "diff", "lr-low", "lr-high", "-o", str(out))
    shown = cli(root, "plots", "diff", "lr-low", "lr-high", "--json")

    assert page.code == 0, page.err
    assert page.out.strip() == (out / "index.html").as_uri()
    html = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script src=" not in html
    assert shown.code == 0, shown.err
    (roc,) = json.loads(shown.out)["data"]["eval/plots/roc.csv"]
    assert roc["revisions"] == ["lr-low", "lr-high"]
    rows = roc["content"]["data"]["values"]
    assert {r["rev"] for r in rows} == {"lr-low", "lr-high"}
    assert {"fpr", "tpr", "threshold"} <= set(rows[0])
    assert roc["content"]["encoding"]["color"]["scale"]["domain"] == ["lr-low", "lr-high"]
    assert roc["content"]["title"]["text"] == "ROC of the best model"
    _assert_plots_artifact("lr-high")
    assert not _plots_artifacts("lr-low"), "plots are rendered only when asked (--plots)"


def test_plots_show_errors_are_one_line(example_repo: Path, cli) -> None:
    missing = cli(example_repo, "plots", "show")
    unknown = cli(example_repo, "plots", "show", "nope.csv")

    assert missing.code == 1
    assert missing.err.startswith("ERROR: ") and "eval/plots/roc.csv not found" in missing.err
    assert len(missing.err.strip().splitlines()) == 1
    assert unknown.code == 1 and "'nope.csv' is not a plot" in unknown.err


def _plots_artifacts(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    key = artifact_key("plots", name)
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def _assert_plots_artifact(name: str) -> None:
    """The markdown artifact exists, belongs to a flow run and embeds a chart naming ``name``."""
    found = _plots_artifacts(name)
    assert found, f"no artifact {artifact_key('plots', name)}"
    artifact = found[0]
    assert artifact.type == "markdown" and artifact.flow_run_id is not None
    images = re.findall(
        r"!\[([^\]]*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", artifact.data
    )
    assert [alt for alt, _ in images] == ["ROC of the best model"]
    svg = base64.b64decode(images[0][1]).decode()
    assert svg.startswith("<svg") and name in svg


@pytest.mark.dvc_interop
def test_rows_match_dvc_plots_diff(two_experiments: Path, cli) -> None:
    ours = cli(two_experiments, "plots", "diff", "lr-low", "lr-high", "--json")
    theirs = run_dvc(two_experiments, "plots", "diff", "lr-low", "lr-high", "--json")

    assert theirs.returncode == 0, theirs.stderr
    assert ours.code == 0, ours.err
    mine = json.loads(ours.out)["data"]["eval/plots/roc.csv"][0]
    dvc = json.loads(theirs.stdout)["data"]["eval/plots/roc.csv"][0]
    key = lambda r: (r["rev"], r["fpr"], r["tpr"])  # noqa: E731
    assert sorted(mine["content"]["data"]["values"], key=key) == sorted(
        dvc["content"]["data"]["values"], key=key
    )
    assert set(mine["revisions"]) == set(dvc["revisions"])
