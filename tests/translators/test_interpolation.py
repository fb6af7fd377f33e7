"""${...} interpolation, vars, foreach and matrix, pinned against DVC 3.67.1.

The expected names and commands in this file were produced by running real DVC
(``dvc.repo.Repo(root).index.stages``) on the same files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import gen
from hypothesis import given
from hypothesis import strategies as st

from prefect_dvc.errors import InterpolationError, PrefectDvcError
from prefect_dvc.translators import load_pipeline
from prefect_dvc.translators.expand import foreach_members, matrix_members
from prefect_dvc.translators.interpolate import (
    ParsingConfig,
    ResolveFailure,
    read_parsing_config,
    resolve,
    resolve_str,
    to_str,
)

PARAMS = """\
lr: 0.1
big: 1e-5
none: ~
flag: true
name: my model
train:
  lr: 0.1
  layers: [8, 4]
  opt: {name: adam, beta: 0.9}
  on: false
models:
  - {name: a, size: 1}
  - {name: b, size: 2}
sizes: [1, 2]
"""

DVC_YAML = r"""stages:
  a:
    cmd: echo ${lr} ${big} ${none} ${flag} ${train.layers[0]} ${train.layers.1} \${lr} ${train}
  c:
    cmd: python t.py ${train} --x "${name}"
  fe:
    foreach: ${models}
    do:
      cmd: echo ${item.name} ${item}
  fl:
    foreach: [1, 2.5, true, null, x]
    do:
      cmd: echo ${item}
  fd:
    foreach:
      k1: {v: 1}
      k2: {v: 2}
    do:
      cmd: echo ${key} ${item.v}
  mx:
    matrix:
      model: ${models}
      lr: [0.1, 0.01]
      flag: [true]
    cmd: echo ${key} ${item.model.name} ${item.lr}
"""

# NOTE: pinned from DVC 3.67.1 on exactly these two files.
DVC_RESULT = {
    "a": "echo 0.1 1e-05 None true 8 4 ${lr} --lr 0.1 --layers 8 4 --opt.name adam --opt.beta 0.9",
    "c": 'python t.py --lr 0.1 --layers 8 4 --opt.name adam --opt.beta 0.9 --x "my model"',
    "fe@0": "echo a --name a --size 1",
    "fe@1": "echo b --name b --size 2",
    "fl@1": "echo 1",
    "fl@2.5": "echo 2.5",
    "fl@true": "echo true",
    "fl@None": "echo None",
    "fl@x": "echo x",
    "fd@k1": "echo k1 1",
    "fd@k2": "echo k2 2",
    "mx@model0-0.1-true": "echo model0-0.1-true a 0.1",
    "mx@model0-0.01-true": "echo model0-0.01-true a 0.01",
    "mx@model1-0.1-true": "echo model1-0.1-true b 0.1",
    "mx@model1-0.01-true": "echo model1-0.01-true b 0.01",
}


def _cmds(root: Path) -> dict[str, object]:
    return {name: stage.cmd for name, stage in load_pipeline(root).stages.items()}


def test_matches_dvc_names_and_commands(tmp_path: Path) -> None:
    gen(tmp_path, {"params.yaml": PARAMS, "dvc.yaml": DVC_YAML})
    assert _cmds(tmp_path) == DVC_RESULT
    assert list(_cmds(tmp_path)) == list(DVC_RESULT)  # file order, product order


def test_parsing_config_wdir_vars_and_escapes_match_dvc(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "params.yaml": 'k: root\nf: {on: true, off: false, l: [a, "b c"], n: {x: 1}}\n',
            "sub/params.yaml": "k: sub\nsv: 5\n",
            ".dvc/config": "[parsing]\n    bool = boolean_optional\n    list = append\n",
            "dvc.yaml": (
                "stages:\n"
                "  esc:\n    cmd: echo \\${k} ${ k } ${f.l[1]} pre${k}post\n"
                "  unpack:\n    cmd: run ${f}\n"
                "  wd:\n    wdir: sub\n    cmd: echo ${k} ${sv}\n"
                "    vars:\n      - params.yaml:sv\n    params:\n      - k\n"
            ),
        },
    )
    pipeline = load_pipeline(tmp_path)
    assert {n: s.cmd for n, s in pipeline.stages.items()} == {
        "esc": "echo ${k} root b c prerootpost",
        "unpack": "run --on --no-off --l a --l 'b c' --n.x 1",
        "wd": "echo root 5",
    }
    # interpolation reads ./params.yaml, but params: reads the wdir's params.yaml
    assert pipeline.stages["wd"].params[0].repo_path == "sub/params.yaml"


def test_read_parsing_config_local_wins(tmp_path: Path) -> None:
    assert read_parsing_config(tmp_path) == ParsingConfig()
    gen(
        tmp_path,
        {
            ".dvc/config": "[parsing]\nbool = boolean_optional\nlist = append\n",
            ".dvc/config.local": "[parsing]\nlist = nargs\n",
        },
    )
    assert read_parsing_config(tmp_path) == ParsingConfig("boolean_optional", "nargs")


def test_exact_match_keeps_type() -> None:
    data = {"f": 0.5, "b": False, "n": None, "d": {"x": 1}, "l": [1, 2]}
    assert resolve_str("${f}", data, "outs", ParsingConfig()) == 0.5
    assert resolve_str("${b}", data, "outs", ParsingConfig()) is False
    assert resolve_str("${n}", data, "outs", ParsingConfig()) is None
    assert resolve_str("${d}", data, "cmd", ParsingConfig()) == {"x": 1}
    assert resolve_str("${l}", data, "foreach", ParsingConfig()) == [1, 2]
    assert resolve_str("${l}", data, None, ParsingConfig()) == [1, 2]


def test_dict_keys_are_interpolated_too() -> None:
    got = resolve({"${a}.txt": {"cache": "${b}"}}, {"a": "x", "b": False}, "outs", ParsingConfig())
    assert got == {"x.txt": {"cache": False}}


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("echo ${l}", "cmd", "cannot interpolate data of type 'list' into 'cmd'"),
        ("${l}", "deps", "cannot interpolate data of type 'list' into 'deps'"),
        ("${d}", "meta", "cannot interpolate data of type 'dict' into 'meta'"),
        ("x ${d}", "outs", "cannot interpolate data of type 'dict' into 'outs'"),
        ("${nope}", "cmd", "could not find 'nope' in ${nope}"),
        ("${d.x.y}", "cmd", "could not find 'd.x.y'"),
        ("${l[5]}", "cmd", "could not find 'l[5]'"),
        ("${l.x}", "cmd", "could not find 'l.x'"),
        ("${}", "cmd", "invalid expression ${}"),
        ("${a..b}", "cmd", "invalid expression ${a..b}"),
        ("${a[0}", "cmd", "invalid expression"),
        ("run ${n}", "cmd", "cannot interpolate nested list in 'x'"),
    ],
)
def test_resolve_failures(text: str, field: str, needle: str) -> None:
    data = {"l": [1], "d": {"x": 1}, "n": {"x": [[1]]}}
    with pytest.raises(ResolveFailure) as info:
        resolve_str(text, data, field, ParsingConfig())
    assert needle in info.value.msg
    assert info.value.hint


def test_to_str_rules() -> None:
    assert to_str(True) == "true"
    assert to_str(None) == "None"
    flags = {"v": True, "q": False, "name": "my model", "l": [1, True, "a b"], "n": {"k": 1}}
    assert to_str(flags) == "--v --name 'my model' --l 1 True 'a b' --n.k 1"
    optional = ParsingConfig(bool="boolean_optional", list="append")
    assert (
        to_str(flags, optional) == "--v --no-q --name 'my model' --l 1 --l True --l 'a b' --n.k 1"
    )


_SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_characters="$\\"), max_size=8),
    st.none(),
)
_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@given(_NAMES, _SCALARS)
def test_exact_match_is_identity(name: str, value: object) -> None:
    assert resolve_str("${" + name + "}", {name: value}, "outs", ParsingConfig()) == value


@given(_NAMES, _SCALARS, st.text(alphabet="ab ${}", max_size=5))
def test_embedding_stringifies_and_escapes_round_trip(name: str, value: object, pre: str) -> None:
    text = "<" + "${" + name + "}>"
    assert resolve_str(text, {name: value}, "cmd", ParsingConfig()) == f"<{to_str(value)}>"
    escaped = "\\${" + name + "}" + text
    out = resolve_str(escaped, {name: value}, "cmd", ParsingConfig())
    assert out == "${" + name + "}" + f"<{to_str(value)}>"


@given(
    st.dictionaries(
        _NAMES,
        st.lists(
            st.one_of(st.integers(), st.lists(st.integers(), max_size=2)),
            min_size=1,
            max_size=3,
            unique_by=lambda v: repr(v),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_matrix_product_size_and_unique_names(dims: dict[str, list[object]]) -> None:
    # NOTE: integer values are distinct by repr, so their str() is distinct too
    members = matrix_members(dims)
    size = 1
    for values in dims.values():
        size *= len(values)
    assert len(members) == size
    for key, item in members.items():
        assert list(item) == list(dims)
        assert key.count("-") >= len(dims) - 1


def test_foreach_members_naming() -> None:
    assert foreach_members([1, "1", True]) == ({"1": "1", "true": True}, False)
    assert foreach_members([{"a": 1}, "x"]) == ({"0": {"a": 1}, "1": "x"}, False)
    assert foreach_members({"k": 1, 2: "v"}) == ({"k": 1, "2": "v"}, True)
    assert list(matrix_members({"size": [1, 2], "kind": ["a", "b"]})) == [
        "1-a",
        "1-b",
        "2-a",
        "2-b",
    ]


def _load_error(tmp_path: Path, files: dict[str, str]) -> PrefectDvcError:
    gen(tmp_path, files)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(PrefectDvcError) as info:
        load_pipeline(tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    return info.value


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"dvc.yaml": "stages:\n  x:\n    cmd: echo ${nope}\n"},
            "dvc.yaml:3: stage 'x': could not find 'nope' in ${nope}. "
            "Define it in params.yaml or vars.",
        ),
        (
            {"dvc.yaml": "stages:\n  bad:\n    foreach: [a]\n    do:\n      cmd: echo ${key}\n"},
            "dvc.yaml:5: stage 'bad@a': could not find 'key' in ${key}. "
            "Define it in params.yaml or vars.",
        ),
        (
            {
                "dvc.yaml": "stages:\n  res:\n    foreach: [a]\n    do:\n      cmd: echo\n"
                "      vars: [{item: 1}]\n"
            },
            "dvc.yaml:6: stage 'res@a': attempted to modify reserved key item. "
            "'item' and 'key' are set by foreach/matrix; rename the variable.",
        ),
        (
            {
                "params.yaml": "k: s\n",
                "dvc.yaml": "stages:\n  fi:\n    foreach: ${k}\n    do:\n      cmd: echo\n",
            },
            "dvc.yaml:3: stage 'fi': foreach expected a list or a mapping, got str. "
            "Give foreach a list, a mapping, or ${...} naming one.",
        ),
        (
            {"params.yaml": "l: 3\n", "dvc.yaml": "vars:\n  - d: {b: 2}\n  - l: 3\nstages: {}\n"},
            "dvc.yaml:3: cannot redefine 'l' from 'vars[1]' as it already exists in "
            "'params.yaml'. Rename one of them, or define it only once.",
        ),
        (
            {
                "params.yaml": "t: {a: 1}\n",
                "v.yaml": "t: {a: 2}\n",
                "dvc.yaml": "vars: [v.yaml]\nstages: {}\n",
            },
            "dvc.yaml:1: cannot redefine 't.a' from 'v.yaml' as it already exists in "
            "'params.yaml'. Rename one of them, or define it only once.",
        ),
        (
            {"dvc.yaml": "vars:\n  - nope.yaml\nstages: {}\n"},
            "dvc.yaml:2: vars file 'nope.yaml' does not exist. Create it, or remove it from vars.",
        ),
        (
            {"v.yaml": "a: 1\n", "dvc.yaml": "vars:\n  - v.yaml:b\nstages: {}\n"},
            "dvc.yaml:2: could not find 'b' in 'v.yaml'. Add it to v.yaml or remove it from vars.",
        ),
        (
            {"v.yaml": "a: 1\nb: 2\n", "dvc.yaml": "vars:\n  - v.yaml:a\n  - v.yaml\nstages: {}\n"},
            "dvc.yaml:3: cannot load 'v.yaml' as it's partially loaded already. "
            "List the file once, either whole or with keys.",
        ),
        (
            {"v.yaml": "a: 1\n", "dvc.yaml": "vars:\n  - v.yaml\n  - v.yaml:a\nstages: {}\n"},
            "dvc.yaml:3: cannot partially load 'v.yaml:a' as it's already loaded. "
            "List the file once, either whole or with keys.",
        ),
        (
            {"dvc.yaml": "vars:\n  - ${x}.yaml\nstages: {}\n"},
            "dvc.yaml:1: interpolating is not allowed in vars. Write vars literally.",
        ),
        (
            {
                "params.yaml": "l: [1]\n",
                "dvc.yaml": "stages:\n  s:\n    cmd: x\n    deps:\n    - ${l}\n",
            },
            "dvc.yaml:5: stage 's': cannot interpolate data of type 'list' into 'deps'. "
            "Only strings, numbers and booleans fit here; a dict is unpacked only inside cmd.",
        ),
        (
            {
                "params.yaml": "n: {a: 3}\n",
                "dvc.yaml": "stages:\n  s:\n    cmd: x\n    deps:\n    - ${n}\n",
            },
            "dvc.yaml:5: stage 's': cannot interpolate data of type 'dict' into 'deps'. "
            "Only strings, numbers and booleans fit here; a dict is unpacked only inside cmd.",
        ),
        (
            {
                "params.yaml": "d: 1\n",
                "dvc.yaml": "stages:\n  mx:\n    matrix:\n      d: ${d}\n    cmd: x\n",
            },
            "dvc.yaml:4: stage 'mx': matrix dimension 'd' must be a list, got int. "
            "Give each dimension a list.",
        ),
    ],
)
def test_interpolation_errors(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    err = _load_error(tmp_path, files)
    assert isinstance(err, InterpolationError)
    assert str(err) == expected


def test_stage_vars_do_not_leak_and_nested_merge(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "params.yaml": "t: {a: 1}\n",
            "dvc.yaml": (
                "vars:\n  - t: {b: 2}\nstages:\n"
                "  one:\n    cmd: echo ${t.a} ${t.b} ${own}\n    vars: [{own: 3}]\n"
                "  two:\n    cmd: echo ${own}\n"
            ),
        },
    )
    with pytest.raises(InterpolationError) as info:
        load_pipeline(tmp_path)
    assert info.value.stage == "two"
    (tmp_path / "dvc.yaml").write_text(
        "vars:\n  - t: {b: 2}\nstages:\n  one:\n    cmd: echo ${t.a} ${t.b} ${own}\n"
        "    vars: [{own: 3}]\n"
    )
    assert _cmds(tmp_path) == {"one": "echo 1 2 3"}


def test_global_item_is_overwritten_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gen(
        tmp_path,
        {
            "params.yaml": "item: glob\nkey: gk\n",
            "dvc.yaml": (
                "stages:\n  fe:\n    foreach: [a]\n    do:\n      cmd: echo ${item} ${key}\n"
            ),
        },
    )
    with caplog.at_level(logging.WARNING):
        assert _cmds(tmp_path) == {"fe@a": "echo a gk"}
    assert "item is already specified" in caplog.text
    assert "key" not in caplog.text.split("item is already specified")[0]
