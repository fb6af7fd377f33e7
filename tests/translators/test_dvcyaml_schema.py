"""dvc.yaml loading: line numbers, DVC 3's schema and every schema error."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_dvc.errors import DvcYamlError, SchemaError, YamlSyntaxError
from prefect_dvc.translators.dvcyaml import load_dvcyaml, parse_dvcyaml

FULL = """\
vars:
  - params.yaml
  - {a: 1}
params:
  - extra.yaml
metrics:
  - m.json
plots:
  - p.csv
  - acc:
      x: step
      y: {p.csv: [acc, loss]}
      title: Acc
  - bare.csv:
artifacts:
  model:
    path: model.pkl
    type: model
    labels: [a]
    meta: {any: thing}
datasets:
  - name: ds
    type: dvc
    url: whatever
stages:
  full:
    desc: all fields
    cmd: [a, b]
    wdir: .
    deps: [d]
    params:
      - lr
      - other.yaml: [x]
      - whole.yaml:
    outs:
      - o
      - o2: {cache: false, persist: true, checkpoint: true, remote: r, push: false,
             desc: d, type: t, labels: [l], meta: {k: v}}
    metrics:
      - m.json: {cache: false}
    plots:
      - p.csv: {x: a, y: b, x_label: X, y_label: Y, title: T, template: linear, header: true}
    frozen: false
    always_changed: true
    meta: [anything]
    vars: [{b: 2}]
  gen:
    foreach: [1, 2]
    do:
      cmd: echo ${item}
  mx:
    matrix: {x: [1, 2], y: "${ys}"}
    cmd: echo
"""


def test_full_schema_is_accepted_with_lines() -> None:
    doc = parse_dvcyaml(FULL, "dvc.yaml")
    assert doc.data["stages"]["full"]["cmd"] == ["a", "b"]
    assert doc.line("stages", "full") == 26
    assert doc.line("stages", "full", "outs", 1) == 37
    assert doc.line("stages", "full", "outs", 1, "o2", "cache") == 37
    assert doc.line("stages", "gen", "do", "cmd") == 50
    assert doc.line("stages", "nope", "x") == 25  # nearest ancestor: "stages:"
    assert doc.line("nope") is None
    assert doc.data["datasets"][0]["url"] == "whatever"


def test_empty_file_is_empty_pipeline() -> None:
    assert dict(parse_dvcyaml("", "dvc.yaml").data) == {}


def test_values_are_yaml_12_and_merge_keys_keep_safe_order() -> None:
    doc = parse_dvcyaml(
        "vars:\n- base: &b {x: 1, y: 2}\n  v: {<<: *b, z: yes, e: 1e3, o: 010}\nstages: {}\n"
    )
    v = doc.data["vars"][0]["v"]
    assert list(v.items()) == [("x", 1), ("y", 2), ("z", "yes"), ("e", 1000.0), ("o", 10)]
    assert doc.line("vars", 0, "v", "z") == 3
    # keys that arrive through a merge have no own line: the parent's is used
    assert doc.line("vars", 0, "v", "x") == 3


@pytest.mark.parametrize(
    ("text", "line", "stage", "needle"),
    [
        ("stages:\n  a:\n    command: x\n", 3, "a", "unknown key 'command' at 'stages.a.command'"),
        ("stages:\n  a:\n    deps: [x]\n", 2, "a", "missing required key 'cmd'"),
        ("stages:\n  a:\n    cmd: 1\n", 3, "a", "expected a command string or a list"),
        ("stages:\n  a:\n    cmd: [a, 1]\n", 3, "a", "expected a string, got int"),
        ("stages:\n  a:\n    cmd: x\n    frozen: yes\n", 4, "a", "expected true or false"),
        ("stages:\n  a:\n    cmd: x\n    frozen: ${f}\n", 4, "a", "expected true or false"),
        ("stages:\n  a:\n    cmd: x\n    deps: x\n", 4, "a", "expected a list of strings"),
        ("stages:\n  a:\n    cmd: x\n    wdir: [x]\n", 4, "a", "expected a string, got a list"),
        (
            "stages:\n  a:\n    cmd: x\n    outs:\n    - o: {cach: false}\n",
            5,
            "a",
            "unknown key 'cach' at 'stages.a.outs[0].o.cach'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs:\n    - o: {cache: 'no'}\n",
            5,
            "a",
            "expected true or false",
        ),
        ("stages:\n  a:\n    cmd: x\n    outs:\n    - o: {x: a}\n", 5, "a", "unknown key 'x'"),
        (
            "stages:\n  a:\n    cmd: x\n    plots:\n    - p: [{x: a}]\n",
            5,
            "a",
            "expected a mapping of flags",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs:\n    - o: null\n",
            5,
            "a",
            "expected a mapping of flags",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    params:\n    - {f.yaml: x}\n",
            5,
            "a",
            "expected a list of keys",
        ),
        ("stages:\n  a:\n    cmd: x\n    params:\n    - 3\n", 5, "a", "expected a key or"),
        ("stages:\n  a:\n    cmd: x\n    matrix: [1]\n", 4, "a", "expected a mapping of dim"),
        ("stages:\n  a:\n    cmd: x\n    matrix: {x: 1}\n", 4, "a", "expected a list or"),
        ("stages:\n  a:\n    cmd: x\n    vars: x\n", 4, "a", "expected a list of files"),
        ("stages:\n  a:\n    foreach: [1]\n", 2, "a", "missing required key 'do'"),
        ("stages:\n  a:\n    do: {cmd: x}\n", 2, "a", "missing required key 'foreach'"),
        ("stages:\n  a:\n    foreach: 1\n    do: {cmd: x}\n", 3, "a", "expected a list, a map"),
        (
            "stages:\n  a:\n    foreach: [1]\n    do: {cmd: x}\n    cmd: y\n",
            5,
            "a",
            "unknown key 'cmd'",
        ),
        ("stages:\n  a:\n    foreach: [1]\n    do: {comd: x}\n", 4, "a", "unknown key 'comd'"),
        (
            "stages:\n  a:\n    foreach: [1]\n    do:\n      cmd: x\n      matrix: {a: [1]}\n",
            6,
            "a",
            "'matrix' cannot be used inside 'do'",
        ),
        ("stages:\n  a: echo\n", 2, "a", "expected a stage definition"),
        ("stages: [a]\n", 1, None, "expected a mapping of stage names"),
        ("stage:\n  a: {cmd: x}\n", 1, None, "unknown key 'stage'"),
        ("plots:\n  p.csv: {x: a}\n", 1, None, "mapping form was dropped"),
        ("plots:\n- p.csv: {z: a}\n", 2, None, "unknown key 'z'"),
        ("plots:\n- p.csv: {y: [1]}\n", 2, None, "expected a string"),
        ("params: x.yaml\n", 1, None, "expected a list of strings"),
        ("metrics: [1]\n", 1, None, "expected a string"),
        ("vars: [1]\n", 1, None, "expected a file name or a mapping"),
        ("artifacts:\n  m: {type: model}\n", 2, None, "missing required key 'path'"),
        ("artifacts:\n  m: {path: x, kind: model}\n", 2, None, "unknown key 'kind'"),
        ("artifacts:\n  m: {path: x, labels: x}\n", 2, None, "expected a list of strings"),
        ("- a\n", 1, None, "expected a mapping at the top level"),
    ],
)
def test_schema_errors_name_file_line_stage_and_fix(
    text: str, line: int, stage: str | None, needle: str
) -> None:
    with pytest.raises(SchemaError) as info:
        parse_dvcyaml(text, "sub/dvc.yaml")
    err = info.value
    assert (err.path, err.line, err.stage) == ("sub/dvc.yaml", line, stage)
    assert needle in str(err)
    assert str(err).startswith(f"sub/dvc.yaml:{line}: ")
    assert err.hint


def test_unknown_key_lists_allowed_keys() -> None:
    with pytest.raises(SchemaError) as info:
        parse_dvcyaml("stages:\n  a:\n    command: x\n", "dvc.yaml")
    assert str(info.value) == (
        "dvc.yaml:3: stage 'a': unknown key 'command' at 'stages.a.command'. Check the "
        "spelling; allowed keys are: cmd, wdir, deps, params, outs, metrics, plots, frozen, "
        "always_changed, desc, meta, vars, matrix."
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("stages:\n  a:\n    cmd: echo '{\"a\": 1}' > x\n", 3),
        ("stages:\n  a:\n    cmd: x\n  a:\n    cmd: y\n", 4),
        ("stages:\n  a: [\n", 3),
    ],
)
def test_invalid_yaml_has_line(text: str, line: int) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_dvcyaml(text, "dvc.yaml")
    assert info.value.line == line
    assert str(info.value).startswith(f"dvc.yaml:{line}: invalid YAML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DvcYamlError) as info:
        load_dvcyaml(tmp_path / "dvc.yaml", "dvc.yaml")
    assert str(info.value) == (
        f"dvc.yaml not found in {tmp_path}. Create one, or run from the project root."
    )
