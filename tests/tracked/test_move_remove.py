"""``move`` and ``remove`` against real ``dvc move``/``dvc remove`` 3.67.1 on twins."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen, git
from tracked_twins import dvc, hint_shape, make_repo, pd, tree_state

PIPELINE = """# the pipeline
stages:
  s1:
    cmd: cat a > s1.txt
    deps: [a]
    outs: [s1.txt]
  s2:
    cmd: cat a > s2.txt
    outs: [s2.txt]
"""
STEPS = [
    ["move", "a", "data/"],  # the .dvc file follows its data into the folder
    ["move", "d", "newd"],  # a directory
    ["move", "e", "f"],  # e is tracked by other.dvc: only its entry changes
    ["move", "s1.txt", "zz"],  # a stage's out: refused
    ["move", "nothere", "x"],
    ["move", "b", "c"],  # c.dvc exists: refused
    ["remove", "b"],  # not a .dvc file: DVC's hint
    ["remove", "b.dvc"],  # data stays, .gitignore line goes
    ["remove", "c.dvc", "--outs"],  # data goes too
    ["remove", "s1"],  # dvc.yaml and dvc.lock lose it, comments kept
    ["remove", "s2", "--outs"],  # last stage: both files are deleted
    ["remove", "nothere"],
]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[object, ...]]]:
    files = {"a": "a\n", "d/x": "1\n", "b": "b\n", "c": "c\n", "e": "e\n", "data/keep": "k\n"}
    out: dict[str, list[tuple[object, ...]]] = {}
    # NOTE: one start copied to both twins: DVC's repro orders independent
    # stages (and so their .gitignore lines) differently from run to run.
    start = make_repo(tmp_path_factory.mktemp("start") / "repo", files)
    assert dvc(start, "add", "-q", "a", "d", "b", "c").returncode == 0
    assert dvc(start, "add", "-q", "e").returncode == 0
    (start / "e.dvc").rename(start / "other.dvc")
    gen(start, {"dvc.yaml": PIPELINE})
    assert dvc(start, "repro", "-q").returncode == 0
    git(start, "add", "-A")
    git(start, "commit", "-qm", "start")
    for who, tool in (("dvc", dvc), ("ours", pd)):
        root = tmp_path_factory.mktemp(who) / "repo"
        shutil.copytree(start, root, symlinks=True)
        steps = []
        for args in STEPS:
            done = tool(root, *args)
            state = {k: v for k, v in tree_state(root).items() if not k.startswith(".dvc/")}
            steps.append((done.returncode, hint_shape(done.stdout), _words(done.stderr), state))
        out[who] = steps
    return out


@pytest.mark.parametrize("index", range(len(STEPS)), ids=[" ".join(s) for s in STEPS])
def test_step_matches_dvc(runs: dict, index: int) -> None:
    ours, theirs = runs["ours"][index], runs["dvc"][index]
    assert ours[:3] == theirs[:3]
    mine, dvcs = ours[3], theirs[3]
    differing = [k for k in sorted(set(mine) | set(dvcs)) if mine.get(k) != dvcs.get(k)]
    assert [(k, mine.get(k), dvcs.get(k)) for k in differing] == []


def test_move_never_overwrites_an_untracked_file(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"a": "a\n", "precious": "mine\n"})
    assert pd(root, "add", "a").returncode == 0
    before = tree_state(root)
    done = pd(root, "move", "a", "precious")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ERROR: failed to move 'a' -> 'precious' - 'precious' already exists. "
        "Remove it or choose another destination."
    )
    assert tree_state(root) == before


def test_remove_refuses_a_generated_stage_as_dvc(tmp_path: Path) -> None:
    pipeline = (
        "stages:\n  c:\n    foreach: [1, 2]\n    do:\n      cmd: echo ${item} > o${item}\n"
        "      outs:\n      - o${item}\n"
    )
    root = make_repo(tmp_path / "repo", {"dvc.yaml": pipeline})
    expected = dvc(root, "remove", "c@1")
    got = pd(root, "remove", "c@1")
    assert (
        (got.returncode, got.stderr)
        == (expected.returncode, expected.stderr)
        == (
            1,
            "ERROR: cannot remove a parametrized stage: 'c@1'\n",
        )
    )
    assert (root / "dvc.yaml").read_text() == pipeline
