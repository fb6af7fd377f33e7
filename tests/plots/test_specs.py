"""Golden tests on the filled Vega-Lite specs: rows, fields, colours per revision, per template.

Each case builds a real Git repository with a committed plot and a changed
workspace copy, so every spec compares two revisions (``workspace``, ``HEAD``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import gen, git

from prefect_dvc.errors import PlotError, PrefectDvcError
from prefect_dvc.plots import collect_plots, diff_revisions, to_json, to_svg
from prefect_dvc.plots.fill import PALETTE
from prefect_dvc.plots.templates import BUILTIN

ROC_HEAD = "fpr,tpr\n0.0,0.0\n0.5,0.8\n1.0,1.0\n"
ROC_WORK = "fpr,tpr\n0.0,0.0\n0.4,0.9\n1.0,1.0\n"
COLOR = {"field": "rev", "scale": {"domain": ["workspace", "HEAD"], "range": list(PALETTE[:2])}}


def _repo(root: Path, dvcyaml: str, head: dict[str, str], work: dict[str, str]) -> Path:
    gen(root, {"dvc.yaml": dvcyaml, **head})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plots")
    gen(root, work)
    return root


def _find(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in ``node``."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(node, list):
        for v in node:
            found.extend(_find(v, key))
    return found


def _no_placeholders(spec: Any) -> None:
    assert "DVC_METRIC" not in json.dumps(spec)


@pytest.mark.parametrize("template", sorted(BUILTIN))
def test_every_template_fills_rows_and_colours(git_repo: Path, template: str) -> None:
    dvcyaml = f"plots:\n  - roc.csv:\n      x: fpr\n      y: tpr\n      template: {template}\n"
    root = _repo(git_repo, dvcyaml, {"roc.csv": ROC_HEAD}, {"roc.csv": ROC_WORK})
    (plot,) = collect_plots(root, diff_revisions([])).plots
    spec = plot.spec
    _no_placeholders(spec)
    assert plot.revisions == ("workspace", "HEAD")
    rows = spec["data"]["values"]
    assert rows[:3] == [
        {"fpr": "0.0", "tpr": "0.0", "rev": "workspace"},
        {"fpr": "0.4", "tpr": "0.9", "rev": "workspace"},
        {"fpr": "1.0", "tpr": "1.0", "rev": "workspace"},
    ]
    assert [r["rev"] for r in rows[3:]] == ["HEAD"] * 3
    assert spec["title"] == {"text": "roc.csv", "anchor": "middle"}
    assert "fpr" in _find(spec, "field") and "tpr" in _find(spec, "field")
    if not template.startswith("confusion"):
        assert COLOR in _find(spec, "color")
    else:
        assert spec["facet"]["column"]["field"] == "rev"
    # NOTE: Vega-Lite itself (through vl-convert) must accept the spec.
    assert to_svg(spec).startswith("<svg")


def test_linear_golden(git_repo: Path) -> None:
    root = _repo(
        git_repo,
        "plots:\n  - roc.csv:\n      x: fpr\n      y: tpr\n      title: ROC\n",
        {"roc.csv": ROC_HEAD},
        {"roc.csv": ROC_WORK},
    )
    spec = collect_plots(root, diff_revisions([])).plots[0].spec
    assert spec["encoding"] == {
        "x": {"field": "fpr", "type": "quantitative", "title": "fpr"},
        "y": {"field": "tpr", "type": "quantitative", "title": "tpr", "scale": {"zero": False}},
        "color": COLOR,
        "strokeDash": {},
    }
    assert spec["title"]["text"] == "ROC"
    smoothed = spec["layer"][0]
    assert smoothed["params"] == [{"name": "grid", "select": "interval", "bind": "scales"}]
    assert smoothed["transform"][0]["loess"] == "tpr"
    assert smoothed["transform"][0]["groupby"] == ["rev"]
    assert spec["layer"][2]["encoding"]["tooltip"] == [
        {"field": "rev"},
        {"field": "fpr"},
        {"field": "tpr"},
    ]
    assert (spec["width"], spec["height"]) == (300, 300)


def test_several_columns_share_one_chart(git_repo: Path) -> None:
    loss = {"train": [{"loss": 1.0, "acc": 0.5}, {"loss": 0.5, "acc": 0.7}]}
    root = _repo(
        git_repo,
        "plots:\n  - loss.json:\n      y: [loss, acc]\n      template: simple\n",
        {"loss.json": json.dumps(loss)},
        {},
    )
    spec = collect_plots(root, diff_revisions([])).plots[0].spec
    rows = spec["data"]["values"]
    assert rows[0] == {
        "loss": 1.0,
        "acc": 0.5,
        "dvc_inferred_y_value": 1.0,
        "step": 0,
        "rev": "workspace",
        "field": "loss",
    }
    assert [(r["rev"], r["field"], r["dvc_inferred_y_value"]) for r in rows[2:4]] == [
        ("workspace", "acc", 0.5),
        ("workspace", "acc", 0.7),
    ]
    assert spec["encoding"]["y"]["title"] == "y"
    assert spec["encoding"]["x"]["field"] == "step"
    dash = spec["encoding"]["strokeDash"]
    assert dash["field"] == "field"
    assert dash["scale"] == {"domain": ["acc", "loss"], "range": [[1, 0], [8, 8]]}


def test_several_files_by_y_mapping(git_repo: Path) -> None:
    root = _repo(
        git_repo,
        "plots:\n  - both:\n      x: fpr\n      y: {a/roc.csv: tpr, b/roc.csv: tpr}\n",
        {"a/roc.csv": ROC_HEAD, "b/roc.csv": ROC_WORK},
        {},
    )
    plot = collect_plots(root, ["workspace"]).plots[0]
    rows = plot.spec["data"]["values"]
    assert {r["filename"] for r in rows} == {"a/roc.csv", "b/roc.csv"}
    assert all("field" not in r for r in rows)
    assert plot.spec["encoding"]["strokeDash"]["scale"]["domain"] == ["a/roc.csv", "b/roc.csv"]


def test_yaml_tsv_and_images(git_repo: Path) -> None:
    png = bytes.fromhex("89504e470d0a1a0a") + b"fake"
    root = _repo(
        git_repo,
        "plots:\n  - h.yaml\n  - c.tsv:\n      template: confusion\n      x: p\n      y: a\n"
        "  - img.png\n",
        {
            "h.yaml": "- {e: 1, v: 3}\n- {e: 2, v: 4}\n",
            "c.tsv": "a\tp\n0\t0\n1\t0\n",
            "img.png": png,
        },
        {},
    )
    shown = to_json(collect_plots(root, ["workspace"]))
    assert shown["data"]["h.yaml"][0]["content"]["data"]["values"] == [
        {"e": 1, "v": 3, "step": 0, "rev": "workspace"},
        {"e": 2, "v": 4, "step": 1, "rev": "workspace"},
    ]
    assert shown["data"]["c.tsv"][0]["content"]["data"]["values"][1] == {
        "a": "1",
        "p": "0",
        "rev": "workspace",
    }
    (image,) = shown["data"]["img.png"]
    assert image["type"] == "image" and image["revisions"] == ["workspace"]
    assert image["url"].startswith("data:image/png;base64,")


def test_custom_template_from_dvc_plots(git_repo: Path) -> None:
    custom = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": "<DVC_METRIC_DATA>"},
        "title": "<DVC_METRIC_TITLE>",
        "mark": "bar",
        "encoding": {
            "x": {"field": "<DVC_METRIC_X>", "type": "ordinal", "title": "<DVC_METRIC_X_LABEL>"},
            "y": {"field": "<DVC_METRIC_Y>", "type": "quantitative"},
            "color": "<DVC_METRIC_COLOR>",
            "tooltip": [{"field": "<DVC_METRIC_X>"}],
        },
        "transform": [{"calculate": "datum.<DVC_METRIC_Y> * 2", "as": "double"}],
    }
    root = _repo(
        git_repo,
        "plots:\n  - roc.csv:\n      x: fpr\n      y: tpr\n      template: mine\n"
        "      x_label: False positive rate\n",
        {"roc.csv": ROC_HEAD, ".dvc/plots/mine.json": json.dumps(custom)},
        {},
    )
    spec = collect_plots(root, ["workspace"]).plots[0].spec
    assert spec["title"] == "roc.csv"
    assert spec["encoding"]["x"] == {
        "field": "fpr",
        "type": "ordinal",
        "title": "False positive rate",
    }
    assert spec["encoding"]["tooltip"] == [{"field": "fpr"}]
    assert spec["transform"][0]["calculate"] == "datum.tpr * 2"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["workspace"]
    assert len(spec["data"]["values"]) == 3


def test_stage_plot_outs_are_plots(git_repo: Path) -> None:
    root = _repo(
        git_repo,
        "stages:\n  ev:\n    wdir: eval\n    cmd: 'true'\n    plots:\n"
        "      - roc.csv:\n          cache: false\n          x: fpr\n          y: tpr\n",
        {"eval/roc.csv": ROC_HEAD},
        {},
    )
    (plot,) = collect_plots(root, ["workspace"]).plots
    assert plot.id == "eval/roc.csv"
    assert plot.spec["encoding"]["x"]["field"] == "fpr"


@pytest.mark.parametrize(
    ("dvcyaml", "files", "message"),
    [
        ("plots:\n  - missing.csv\n", {}, "missing.csv not found in workspace"),
        (
            "plots:\n  - roc.csv:\n      x: fpr\n      y: recall\n",
            {"roc.csv": ROC_HEAD},
            "column 'recall' is not in roc.csv (columns: fpr, tpr)",
        ),
        (
            "plots:\n  - roc.csv:\n      template: fancy\n",
            {"roc.csv": ROC_HEAD},
            "template 'fancy' not found",
        ),
        (
            "plots:\n  - roc.csv:\n      colour: red\n",
            {"roc.csv": ROC_HEAD},
            "dvc.yaml:3: unknown key 'colour'",
        ),
        (
            "plots:\n  - roc.txt\n",
            {"roc.txt": "x"},
            "unsupported plot data format '.txt'",
        ),
    ],
)
def test_bad_definitions_are_clear_errors(
    git_repo: Path, dvcyaml: str, files: dict[str, str], message: str
) -> None:
    root = _repo(git_repo, dvcyaml, files, {})
    with pytest.raises(PrefectDvcError) as info:
        collect_plots(root, ["workspace"])
    assert message in str(info.value)


def test_unknown_target_is_an_error(git_repo: Path) -> None:
    root = _repo(git_repo, "plots:\n  - roc.csv\n", {"roc.csv": ROC_HEAD}, {})
    with pytest.raises(PlotError, match="'nope.csv' is not a plot defined in dvc.yaml"):
        collect_plots(root, ["workspace"], targets=["nope.csv"])
