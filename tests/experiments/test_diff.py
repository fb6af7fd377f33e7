"""exp diff / params diff / metrics diff / metrics show: exact JSON, tables, revisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git
from test_collect import commit_exp, make_base, params

from prefect_dvc.errors import ExperimentNotFoundError
from prefect_dvc.experiments.collect import ShowFiles
from prefect_dvc.experiments.diff import (
    diff_table,
    exp_diff,
    metrics_diff,
    metrics_show,
    metrics_show_table,
    params_diff,
)

FILES = ShowFiles(params=("params.yaml", "other.yaml"), metrics=("metrics.json",))
D1 = "2025-01-02T10:00:00+0000"


@pytest.fixture
def repo(git_repo: Path) -> tuple[Path, str]:
    base = make_base(git_repo)
    commit_exp(
        git_repo,
        base,
        "e1",
        {
            "params.yaml": params(0.2) + "tags: [a, b]\n",
            "metrics.json": '{"acc": 0.6000001, "loss": 0.9, "name": "x", "big": 123456.7}',
        },
        date=D1,
    )
    return git_repo, base


def test_exp_diff_exact(repo: tuple[Path, str]) -> None:
    root, _ = repo
    assert exp_diff(root, "HEAD", "e1", files=FILES) == {
        "metrics": {
            "metrics.json": {
                "acc": {"old": 0.5, "new": 0.6000001, "diff": 0.6000001 - 0.5},
                "big": {"old": None, "new": 123456.7},
                "name": {"old": None, "new": "x"},
            }
        },
        "params": {
            "params.yaml": {
                "tags": {"old": None, "new": "['a', 'b']"},
                "train.lr": {"old": 0.1, "new": 0.2, "diff": 0.2 - 0.1},
            }
        },
    }


def test_all_adds_unchanged_with_zero_diff(repo: tuple[Path, str]) -> None:
    root, _ = repo
    diff = params_diff(root, "main", "e1", files=FILES, all_keys=True)
    assert diff["params.yaml"]["seed"] == {"old": 1, "new": 1, "diff": 0}
    assert diff["other.yaml"] == {"opt.lr": {"old": 0.5, "new": 0.5, "diff": 0.0}}
    assert "seed" not in params_diff(root, "main", "e1", files=FILES)["params.yaml"]


def test_workspace_is_the_default_new_side(repo: tuple[Path, str]) -> None:
    root, _ = repo
    assert metrics_diff(root, files=FILES) == {}
    (root / "metrics.json").write_text('{"acc": 0.25, "loss": 0.9}')
    assert metrics_diff(root, files=FILES) == {
        "metrics.json": {"acc": {"old": 0.5, "new": 0.25, "diff": -0.25}}
    }


def test_tables_round_as_dvc_does(repo: tuple[Path, str]) -> None:
    root, _ = repo
    diff = exp_diff(root, "main", "e1", files=FILES)
    assert diff_table(
        diff["metrics"],
        kind="Metric",
        labels=("main", "e1"),
        rounding="significant",
        unsupported="diff not supported",
    ) == (
        "Path          Metric    main    e1          Change\n"
        "metrics.json  acc       0.5     0.6         0.1\n"
        "metrics.json  big       -       1.2346e+05  diff not supported\n"
        "metrics.json  name      -       x           diff not supported\n"
    )
    decimal = diff_table(
        metrics_diff(root, "main", "e1", files=FILES),
        kind="Metric",
        labels=("main", "e1"),
        rounding="decimal",
        markdown=True,
    )
    assert decimal.splitlines()[2] == "| metrics.json | acc      | 0.5    | 0.6      | 0.1      |"
    assert "123456.7" in decimal
    params_text = diff_table(
        params_diff(root, "main", "e1", files=FILES),
        kind="Param",
        labels=("main", "e1"),
        rounding="none",
        change=False,
    )
    assert params_text.splitlines() == [
        "Path         Param     main    e1",
        "params.yaml  tags      -       ['a', 'b']",
        "params.yaml  train.lr  0.1     0.2",
    ]


def test_metrics_show(repo: tuple[Path, str]) -> None:
    root, _ = repo
    shown = metrics_show(root, files=FILES)
    assert shown == {"": {"data": {"metrics.json": {"data": {"acc": 0.5, "loss": 0.9}}}}}
    assert metrics_show_table(shown) == "Path          acc    loss\nmetrics.json  0.5    0.9\n"
    by_rev = metrics_show(root, files=FILES, revs=["e1"])
    assert list(by_rev) == ["workspace", "e1"]
    assert by_rev["e1"]["data"]["metrics.json"]["data"]["acc"] == 0.6000001


def test_unknown_and_ambiguous_revisions(repo: tuple[Path, str]) -> None:
    root, base = repo
    with pytest.raises(ExperimentNotFoundError, match="'nope' not found.*experiment name"):
        exp_diff(root, "nope", files=FILES)
    # the same name under a second baseline: HEAD's wins, elsewhere it is ambiguous
    git(root, "commit", "-q", "--allow-empty", "-m", "second")
    head = git(root, "rev-parse", "HEAD")
    commit_exp(root, head, "e1", {"metrics.json": '{"acc": 0.1}'}, date=D1)
    assert metrics_diff(root, "main", "e1", files=FILES)["metrics.json"]["acc"]["new"] == 0.1
    git(root, "checkout", "-q", "--detach", base)
    git(root, "branch", "-q", "-D", "main")
    git(root, "checkout", "-q", "-b", "other")
    git(root, "commit", "-q", "--allow-empty", "-m", "third")
    with pytest.raises(ExperimentNotFoundError, match="'e1' is ambiguous"):
        exp_diff(root, "HEAD", "e1", files=FILES)
