"""The get-started example: it runs, tells its story, is deterministic, and matches its golden lock.

The scripts are run directly with ``subprocess`` (no prefect-dvc, no DVC), in stage order,
with the arguments the ``dvc.yaml`` cmds resolve to. Those arguments are checked against
the cmds real DVC 3.67.1 resolved into ``tests/data/get-started.dvc.lock``, and every
dep/out hash in that lock is checked against what the scripts produce here, so the golden
file cannot silently drift from the example.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from helpers import dvc_bin
from ruamel.yaml import YAML

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "get-started"
GOLDEN_LOCK = Path(__file__).resolve().parent / "data" / "get-started.dvc.lock"
SPLITS = ("train", "test")
MODELS = ("logreg", "svm")
FEATURE_SETS = ("linear", "quadratic")
VARIANTS = tuple(f"{m}-{f}" for m in MODELS for f in FEATURE_SETS)
OUTPUTS = (
    "data/prepared/train.csv",
    "data/prepared/test.csv",
    "data/features/train.csv",
    "data/features/test.csv",
    *(f"models/{v}.json" for v in VARIANTS),
    "eval/metrics.json",
    "eval/plots/roc.csv",
)


def load_yaml(path: Path) -> Any:
    """Parse YAML as DVC does (ruamel safe loader, YAML 1.2)."""
    return YAML(typ="safe", pure=True).load(path.read_text())


def stage_commands(params: Mapping[str, Any], evaluate: Mapping[str, Any]) -> dict[str, Any]:
    """Stage name -> (wdir, argv after the interpreter), as the dvc.yaml cmds resolve."""
    prep, feat, train = params["prepare"], params["featurize"], params["train"]
    cmds: dict[str, Any] = {
        "prepare": (".", ["src/prepare.py", "--n-samples", str(prep["n_samples"]),
                          "--test-ratio", str(prep["test_ratio"]), "--seed", str(prep["seed"]),
                          "--out-dir", "data/prepared"]),
    }  # fmt: skip
    for split in SPLITS:
        cmds[f"featurize@{split}"] = (".", [
            "src/featurize.py", "--split", split, "--in-dir", "data/prepared",
            "--clip", str(feat["clip"]), "--out", f"data/features/{split}.csv",
        ])  # fmt: skip
    for model in MODELS:
        for features in FEATURE_SETS:
            cmds[f"train@{model}-{features}"] = (".", [
                "src/train.py", "--model", model, "--features", features,
                "--lr", str(train["lr"]), "--epochs", str(train["epochs"]),
                "--l2", str(train["l2"]), "--seed", str(train["seed"]),
                "--train", "data/features/train.csv", "--out", f"models/{model}-{features}.json",
            ])  # fmt: skip
    cmds["evaluate"] = ("eval", [
        "../src/evaluate.py", "--models-dir", "../models", "--test", "../data/features/test.csv",
        "--threshold", str(evaluate["evaluate"]["threshold"]),
        "--metrics", "metrics.json", "--roc", "plots/roc.csv",
    ])  # fmt: skip
    return cmds


def run_example(dest: Path, train_overrides: Mapping[str, Any] | None = None) -> Path:
    """Copy the example to ``dest`` and run every stage in order; returns ``dest``."""
    shutil.copytree(EXAMPLE, dest)
    params = load_yaml(dest / "params.yaml")
    params["train"].update(train_overrides or {})
    cmds = stage_commands(params, load_yaml(dest / "config" / "evaluate.yaml"))
    for name, (wdir, argv) in cmds.items():
        proc = subprocess.run(
            [sys.executable, *argv], cwd=dest / wdir, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"stage {name} failed:\n{proc.stderr}"
    return dest


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def md5_dir(path: Path) -> str:
    """DVC 3's directory hash: md5 of the JSON manifest of (relpath, md5), plus ``.dir``."""
    entries = [
        {"md5": md5_file(f), "relpath": f.relative_to(path).as_posix()}
        for f in path.rglob("*")
        if f.is_file()
    ]
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def dotted(data: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the example with its default params, shared by the read-only tests."""
    return run_example(tmp_path_factory.mktemp("baseline") / "get-started")


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return load_yaml(GOLDEN_LOCK)["stages"]


def read_metrics(root: Path) -> dict[str, Any]:
    return json.loads((root / "eval" / "metrics.json").read_text())


def test_every_output_is_written(baseline: Path) -> None:
    missing = [rel for rel in OUTPUTS if not (baseline / rel).is_file()]
    assert missing == []


def test_metrics_tell_the_story(baseline: Path) -> None:
    metrics = read_metrics(baseline)
    assert sorted(metrics) == ["best", "models"]
    assert sorted(metrics["models"]) == sorted(VARIANTS)
    for name, m in metrics["models"].items():
        assert sorted(m) == ["accuracy", "auc", "loss"], name
        assert 0.5 < m["accuracy"] <= 1 and 0.5 < m["auc"] <= 1 and 0 < m["loss"] < 1, name
    best = metrics["best"]
    assert best == {"model": best["model"], **metrics["models"][best["model"]]}
    assert best["accuracy"] == max(m["accuracy"] for m in metrics["models"].values())
    # The data has a curved class boundary: quadratic features must beat linear ones.
    for model in MODELS:
        assert (
            metrics["models"][f"{model}-quadratic"]["auc"]
            > metrics["models"][f"{model}-linear"]["auc"]
        )


def test_roc_plot_is_a_curve_from_origin_to_corner(baseline: Path) -> None:
    lines = (baseline / "eval" / "plots" / "roc.csv").read_text().splitlines()
    assert lines[0] == "threshold,fpr,tpr"
    points = [tuple(float(v) for v in line.split(",")[1:]) for line in lines[1:]]
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
    assert points == sorted(points), "fpr and tpr must not decrease as the threshold falls"


def test_two_runs_are_byte_identical(baseline: Path, tmp_path: Path) -> None:
    again = run_example(tmp_path / "again")
    differ = [rel for rel in OUTPUTS if (baseline / rel).read_bytes() != (again / rel).read_bytes()]
    assert differ == []


def test_learning_rate_changes_the_models_and_metrics(baseline: Path, tmp_path: Path) -> None:
    other = run_example(tmp_path / "lr", train_overrides={"lr": 0.2})
    for variant in VARIANTS:
        rel = f"models/{variant}.json"
        assert (other / rel).read_bytes() != (baseline / rel).read_bytes(), rel
    assert read_metrics(other) != read_metrics(baseline)
    # Data preparation does not depend on train.*, so it must not change.
    assert (other / "data/features/test.csv").read_bytes() == (
        baseline / "data/features/test.csv"
    ).read_bytes()


def test_golden_lock_has_every_generated_stage(golden: dict[str, Any]) -> None:
    expected = ["prepare", *(f"featurize@{s}" for s in SPLITS)]
    expected += [*(f"train@{v}" for v in VARIANTS), "evaluate"]
    assert list(golden) == expected


def test_commands_match_the_cmds_dvc_resolved(golden: dict[str, Any]) -> None:
    cmds = stage_commands(
        load_yaml(EXAMPLE / "params.yaml"), load_yaml(EXAMPLE / "config" / "evaluate.yaml")
    )
    for name, (_, argv) in cmds.items():
        assert shlex.split(golden[name]["cmd"]) == ["python3", *argv], name


def test_golden_lock_hashes_match_this_example(baseline: Path, golden: dict[str, Any]) -> None:
    """Every dep/out md5 and param value in the golden lock is what the example gives today."""
    wdirs = {"evaluate": baseline / "eval"}
    for name, entry in golden.items():
        wdir = wdirs.get(name, baseline)
        for item in [*entry.get("deps", []), *entry["outs"]]:
            path = (wdir / item["path"]).resolve()
            actual = md5_dir(path) if path.is_dir() else md5_file(path)
            assert actual == item["md5"], f"{name}: {item['path']}"
        for params_file, values in entry.get("params", {}).items():
            data = load_yaml(wdir / params_file)
            for key, value in values.items():
                assert dotted(data, key) == value, f"{name}: {params_file}:{key}"


def test_dvc_yaml_uses_the_features_it_demonstrates() -> None:
    dvc_yaml = load_yaml(EXAMPLE / "dvc.yaml")
    stages = dvc_yaml["stages"]
    assert dvc_yaml["vars"][0] == "config/evaluate.yaml"
    assert "foreach" in stages["featurize"] and "matrix" in stages["train"]
    evaluate = stages["evaluate"]
    assert evaluate["wdir"] == "eval"
    assert evaluate["params"] == [{"../config/evaluate.yaml": ["evaluate.threshold"]}]
    assert evaluate["metrics"] == [{"metrics.json": {"cache": False}}]
    (plot,) = evaluate["plots"]
    assert plot["plots/roc.csv"]["cache"] is False
    assert (plot["plots/roc.csv"]["x"], plot["plots/roc.csv"]["y"]) == ("fpr", "tpr")


@pytest.mark.dvc_interop
@pytest.mark.slow
def test_real_dvc_writes_the_golden_lock(tmp_path: Path) -> None:
    dvc = dvc_bin()
    root = tmp_path / "get-started"
    shutil.copytree(EXAMPLE, root)
    for argv in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "repro", "-q"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)
    assert (root / "dvc.lock").read_text() == GOLDEN_LOCK.read_text()
    status = subprocess.run([dvc, "status"], cwd=root, check=True, capture_output=True, text=True)
    assert "up to date" in status.stdout
