"""``prefect-dvc status --json`` against ``dvc status --json`` (DVC 3.67.1), key by key.

One project is reproduced by real DVC once; each row copies it, changes one
thing (a dep, a param, an out, the command, the lock...) and asks both tools
in the same repository. The JSON must be equal and both must exit 0; a
missing param key is a change, not an error, in both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.dvc_interop

PROJECT = {
    "params.yaml": "lr: 0.1\ntrain: {epochs: 2, layers: [8, 4]}\nextra: 1\n",
    "p.py": "T = (1, 2)\nclass C:\n    U = [3]\n",
    "a.txt": "a\n",
    "b.txt": "b\n",
    "sub/c.txt": "c\n",
    "dvc.yaml": """\
stages:
  s1:
    cmd: cp a.txt o1.txt
    deps: [a.txt]
    params: [lr, train.epochs]
    outs: [o1.txt]
  s2:
    cmd: cp b.txt o2.txt
    deps: [b.txt, o1.txt]
    params: [{p.py: [T, C.U]}]
    outs: [o2.txt]
  s3:
    cmd: echo x
    always_changed: true
    deps: [a.txt]
  s4:
    cmd: cp a.txt o4.txt
    frozen: false
    deps: [a.txt]
    outs: [o4.txt]
  s5:
    cmd: cp a.txt o5.txt
    deps: [a.txt]
    params: [{params.yaml: }]
    outs: [{o5.txt: {cache: false}}]
  s6:
    wdir: sub
    cmd: cp c.txt o6.txt
    deps: [c.txt]
    params: [{../params.yaml: [extra]}]
    outs: [o6.txt]
  s7:
    cmd: echo callback
""",
}


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        with (root / rel).open("a") as fobj:
            fobj.write(text)

    return change


def _write(rel: str, text: str) -> Callable[[Path], None]:
    return lambda root: gen(root, {rel: text})


def _remove(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def _replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))

    return change


ROWS: dict[str, Callable[[Path], None]] = {
    "clean": lambda root: None,
    "dep-modified": _append("a.txt", "more\n"),
    "dep-deleted": _remove("b.txt"),
    "wdir-dep-modified": _append("sub/c.txt", "more\n"),
    "param-modified": _replace("params.yaml", "lr: 0.1", "lr: 0.2"),
    "nested-param-modified": _replace("params.yaml", "epochs: 2", "epochs: 3"),
    "param-key-missing": _replace("params.yaml", "lr: 0.1\n", ""),
    "param-key-added": _append("params.yaml", "new: 5\n"),
    "params-file-deleted": _remove("params.yaml"),
    "py-tuple-modified": _replace("p.py", "T = (1, 2)", "T = (1, 3)"),
    "out-deleted": _remove("o1.txt"),
    "out-modified": _write("o2.txt", "changed\n"),
    "uncached-out-modified": _write("o5.txt", "changed\n"),
    "cmd-changed": _replace("dvc.yaml", "cp b.txt o2.txt", "cp  b.txt o2.txt"),
    "frozen-cmd-changed": _replace("dvc.yaml", "cp a.txt o4.txt", "cp  a.txt o4.txt"),
    "never-run": _remove("dvc.lock"),
    "cache-emptied": lambda root: shutil.rmtree(root / ".dvc" / "cache"),
    "cache-emptied-and-out-deleted": lambda root: (
        shutil.rmtree(root / ".dvc" / "cache"),
        (root / "o2.txt").unlink(),
    ),
}


def _files(root: Path) -> dict[Path, bytes]:
    """Every file but the state DBs under ``.dvc/tmp`` (status may update those)."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".dvc/tmp" not in str(p)}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after real DVC's ``repro`` (its lock file and cache)."""
    root = tmp_path_factory.mktemp("template") / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, PROJECT)
    done = run_dvc(root, "repro")
    assert done.returncode == 0, done.stderr
    # NOTE: frozen after its first run: DVC cannot reproduce a frozen stage without outs.
    _replace("dvc.yaml", "frozen: false", "frozen: true")(root)
    return root


@pytest.mark.parametrize("row", list(ROWS))
def test_status_text_matches_dvc(reproduced: Path, tmp_path: Path, cli, row: str) -> None:
    """The text form, line by line and byte for byte: tabs, padding, warnings, exit code."""
    root = tmp_path / "repo"
    shutil.copytree(reproduced, root, symlinks=True)
    ROWS[row](root)
    theirs = run_dvc(root, "status")
    ours = cli(root, "status")
    assert (ours.code, ours.out, ours.err) == (theirs.returncode, theirs.stdout, theirs.stderr)


@pytest.mark.parametrize("row", list(ROWS))
def test_status_json_matches_dvc(reproduced: Path, tmp_path: Path, cli, row: str) -> None:
    root = tmp_path / "repo"
    shutil.copytree(reproduced, root, symlinks=True)
    ROWS[row](root)
    theirs = run_dvc(root, "status", "--json")
    assert theirs.returncode == 0, theirs.stderr
    expected = json.loads(theirs.stdout)
    before = _files(root)
    ours = cli(root, "status", "--json")
    assert ours.code == 0, ours.err
    assert json.loads(ours.out) == expected
    assert _files(root) == before


def test_nested_tuple_in_py_params_is_up_to_date(reproduced: Path, tmp_path: Path, cli) -> None:
    """DVC says a tuple inside a tuple or class is "modified" forever; we read it as the list."""
    root = tmp_path / "repo"
    shutil.copytree(reproduced, root, symlinks=True)
    gen(root, {"p.py": "T = (1, 2)\nclass C:\n    U = ((3,), [4, (5,)])\n"})
    git(root, "add", "-A")  # NOTE: unused; keeps the copy a normal repository
    theirs = json.loads(run_dvc(root, "status", "--json", "s2").stdout)
    assert theirs == {"s2": [{"changed deps": {"p.py": {"C.U": "modified"}}}]}
    # lock the new value with DVC, then DVC itself keeps calling it modified
    assert run_dvc(root, "repro", "s2").returncode == 0
    assert "C.U" in run_dvc(root, "status", "--json", "s2").stdout
    assert json.loads(cli(root, "status", "--json", "s2").out) == {}


def test_missing_param_key_fails_the_run_not_the_status(
    reproduced: Path, tmp_path: Path, cli
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(reproduced, root, symlinks=True)
    ROWS["param-key-missing"](root)
    lock = (root / "dvc.lock").read_bytes()
    status = cli(root, "status")
    assert status.code == 0
    assert "\t\tparams.yaml:\n\t\t\tdeleted:            lr\n" in status.out
    dvc_repro = run_dvc(root, "repro", "s1")
    assert dvc_repro.returncode != 0 and "Parameters 'lr' are missing" in dvc_repro.stderr
    ours = cli(root, "repro", "s1")
    assert ours.code != 0
    assert "params.yaml: stage 's1': parameters 'lr' are missing" in ours.err
    assert len(ours.err.strip().splitlines()) == 1
    assert (root / "dvc.lock").read_bytes() == lock


def test_status_text_of_empty_and_up_to_date_projects_matches_dvc(tmp_path: Path, cli) -> None:
    """No dvc.yaml yet, then one stage reproduced by DVC: both tools say the same words."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    answers = []
    for step in ("empty", "up-to-date", "target"):
        if step == "up-to-date":
            gen(
                root,
                {
                    "a.txt": "a\n",
                    "dvc.yaml": "stages:\n  s:\n    cmd: cp a.txt b.txt\n"
                    "    deps: [a.txt]\n    outs: [b.txt]\n",
                },
            )
            assert run_dvc(root, "repro", "-q").returncode == 0
        args = ["status", "s"] if step == "target" else ["status"]
        theirs, ours = run_dvc(root, *args), cli(root, *args)
        assert (ours.code, ours.out, ours.err) == (theirs.returncode, theirs.stdout, theirs.stderr)
        answers.append(ours.out)
    assert answers[0].startswith("There are no data or pipelines tracked in this project yet.")
    assert answers[1] == answers[2] == "Data and pipelines are up to date.\n"
