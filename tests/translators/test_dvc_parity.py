"""The translator against real DVC 3.67.1, one corpus row per case (issue #10 §6).

Each row writes the same files into a fresh repository, asks real DVC which
stages (names, commands, descriptions) it resolves, and asks our
:func:`load_pipeline`. Rows where DVC resolves the file must agree exactly;
rows where DVC fails, crashes or silently drops a stage pin DVC's verdict and
our one-line error (we refuse what DVC cannot address or run).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import dvc_bin, gen, git

from prefect_dvc.errors import DvcYamlError, PrefectDvcError
from prefect_dvc.translators import load_pipeline, load_stages

pytestmark = pytest.mark.dvc_interop

# NOTE: run inside DVC's own interpreter, once for every repository of the
# corpus (importing DVC costs seconds): the stages DVC's index resolves.
_PROBE = """
import json, sys
from dvc.repo import Repo
result = {}
for root in sys.argv[1:]:
    try:
        stages = Repo(root).index.stages
        result[root] = {"stages": {s.name: {"cmd": s.cmd, "desc": s.desc} for s in stages}}
    except Exception as exc:
        result[root] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(result))
"""


def _dvc_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def dvc_resolve(roots: list[Path]) -> dict[Path, dict[str, Any]]:
    """Per root, ``{"stages": {name: {cmd, desc}}}`` or ``{"error": ...}`` from real DVC."""
    exe = dvc_bin()
    if exe is None:
        pytest.fail("real DVC not found: set PREFECT_DVC_TEST_DVC")
    python = Path(exe).with_name("python")
    proc = subprocess.run(
        [str(python), "-c", _PROBE, *map(str, roots)],
        capture_output=True,
        text=True,
        env=_dvc_env(),
        timeout=600,
        check=True,
    )
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return {Path(root): value for root, value in found.items()}


def ours(root: Path) -> dict[str, dict[str, Any]]:
    return {
        name: {"cmd": stage.cmd, "desc": stage.desc}
        for name, stage in load_pipeline(root).stages.items()
    }


def _repo(root: Path, files: dict[str, str]) -> Path:
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n", **files})
    git(root, "init", "-q")
    return root


FLAGS = "flags: [true, false]\nver: 1.5\nn: 3\nd: {1: a, b: 2, n: {2: x, c: 3}}\n"

AGREE = {
    "foreach-bools-through-ref": (
        {"params.yaml": FLAGS},
        "stages:\n  f:\n    foreach: ${flags}\n    do:\n      cmd: echo ${item}\n",
    ),
    "foreach-bools-inline": (
        {},
        "stages:\n  g:\n    foreach: [true, false]\n    do:\n      cmd: echo ${item}\n",
    ),
    "foreach-mixed-ref-and-literal": (
        {"params.yaml": "t: true\nf: false\n"},
        "stages:\n  g:\n    foreach: [true, '${f}', 1]\n    do:\n      cmd: echo ${item}\n",
    ),
    "matrix-axis-ref-and-key": (
        {"params.yaml": FLAGS},
        "stages:\n  m:\n    matrix:\n      a: ${flags}\n      b: [true]\n"
        "    cmd: echo ${key} ${item.a} ${item.b}\n",
    ),
    "matrix-element-ref": (
        {"params.yaml": "t: true\n"},
        "stages:\n  m:\n    matrix:\n      a: [false, '${t}']\n    cmd: echo ${key}\n",
    ),
    "foreach-dict-ref-with-bool-values": (
        {"params.yaml": "opts: {on: true, off: false}\n"},
        "stages:\n  o:\n    foreach: ${opts}\n    do:\n      cmd: echo ${key} ${item}\n",
    ),
    "non-string-keys-dropped-at-every-depth": (
        {"params.yaml": FLAGS},
        "stages:\n  u:\n    cmd: run ${d}\n",
    ),
    "non-string-keys-inside-lists": (
        {"params.yaml": "l: [{1: a, b: 2}]\nm: {k: [{true: 1, c: 4}]}\n"},
        "stages:\n  u:\n    cmd: run ${l[0]} ${m.k[0]}\n",
    ),
    "non-string-keys-in-vars-file": (
        {"v.yaml": "w: {3: z, e: 5, f: {4: q, g: 6}}\n"},
        "vars: [v.yaml]\nstages:\n  u:\n    cmd: run ${w}\n",
    ),
    "non-string-keys-in-foreach-item": (
        {},
        "stages:\n  f:\n    foreach:\n      - {1: a, b: 2}\n    do:\n      cmd: run ${item}\n",
    ),
    "desc-number-through-ref": (
        {"params.yaml": FLAGS},
        "stages:\n  u:\n    cmd: echo\n    desc: ${ver}\n  w:\n    cmd: echo\n    desc: v${n}\n",
    ),
    "desc-null-through-ref": (
        {"params.yaml": "none: null\n"},
        "stages:\n  u:\n    cmd: echo\n    desc: ${none}\n",
    ),
    "cmd-number-through-ref": (
        {"params.yaml": "n: 3\n"},
        "stages:\n  u:\n    cmd: ${n}\n",
    ),
    "group-name-with-at": (
        {},
        "stages:\n  a@b:\n    foreach: [1]\n    do:\n      cmd: echo hi\n",
    ),
    "punctuation-in-names": (
        {},
        "stages:\n  a/b:\n    cmd: x\n  'a:b':\n    cmd: x\n  a.b c#d:\n    cmd: x\n",
    ),
    "empty-foreach": ({}, "stages:\n  a:\n    foreach: []\n    do:\n      cmd: x\n"),
}

for _content in ("", "[]", "false", "null", "0", '""', "{}"):
    AGREE[f"falsy-params-vars-{_content or 'empty'}"] = (
        {"params.yaml": _content + "\n", "v.yaml": _content + "\n"},
        "vars: [v.yaml]\nstages:\n  a:\n    cmd: echo hi\n",
    )
    AGREE[f"falsy-dvc-yaml-{_content or 'empty'}"] = ({}, _content + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every row's repository, and real DVC's verdict on it (one DVC process)."""
    base = tmp_path_factory.mktemp("corpus")
    rows = {**{k: v[:2] for k, v in AGREE.items()}, **{k: v[:2] for k, v in REFUSE.items()}}
    roots = {
        row: _repo(base / f"r{i}", {**files, "dvc.yaml": dvcyaml})
        for i, (row, (files, dvcyaml)) in enumerate(rows.items())
    }
    verdicts = dvc_resolve(list(roots.values()))
    return {row: (root, verdicts[root]) for row, root in roots.items()}


@pytest.mark.parametrize("row", list(AGREE))
def test_resolves_as_dvc(corpus: dict[str, tuple[Path, dict[str, Any]]], row: str) -> None:
    root, theirs = corpus[row]
    assert "error" not in theirs, theirs
    # NOTE: DVC keeps ``desc: ${ver}`` and ``cmd: ${n}`` as numbers (and then
    # fails in ``stage list`` or runs str(3)); we hold their text.
    expected = {
        name: {
            "cmd": s["cmd"] if isinstance(s["cmd"], (str, list)) else str(s["cmd"]),
            "desc": None if s["desc"] is None else str(s["desc"]),
        }
        for name, s in theirs["stages"].items()
    }
    got = ours(root)
    assert got == expected
    assert list(got) == list(expected)


# NOTE: DVC's verdict on each row, then ours: one line naming file, line and stage.
REFUSE = {
    "plain-name-with-at": (
        {},
        "stages:\n  a@b:\n    cmd: echo hi\n",
        "Stage 'a@b' not found",
        "dvc.yaml:2: stage 'a@b': stage name 'a@b' contains '@'",
    ),
    "empty-name": (
        {},
        "stages:\n  '':\n    cmd: echo hi\n",
        None,
        "dvc.yaml:2: a stage name cannot be empty",
    ),
    "generated-key-with-at": (
        {},
        "stages:\n  f:\n    foreach: ['x@y', z]\n    do:\n      cmd: echo hi\n",
        "Stage 'f@x@y' not found",
        "dvc.yaml:3: stage 'f': generated stage name 'f@x@y' contains '@' twice",
    ),
    "matrix-key-with-at-through-ref": (
        {"params.yaml": "mail: [a@b]\n"},
        "stages:\n  m:\n    matrix:\n      to: ${mail}\n    cmd: echo\n",
        "Stage 'm@a@b' not found",
        "dvc.yaml:3: stage 'm': generated stage name 'm@a@b' contains '@' twice",
    ),
    "matrix-empty-axis": (
        {},
        "stages:\n  m:\n    matrix:\n      x: [1]\n      y: []\n    cmd: x\n",
        "",
        "dvc.yaml:5: stage 'm': matrix dimension 'y' has no values",
    ),
    "matrix-empty-axis-through-ref": (
        {"params.yaml": "none: []\n"},
        "stages:\n  m:\n    matrix:\n      y: ${none}\n    cmd: x\n",
        "",
        "dvc.yaml:4: stage 'm': matrix dimension 'y' has no values",
    ),
    "matrix-without-dimensions": (
        {},
        "stages:\n  m:\n    matrix: {}\n    cmd: x\n",
        "AssertionError",
        "dvc.yaml:3: stage 'm': matrix needs at least one dimension",
    ),
    "matrix-whole-ref": (
        {"params.yaml": "mx: {a: [true, false], s: [x]}\n"},
        "stages:\n  m:\n    matrix: ${mx}\n    cmd: echo ${key}\n",
        "validation failed",
        "dvc.yaml:3: stage 'm': expected a mapping of dimension names to lists",
    ),
    "dvc-yaml-true": ({}, "true\n", "validation failed", "dvc.yaml:1: expected a mapping"),
    "params-yaml-list": (
        {"params.yaml": "[1]\n"},
        "stages:\n  a:\n    cmd: x\n",
        "expected a dictionary, got 'list'",
        "params.yaml: expected a mapping of params, got list",
    ),
}


@pytest.mark.parametrize("row", list(REFUSE))
def test_refuses_what_dvc_cannot_use(
    corpus: dict[str, tuple[Path, dict[str, Any]]], row: str
) -> None:
    root, theirs = corpus[row]
    dvc_says, we_say = REFUSE[row][2:]
    if dvc_says == "":
        assert theirs == {"stages": {}}  # DVC silently generates nothing
    elif dvc_says is not None and "error" in theirs:
        assert dvc_says in theirs["error"]
    elif dvc_says is not None:
        # DVC lists the stage but cannot address it: ask it for its status.
        name = next(iter(theirs["stages"]))
        exe = dvc_bin()
        assert exe is not None
        proc = subprocess.run(
            [exe, "status", name], cwd=root, capture_output=True, text=True, env=_dvc_env()
        )
        assert proc.returncode != 0
        assert dvc_says in proc.stderr
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(PrefectDvcError) as info:
        load_pipeline(root)
    message = str(info.value)
    assert message.startswith(we_say), message
    assert "\n" not in message
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    if we_say.startswith("dvc.yaml"):
        assert isinstance(info.value, DvcYamlError)


def test_text_fields_hold_text_after_exact_interpolation(tmp_path: Path) -> None:
    """DVC keeps the number (and fails later, e.g. ``'int' object has no attribute 'decode'``
    for a dep): every text field, top-level sections included, holds its text."""
    root = _repo(
        tmp_path / "repo",
        {
            "params.yaml": "n: 3\nv: 1.5\nb: true\n",
            "dvc.yaml": (
                "metrics: ['${n}']\n"
                "plots:\n  - p.csv:\n      title: ${v}\n      x: ${n}\n"
                "artifacts:\n  a:\n    path: ${n}\n    desc: ${v}\n"
                "stages:\n  s:\n    cmd: echo\n    desc: ${b}\n    deps: ['${n}']\n"
                "    outs:\n    - q.csv:\n        desc: ${v}\n"
            ),
        },
    )
    loaded = load_stages(root)
    assert loaded.metrics_files == ("3",)
    assert loaded.plots == ({"p.csv": {"title": "1.5", "x": "3"}},)
    assert loaded.artifacts == {"a": {"path": "3", "desc": "1.5"}}
    (stage,) = loaded.stages
    assert stage.desc == "true"
    assert stage.deps == ("3",)
    assert stage.outs[0].annotations == {"desc": "1.5"}
