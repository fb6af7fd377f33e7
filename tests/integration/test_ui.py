"""The Prefect UI shows an experiment's metrics table (headless Chromium, a real server).

The V2 UI's flow-run page (``/v2/runs/flow-run/<id>?tab=Artifacts``) lists
the run's artifacts as cards (key, type, description) but not their content;
the table's rows are on the artifact's own page (``/v2/artifacts/artifact/<id>``).
Both are checked. ``make test`` installs Debian's ``chromium`` and exports its path.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import chromium_bin
from test_deploy import CLI, api, make_project, running_server

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (15 s of virtual time)."""
    proc = subprocess.run(
        [
            chromium_bin(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_ui_shows_experiment_metrics(tmp_path: Path) -> None:
    chromium_bin()  # fail (or skip outside make) before starting a server
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName

    with running_server(tmp_path / "srv") as server:
        make_project(tmp_path / "proj", "")
        proc = subprocess.run(
            [CLI, "exp", "run", "-n", "ui-exp", "-S", "train.lr=0.3"],
            cwd=tmp_path / "proj",
            env=server.env,  # no PREFECT_API_URL: found under PREFECT_HOME
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        with api(server) as client:
            (run,) = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["ui-exp"]))
            )
            (table,) = [
                a
                for a in client.read_artifacts(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
                )
                if a.key == "exp-ui-exp"
            ]
        rows = json.loads(table.data)
        lr = next(r for r in rows if r["key"] == "train.lr")
        assert lr["experiment"] == "0.3"

        page = dump_dom(f"{server.ui_url}/v2/runs/flow-run/{run.id}?tab=Artifacts", tmp_path / "p1")
        assert "ui-exp" in page and "exp:ui-exp" in page
        assert "exp-ui-exp" in page  # the table artifact's card
        assert "Experiment ui-exp" in page or "Experiment <strong>ui-exp" in page

        page = dump_dom(f"{server.ui_url}/v2/artifacts/artifact/{table.id}", tmp_path / "p2")
        assert "Can't connect to Server API" not in page
        assert "train.lr" in page and "eval/metrics.json" in page
        assert "best.accuracy" in page
