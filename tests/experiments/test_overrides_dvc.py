"""``-S`` against real DVC 3.67.1: the same params file bytes, the same refusals, the same sweeps.

The expected values are not written down here: one run of DVC's own
``dvc.utils.hydra.apply_overrides`` / ``get_hydra_sweeps`` (in DVC's
environment, ``helpers.dvc_python``) computes them for the whole corpus,
and each case compares our result with DVC's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import dvc_python

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.experiments.overrides import apply_overrides, expand_sweeps, parse_override

pytestmark = pytest.mark.dvc_interop

YAML = """\
# training knobs
train:
  lr: 0.1   # learning rate
  epochs: 3
  layers: [8, 4]
  name: "base"
  on: 'yes'
seed: 7
code: '001'
"""
JSON = '{"b": 1, "a": {"x": 2, "name": "n"}, "l": [1, 2]}\n'
TOML = """\
# top comment
title = "exp"  # inline comment
seed = 7

[train]
lr = 0.1 # the rate
epochs = 3
layers = [8, 4]
"""
PY = """\
# knobs
LR = 0.1
EPOCHS = 3
FLAG = True
NOTHING = None


class Train:
    lr = 0.5  # rate
    steps = 10
"""

YAML_OVERRIDES = [
    ["code=007"],
    ["+d={a:1,b:[2]}"],
    ["train.lr=inf"],
    ["train.lr=-inf"],
    ["train.lr=nan"],
    ["+h=0x1F"],
    ["+day=2024-01-02"],
    ["+stamp=2024-01-02T10:00:00"],
    ['train.name="a,b"'],
    ["train.name=a\\,b"],
    ["train.lr=1e-3"],
    ["train.lr=-.5"],
    ["train.epochs=1_000"],
    ["train.epochs=+5"],
    ["seed=null"],
    ["+flag=true"],
    ["+flag=True"],
    ["+yes_str=yes"],
    ["+on_str=on"],
    ["+s='true'"],
    ["+n='null'"],
    ["train.name='x y'"],
    ["train.name=x y"],
    ["train.name=1:2"],
    ["train.name='日本'"],
    ['train.name="it\'s"'],
    ["train.name="],
    ["train.name=str(5)"],
    ["train.epochs=int(2.0)"],
    ["train.epochs=float(2)"],
    ["train.layers=[1,2,3]"],
    ["+big=123456789012345678901234567890"],
    ["+octal=0o17"],
    ["+ver=1.2.3"],
    ["+zeros=01.5"],
    ["+empty_list=[]", "+empty_dict={}"],
    ["+new.deep.key=1"],
    ["train=5"],
    ["~seed"],
    ["~train.lr=0.1"],
    ["~train"],
    ["++seed=9"],
    ["++brand.new=1"],
    ["train.name='${seed}'"],
    ["train.lr=0.2", "seed=1", "+train.momentum=0.9", "~code"],
    ["seed=1", "seed=2"],
    ["+a/b=1"],
    ["train.lr= 0.5"],
    ["train.lr=0.5 "],
    ["+x=1e400"],
    ["+neg=-0"],
    ["+neg_float=-0.0"],
    ["+tab='a\tb'"],
    ["+quote='say \\'hi\\''"],
    ["+nested=[{a:1},[2,3]]"],
    ["+mixed={a:[1,{b:null}],c:'x'}"],
    ["+interp_ok='${train.epochs}'"],
    ["train.layers=[]"],
    # refused by DVC: each must fail and leave the file as it was
    ["~train.lr=0.2"],
    ["+seed=9"],
    ["nope=1"],
    ["train.lr.x=1"],
    ["~missing"],
    ["a==1"],
    ["train.name=éé"],
    ["train.name=~x"],
    ["train.name=1,"],
    ["train"],
    ["a[0]=1"],
    ["key with space=1"],
    ["pkg@a=1"],
    ["train.name=${nope}"],
]
JSON_OVERRIDES = [
    ["a.x=5"],
    ["+c=inf"],
    ["~b"],
    ["+d={k:[1]}"],
    ["a.name=007"],
    ["l=[3]"],
    ["+day=2024-01-02"],
    ["+u='é'"],
    ["+n=nan"],
    ["nope=1"],
]
TOML_OVERRIDES = [
    ["train.lr=0.2"],
    ["+train.momentum=0.9"],
    ["~train.epochs"],
    ["title=x y"],
    ["+day=2024-01-02"],
    ["train.layers=[1,2]"],
    ["+train.big=inf"],
    ["+extra.a=1"],
    ["seed=null"],
    ["nope=1"],
]
PY_OVERRIDES = [  # where DVC's line edit works; see test_overrides.py for the rest
    ["LR=0.3"],
    ["EPOCHS=5", "FLAG=false"],
    ["NOTHING=1"],
    ["Train.lr=0.25"],
    ["Train.steps=20"],
]
CASES: list[tuple[str, str, list[str]]] = [
    *[("params.yaml", YAML, o) for o in YAML_OVERRIDES],
    *[("params.json", JSON, o) for o in JSON_OVERRIDES],
    *[("params.toml", TOML, o) for o in TOML_OVERRIDES],
    *[("params.py", PY, o) for o in PY_OVERRIDES],
    ("missing.yaml", "", ["+a.b=1"]),
    ("missing.toml", "", ["+a.b=1", "+c=x"]),
    ("missing.yaml", "", ["a=1"]),
    ("params.yaml", "", ["+a=1"]),
    ("params.yml", "x: 1\n", ["x=[a, b]"]),
    ("params.cfg", "x: 1\n", ["x=2"]),
]
SWEEPS = [
    ["a=1,2", "b=range(1,3)"],
    ['name="a,b"', "x=1,2"],
    ['x=a,"b,c"'],
    ["other.yaml:a=1,2", "b=3,4", "other.yaml:c=5"],
    ["a=choice(x,y)", "+b=sort(3,1)"],
    ["~a", "b=1,2"],
    ["a=1", "a=2,3"],
    ["a=[1,2],[3]"],
    ["a=range(0,1,0.25)"],
    ["a=range(3)"],
    ["a=range(5,1,-2)"],
    ["a=x y,z"],
    ["a={k:1},{k:2}"],
    ["p.json:a=1,2", "p.toml:+b=x,y"],
]
SWEEP_ERRORS = [["a=glob(*)"], ["a=interval(0,1)"], ["a=1,"]]

DVC_SCRIPT = r"""
import json, sys
from pathlib import Path
from dvc.utils.cli_parse import to_path_overrides
from dvc.utils.hydra import apply_overrides, get_hydra_sweeps

cases = json.loads(Path(sys.argv[1]).read_text())
out = {"apply": [], "sweeps": []}
for path, overrides in cases["apply"]:
    try:
        apply_overrides(path, overrides)
    except Exception as exc:
        out["apply"].append({"error": type(exc).__name__})
        continue
    out["apply"].append({"text": Path(path).read_text(encoding="utf-8")})
for texts in cases["sweeps"]:
    try:
        out["sweeps"].append([list(d.items()) for d in get_hydra_sweeps(to_path_overrides(texts))])
    except Exception as exc:
        out["sweeps"].append({"error": type(exc).__name__})
print(json.dumps(out))
"""


def _case_dir(base: Path, index: int, name: str, text: str) -> Path:
    folder = base / str(index)
    folder.mkdir(parents=True)
    if text or not name.startswith("missing"):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def dvc_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """DVC's verdict on every case, from one run of DVC's own functions."""
    base = tmp_path_factory.mktemp("theirs")
    apply_cases = []
    for index, (name, text, overrides) in enumerate(CASES):
        folder = _case_dir(base, index, name, text)
        apply_cases.append([str(folder / name), overrides])
    spec = base / "cases.json"
    spec.write_text(json.dumps({"apply": apply_cases, "sweeps": SWEEPS + SWEEP_ERRORS}))
    run = subprocess.run(
        [dvc_python(), "-c", DVC_SCRIPT, str(spec)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _ours(folder: Path, name: str, overrides: list[str]) -> dict[str, str]:
    try:
        apply_overrides(folder, [parse_override(f"{name}:{o}") for o in overrides])
    except PrefectDvcError as exc:
        assert "\n" not in str(exc), str(exc)
        return {"error": str(exc)}
    return {"text": (folder / name).read_text(encoding="utf-8")}


@pytest.mark.parametrize(
    ("index", "case"), list(enumerate(CASES)), ids=[f"{c[0]}:{' '.join(c[2])}" for c in CASES]
)
def test_params_file_bytes_equal_dvcs(
    tmp_path: Path, dvc_results: dict[str, Any], index: int, case: tuple[str, str, list[str]]
) -> None:
    name, text, overrides = case
    folder = _case_dir(tmp_path, index, name, text)
    before = sorted(p.name for p in folder.iterdir())
    theirs, ours = dvc_results["apply"][index], _ours(folder, name, overrides)
    if "error" in theirs:
        assert "error" in ours, f"DVC refused ({theirs['error']}), we wrote {ours}"
        assert sorted(p.name for p in folder.iterdir()) == before
        if before:
            assert (folder / name).read_text(encoding="utf-8") == text
    else:
        assert ours == theirs


@pytest.mark.parametrize("texts", SWEEPS, ids=[" ".join(t) for t in SWEEPS])
def test_sweeps_equal_dvcs(dvc_results: dict[str, Any], texts: list[str]) -> None:
    theirs = dvc_results["sweeps"][SWEEPS.index(texts)]
    ours = expand_sweeps(texts, queue=True)
    grouped = []
    for combo in ours:
        by_file: dict[str, list[str]] = {}
        for text in combo:
            override = parse_override(text)
            by_file.setdefault(override.file, []).append(override.text)
        grouped.append([list(item) for item in by_file.items()])
    assert grouped == theirs


@pytest.mark.parametrize("texts", SWEEP_ERRORS, ids=[" ".join(t) for t in SWEEP_ERRORS])
def test_sweeps_dvc_refuses_are_refused(dvc_results: dict[str, Any], texts: list[str]) -> None:
    assert "error" in dvc_results["sweeps"][len(SWEEPS) + SWEEP_ERRORS.index(texts)]
    with pytest.raises(PrefectDvcError) as err:
        expand_sweeps(texts, queue=True)
    assert "\n" not in str(err.value) and texts[0] in str(err.value)


def test_the_corpus_exercises_both_edits_and_refusals(dvc_results: dict[str, Any]) -> None:
    """Guard against a DVC run that refuses everything (e.g. a broken DVC environment)."""
    accepted = [r for r in dvc_results["apply"] if "text" in r]
    assert len(accepted) >= 70 and len(dvc_results["apply"]) - len(accepted) >= 15
