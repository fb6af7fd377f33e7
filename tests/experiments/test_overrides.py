"""-S overrides: parsing, Hydra sweeps, round-trip edits that keep comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_dvc.errors import ConfigError, ParamsError
from prefect_dvc.experiments.overrides import (
    Override,
    apply_overrides,
    expand_sweeps,
    parse_override,
)

PARAMS = """\
# training knobs
train:
  lr: 0.1   # learning rate
  epochs: 3
  layers: [8, 4]
seed: 7
"""


def test_parse_forms() -> None:
    assert parse_override("train.lr=1e-3") == Override("params.yaml", "train.lr", 0.001)
    assert parse_override("other.yaml:opt.name=adam") == Override("other.yaml", "opt.name", "adam")
    assert parse_override("+new.key=yes") == Override("params.yaml", "new.key", "yes", add=True)
    assert parse_override("~seed") == Override("params.yaml", "seed", delete=True)
    with pytest.raises(ConfigError, match="cannot parse -S 'train.lr'"):
        parse_override("train.lr")


def test_sweeps_expand_choice_and_range_last_fastest() -> None:
    combos = expand_sweeps(["train.lr=0.1,0.2", "train.epochs=range(5,20,5)", "seed=1"])
    assert combos == [
        ["train.lr=0.1", "train.epochs=5", "seed=1"],
        ["train.lr=0.1", "train.epochs=10", "seed=1"],
        ["train.lr=0.1", "train.epochs=15", "seed=1"],
        ["train.lr=0.2", "train.epochs=5", "seed=1"],
        ["train.lr=0.2", "train.epochs=10", "seed=1"],
        ["train.lr=0.2", "train.epochs=15", "seed=1"],
    ]
    assert expand_sweeps(["m=choice(a,b)"]) == [["m=a"], ["m=b"]]
    assert expand_sweeps(["train.layers=[1,2]"]) == [["train.layers=[1,2]"]]


def test_edit_keeps_comments_order_and_formatting(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    changed = apply_overrides(
        tmp_path, [parse_override("train.lr=0.3"), parse_override("+train.momentum=0.9")]
    )
    assert changed == ["params.yaml"]
    assert (tmp_path / "params.yaml").read_text() == PARAMS.replace(
        "lr: 0.1   # learning rate", "lr: 0.3   # learning rate"
    ).replace("  layers: [8, 4]\n", "  layers: [8, 4]\n  momentum: 0.9\n")


def test_unknown_key_is_an_error_and_no_file_changes(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ParamsError) as err:
        apply_overrides(
            tmp_path, [parse_override("other.json:a=2"), parse_override("train.lrr=0.3")]
        )
    assert str(err.value) == (
        "params.yaml: cannot override 'train.lrr': it is not in the file. "
        "To add it, write -S '+train.lrr=...'."
    )
    assert (tmp_path / "params.yaml").read_text() == PARAMS
    assert (tmp_path / "other.json").read_text() == '{"a": 1}'


def test_json_files_keep_key_order(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"b": 1, "a": {"x": 2}}')
    apply_overrides(tmp_path, [parse_override("p.json:a.x=5")])
    assert (
        tmp_path / "p.json"
    ).read_text() == '{\n    "b": 1,\n    "a": {\n        "x": 5\n    }\n}\n'
