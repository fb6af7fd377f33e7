"""Params files in every format, and the lock ``params:`` section, pinned against DVC."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen

from prefect_dvc.errors import ParamsError, YamlSyntaxError
from prefect_dvc.translators.params import get_key, has_key, params_lock_values, read_params_file
from prefect_dvc.translators.pipeline import ParamsDep, StageSpec
from prefect_dvc.yamlio import dump_yaml


def test_yaml_is_read_as_yaml_12(tmp_path: Path) -> None:
    gen(tmp_path, {"p.yaml": "a: yes\nb: on\nc: 1e3\nd: 0o10\ne: 010\nf: ~\n"})
    data = read_params_file(tmp_path / "p.yaml", "p.yaml")
    assert data == {"a": "yes", "b": "on", "c": 1000.0, "d": 8, "e": 10, "f": None}
    assert isinstance(data["c"], float)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.json", '{"a": {"b": [1, 2]}, "c": true}'),
        ("p.toml", "c = true\n[a]\nb = [1, 2]\n"),
        ("p.params", "a: {b: [1, 2]}\nc: true\n"),  # unknown suffix: YAML
        ("p.YML", "a: {b: [1, 2]}\nc: true\n"),
    ],
)
def test_formats(tmp_path: Path, name: str, text: str) -> None:
    gen(tmp_path, {name: text})
    assert read_params_file(tmp_path / name, name) == {"a": {"b": [1, 2]}, "c": True}


def test_python_params_read_literals_only(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "p.py": (
                "import os\n"
                "LR = 0.1\n"
                "EPOCHS: int = 3\n"
                "LAYERS = [8, 4]\n"
                "PAIR = (1, 'a')\n"
                "OPT = {'name': 'adam'}\n"
                "HOME = os.environ['HOME']\n"
                "A = B = 1\n"
                f"open({str(tmp_path / 'should-not-exist')!r}, 'w')\n"
                "class Train:\n"
                "    seed = 7\n"
                "    def __init__(self):\n"
                "        self.batch = 32\n"
                "        other = 1\n"
            )
        },
    )
    assert read_params_file(tmp_path / "p.py", "p.py") == {
        "LR": 0.1,
        "EPOCHS": 3,
        "LAYERS": [8, 4],
        "PAIR": [1, "a"],  # as dvc.lock stores it, so status compares equal
        "OPT": {"name": "adam"},
        "Train": {"seed": 7, "batch": 32},
    }
    assert not (tmp_path / "should-not-exist").exists()  # NOTE: the file is read, never run


def test_empty_files_are_empty(tmp_path: Path) -> None:
    gen(tmp_path, {"e.yaml": "", "e.json": "{}"})
    assert read_params_file(tmp_path / "e.yaml", "e.yaml") == {}
    assert read_params_file(tmp_path / "e.json", "e.json") == {}


@pytest.mark.parametrize(
    ("name", "text", "error", "needle"),
    [
        (
            "missing.yaml",
            None,
            ParamsError,
            "missing.yaml: params file 'missing.yaml' does not exist. Create missing.yaml",
        ),
        ("bad.json", "{", ParamsError, "bad.json:1: invalid JSON"),
        ("bad.toml", "a = ", ParamsError, "bad.toml: invalid TOML"),
        ("bad.py", "x = (", ParamsError, "bad.py:1: invalid Python"),
        ("bad.yaml", "a: [", YamlSyntaxError, "bad.yaml:1: invalid YAML"),
        ("list.yaml", "- a\n", ParamsError, "list.yaml: expected a mapping of params, got list"),
    ],
)
def test_read_errors(
    tmp_path: Path, name: str, text: str | None, error: type[Exception], needle: str
) -> None:
    if text is not None:
        gen(tmp_path, {name: text})
    with pytest.raises(error) as info:
        read_params_file(tmp_path / name, name)
    assert needle in str(info.value)


def test_get_key() -> None:
    data = {"a": {"b": [10, {"c": 3}]}, "x": None}
    assert get_key(data, "a.b.0") == 10
    assert get_key(data, "a.b.1.c") == 3
    assert get_key(data, "x") is None
    assert has_key(data, "x")
    assert not has_key(data, "a.b.2")
    assert get_key(data, "a.nope", "dflt") == "dflt"
    with pytest.raises(KeyError):
        get_key(data, "a.b.c")


# NOTE: the expected text below is the ``params:`` DVC 3.67.1 wrote to dvc.lock for a
# stage with wdir sub and params [depth, ../conf/extra.yaml: [opt.wd, b, a, o, d, opt],
# ../params.yaml: (whole)] over these files.
LOCK_TEXT = """\
params.yaml:
  depth: 3
../conf/extra.yaml:
  a: 1000.0
  b: yes
  d: 10
  o: 8
  opt:
    momentum: 0.9
    wd: 0.01
  opt.wd: 0.01
../params.yaml:
  alpha: 2
  models:
  - small
  - large
  seed: 7
  train:
    lr: 0.1
    epochs: 3
  zeta: 1
"""


def test_lock_values_match_dvc(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "params.yaml": "seed: 7\ntrain:\n  lr: 0.1\n  epochs: 3\nzeta: 1\nalpha: 2\n"
            "models: [small, large]\n",
            "conf/extra.yaml": (
                "opt:\n  momentum: 0.9\n  wd: 0.01\nb: yes\na: 1e3\no: 0o10\nd: 010\n"
            ),
            "sub/params.yaml": "depth: 3\n",
        },
    )
    stage = StageSpec(
        name="train",
        cmd="x",
        wdir="sub",
        params=(
            ParamsDep("params.yaml", "sub/params.yaml", ("depth",)),
            ParamsDep(
                "../conf/extra.yaml", "conf/extra.yaml", ("opt.wd", "b", "a", "o", "d", "opt")
            ),
            ParamsDep("../params.yaml", "params.yaml", None),
        ),
    )
    assert dump_yaml(params_lock_values(tmp_path, stage)) == LOCK_TEXT


def test_lock_values_errors_name_file_stage_and_fix(tmp_path: Path) -> None:
    gen(tmp_path, {"params.yaml": "lr: 1\n"})
    stage = StageSpec(
        name="train",
        cmd="x",
        params=(ParamsDep("params.yaml", "params.yaml", ("lr", "nope", "a.b")),),
    )
    with pytest.raises(ParamsError) as info:
        params_lock_values(tmp_path, stage)
    assert str(info.value) == (
        "params.yaml: stage 'train': parameters 'nope, a.b' are missing. "
        "Add them to params.yaml or remove them from the stage's params."
    )
    gone = StageSpec(name="t", cmd="x", params=(ParamsDep("o.yaml", "o.yaml", None),))
    with pytest.raises(ParamsError) as info:
        params_lock_values(tmp_path, gone)
    assert str(info.value).startswith("o.yaml: stage 't': params file 'o.yaml' does not exist.")


def test_py_params_tuples_read_as_locked_lists_and_sets_are_refused(tmp_path: Path) -> None:
    gen(tmp_path, {"p.py": "T = (1, (2, 3))\nD = {'a': (4,)}\nS = {5}\nB = b'x'\n"})
    stage = StageSpec(name="s", cmd="x", params=(ParamsDep("p.py", "p.py", ("T", "D")),))
    values = params_lock_values(tmp_path, stage)
    assert values == {"p.py": {"D": {"a": [4]}, "T": [1, [2, 3]]}}
    assert dump_yaml(values) == "p.py:\n  D:\n    a:\n    - 4\n  T:\n  - 1\n  - - 2\n    - 3\n"
    for key in ("S", "B"):
        bad = StageSpec(name="s", cmd="x", params=(ParamsDep("p.py", "p.py", (key,)),))
        with pytest.raises(ParamsError) as info:
            params_lock_values(tmp_path, bad)
        assert str(info.value).startswith(
            f"p.py: stage 's': parameter '{key}' holds a value dvc.lock cannot store"
        )
