"""-S overrides: Hydra's grammar, sweeps only with --queue, edits that leave nothing half-done.

Byte-for-byte agreement with real DVC over a corpus is in ``test_overrides_dvc.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_dvc.errors import ConfigError, ParamsError, PrefectDvcError
from prefect_dvc.experiments.overrides import (
    Override,
    apply_overrides,
    expand_sweeps,
    parse_override,
    rebase_to_root,
)

PARAMS = """\
# training knobs
train:
  lr: 0.1   # learning rate
  epochs: 3
seed: 7
"""


def test_parse_forms() -> None:
    assert parse_override("train.lr=1e-3") == Override(
        "params.yaml", "train.lr", 0.001, text="train.lr=1e-3"
    )
    assert parse_override("other.yaml:opt.name=adam") == Override(
        "other.yaml", "opt.name", "adam", text="opt.name=adam"
    )
    assert parse_override("+new.key=yes") == Override(
        "params.yaml", "new.key", "yes", add=True, text="+new.key=yes"
    )
    assert parse_override("++k=1").force_add
    assert parse_override("~seed") == Override("params.yaml", "seed", delete=True, text="~seed")
    assert str(parse_override("p.json:+a=1")) == "p.json:+a=1"
    with pytest.raises(ConfigError, match="cannot parse -S 'train.lr'"):
        parse_override("train.lr")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("code=007", "007"),
        ("h=0x1F", "0x1F"),
        ("day=2024-01-02", "2024-01-02"),
        ('name="a,b"', "a,b"),
        ("name=a\\,b", "a,b"),
        ("d={a:1,b:[2]}", {"a": 1, "b": [2]}),
        ("x=yes", "yes"),
        ("x=True", True),
        ("x=null", None),
        ("x=1_000", 1000),
        ("x='007'", "007"),
        ("x=", ""),
    ],
)
def test_values_are_typed_as_hydra_and_dvc_type_them(text: str, value: object) -> None:
    parsed = parse_override(text).value
    assert parsed == value and type(parsed) is type(value)


def test_inf_and_nan_are_floats() -> None:
    assert parse_override("x=inf").value == math.inf
    assert math.isnan(parse_override("x=nan").value)


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


def test_quoted_commas_are_one_value_not_a_sweep() -> None:
    assert expand_sweeps(['name="a,b"'], queue=False) == [['name="a,b"']]
    # inside a real sweep the quoted value keeps its quotes, so it parses back to itself
    combos = expand_sweeps(['name="a,b"', "x=1,2"])
    assert combos == [['name="a,b"', "x=1"], ['name="a,b"', "x=2"]]
    assert {parse_override(c[0]).value for c in combos} == {"a,b"}


def test_sweep_without_queue_is_refused_with_one_line() -> None:
    for texts in (["a=1,2"], ["a=range(1,3)"], ["b=1", "other.yaml:a=choice(x,y)"]):
        with pytest.raises(ConfigError) as err:
            expand_sweeps(texts, queue=False)
        assert "--queue" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--queue"):
        parse_override("a=1,2")  # a sweep can never be applied to one experiment


def test_sweep_files_combine_in_order_of_first_mention() -> None:
    combos = expand_sweeps(["other.yaml:a=1,2", "b=3,4"])
    assert combos == [
        ["other.yaml:a=1", "b=3"],
        ["other.yaml:a=1", "b=4"],
        ["other.yaml:a=2", "b=3"],
        ["other.yaml:a=2", "b=4"],
    ]


def test_edit_keeps_comments_and_order(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    changed = apply_overrides(
        tmp_path, [parse_override("train.lr=0.3"), parse_override("+train.momentum=0.9")]
    )
    assert changed == ["params.yaml"]
    assert (tmp_path / "params.yaml").read_text() == PARAMS.replace(
        "lr: 0.1   # learning rate", "lr: 0.3   # learning rate"
    ).replace("  epochs: 3\n", "  epochs: 3\n  momentum: 0.9\n")


def test_date_like_value_is_written_quoted_and_reads_back_as_text(tmp_path: Path) -> None:
    from prefect_dvc.translators.params import read_params_file

    (tmp_path / "params.yaml").write_text(PARAMS)
    apply_overrides(tmp_path, [parse_override("+day=2024-01-02"), parse_override("+h=0x1F")])
    text = (tmp_path / "params.yaml").read_text()
    assert "day: '2024-01-02'\n" in text and "h: '0x1F'\n" in text
    data = read_params_file(tmp_path / "params.yaml", "params.yaml")
    assert data["day"] == "2024-01-02" and data["h"] == "0x1F"


def test_unknown_key_is_an_error_and_no_file_changes(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ParamsError) as err:
        apply_overrides(
            tmp_path, [parse_override("other.json:a=2"), parse_override("train.lrr=0.3")]
        )
    assert str(err.value) == (
        "params.yaml: Could not override 'train.lrr'. To append to your config use +train.lrr=0.3."
    )
    assert (tmp_path / "params.yaml").read_text() == PARAMS
    assert (tmp_path / "other.json").read_text() == '{"a": 1}'


def test_missing_file_only_with_plus_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="nofile.yaml: Could not override 'x'"):
        apply_overrides(tmp_path, [parse_override("nofile.yaml:x=1")])
    apply_overrides(tmp_path, [parse_override("nofile.yaml:+x=1")], dry_run=True)
    assert not (tmp_path / "nofile.yaml").exists()
    assert apply_overrides(tmp_path, [parse_override("nofile.yaml:+x=1")]) == ["nofile.yaml"]
    assert (tmp_path / "nofile.yaml").read_text() == "x: 1\n"


def test_toml_keeps_comments(tmp_path: Path) -> None:
    text = "# top\n[train]\nlr = 0.1 # rate\nepochs = 3\n"
    (tmp_path / "p.toml").write_text(text)
    apply_overrides(
        tmp_path, [parse_override("p.toml:train.lr=0.5"), parse_override("p.toml:~train.epochs")]
    )
    assert (tmp_path / "p.toml").read_text() == "# top\n[train]\nlr = 0.5 # rate\n"


PY = '''\
"""knobs"""
LR = 0.1  # rate
OPT = "sgd"
SHAPE = (1, 2)
CFG = {
    "depth": 3,  # layers
    "act": "relu",
}


class Train:
    steps = 10

    def __init__(self):
        self.seed = 1
'''


def test_py_literals_are_rewritten_in_place(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PY)
    overrides = [
        "LR=1e-3",
        "OPT=adam",
        "SHAPE=[3,4]",
        "CFG.depth=5",
        "Train.steps=20",
        "Train.seed=2",
    ]
    apply_overrides(tmp_path, [parse_override(f"p.py:{o}") for o in overrides])
    assert (tmp_path / "p.py").read_text() == (
        PY.replace("0.1  # rate", "0.001  # rate")
        .replace('"sgd"', "'adam'")
        .replace("(1, 2)", "(3, 4)")
        .replace('"depth": 3,', '"depth": 5,')
        .replace("steps = 10", "steps = 20")
        .replace("self.seed = 1", "self.seed = 2")
    )


@pytest.mark.parametrize("override", ["+NEW=1", "~LR", "LR=inf", "Train=1", "++NEW=2"])
def test_py_edits_dvc_cannot_make_are_refused_and_change_nothing(
    tmp_path: Path, override: str
) -> None:
    (tmp_path / "p.py").write_text(PY)
    with pytest.raises(ParamsError) as err:
        apply_overrides(tmp_path, [parse_override(f"p.py:{override}")])
    assert str(err.value).startswith("p.py: ") and "\n" not in str(err.value)
    assert (tmp_path / "p.py").read_text() == PY


def test_status_path_does_not_import_hydra() -> None:
    code = (
        "import sys; import prefect_dvc.cli; "
        "from prefect_dvc.experiments import overrides; "
        "assert overrides.expand_sweeps([], queue=False) == [[]]; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf', 'tomlkit')]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace(
                "print(heavy)", "overrides.parse_override('a=1'); print('hydra' in sys.modules)"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "True"


def test_edit_keeps_the_files_permissions(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "params.yaml").chmod(0o640)
    (tmp_path / "p.py").write_text("LR = 0.1\n")
    (tmp_path / "p.py").chmod(0o755)
    apply_overrides(tmp_path, [parse_override("seed=8"), parse_override("p.py:LR=0.2")])
    assert (tmp_path / "params.yaml").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "p.py").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "p.py").read_text() == "LR = 0.2\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("params.yaml", "a: [1\n"),
        ("params.yaml", "- 1\n- 2\n"),
        ("p.json", "{bad json"),
        ("p.toml", "a = \n"),
        ("p.py", "def (:\n"),
    ],
)
def test_unreadable_params_file_is_one_line_naming_it(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    key = "a" if name != "p.py" else "A"
    with pytest.raises((ParamsError, PrefectDvcError)) as err:
        apply_overrides(tmp_path, [parse_override(f"{name}:{key}=1")])
    assert name in str(err.value) and "\n" not in str(err.value)
    assert (tmp_path / name).read_text() == text


def test_one_bad_file_leaves_every_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "p.toml").write_text("x = 1\n")
    (tmp_path / "p.py").write_text("X = 1\n")
    overrides = ["seed=1", "p.toml:x=2", "p.py:+Y=2"]
    with pytest.raises(ParamsError, match="p.py: cannot add 'Y'"):
        apply_overrides(tmp_path, [parse_override(o) for o in overrides])
    assert (tmp_path / "params.yaml").read_text() == PARAMS
    assert (tmp_path / "p.toml").read_text() == "x = 1\n"
    assert not (tmp_path / "nofile.yaml").exists()


def test_errors_name_the_override_with_its_file() -> None:
    with pytest.raises(ConfigError, match=r"cannot parse -S 'other.yaml:a==1'"):
        expand_sweeps(["b=1", "other.yaml:a==1"])
    with pytest.raises(ConfigError, match=r"-S 'other.yaml:a=1,2' is a sweep"):
        expand_sweeps(["b=1", "other.yaml:a=1,2"], queue=False)
    with pytest.raises(ConfigError, match=r"cannot parse -S 'o.json:b=\S+': unexpected character"):
        parse_override("o.json:b=é")


def test_symlinked_params_file_stays_a_link_and_its_target_is_edited(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "p.yaml").write_text(PARAMS)
    (tmp_path / "params.yaml").symlink_to(Path("conf") / "p.yaml")
    apply_overrides(tmp_path, [parse_override("seed=8")])
    assert (tmp_path / "params.yaml").is_symlink()
    assert (tmp_path / "conf" / "p.yaml").read_text() == PARAMS.replace("seed: 7", "seed: 8")


def test_py_file_with_bodies_that_assign_nothing(tmp_path: Path) -> None:
    """Classes and ``__init__`` without assignments are walked without error."""
    text = (
        "class Empty:\n    def run(self):\n        pass\n"
        "class Train:\n    def __init__(self):\n        pass\n"
        "LR = 0.1\n"
    )
    (tmp_path / "p.py").write_text(text)
    apply_overrides(tmp_path, [parse_override("p.py:LR=0.2")])
    assert (tmp_path / "p.py").read_text() == text.replace("LR = 0.1", "LR = 0.2")


@pytest.mark.parametrize(
    ("cwd", "texts", "expected"),
    [
        (".", ["a=1", "p.yaml:b=2"], ["a=1", "p.yaml:b=2"]),
        ("sub", ["a=1", "+b.c=2"], ["sub/params.yaml:a=1", "sub/params.yaml:+b.c=2"]),
        ("sub", ["../params.yaml:a=1", "../c/p.json:x=[1,2]"], ["a=1", "c/p.json:x=[1,2]"]),
        ("sub/deep", ["../q.toml:k=v", "~gone"], ["sub/q.toml:k=v", "sub/deep/params.yaml:~gone"]),
        ("sub", ["../../out.yaml:a=1"], ["../out.yaml:a=1"]),
    ],
)
def test_rebase_to_root_reads_files_from_the_current_folder(
    tmp_path: Path, cwd: str, texts: list[str], expected: list[str]
) -> None:
    # DVC passes -S files as typed to apply_overrides, i.e. from the cwd.
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    assert rebase_to_root(texts, tmp_path, tmp_path / cwd) == expected


def test_override_rebased_outside_the_repo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (rebased,) = rebase_to_root(["../../out.yaml:a=1"], tmp_path, tmp_path / "sub")
    with pytest.raises(PrefectDvcError, match="out.yaml"):
        apply_overrides(tmp_path, [parse_override(rebased)], dry_run=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
