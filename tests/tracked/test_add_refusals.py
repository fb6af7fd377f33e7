"""What ``dvc add`` refuses, ``prefect-dvc add`` refuses in DVC's words, changing nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tracked_twins import dvc, make_repo, pd, tree_state

FILES = {
    "kept.txt": "k\n",
    "in_git.txt": "tracked by git\n",
    "p/q/f": "f\n",
    "real/r": "r\n",
    "ignored.log": "i\n",
    ".dvcignore": "*.log\n",
    "dvc.yaml": (
        "stages:\n  mk:\n    cmd: mkdir -p out && echo 1 > out/o && echo 2 > single\n"
        "    outs:\n    - out\n    - single\n"
    ),
    "out/o": "1\n",
    "single": "2\n",
}
CASES = {
    "outside": ["../outside.txt"],
    "git folder": [".git/config"],
    "dvc folder": [".dvc/config"],
    "pipeline file": ["dvc.yaml"],
    "dvc file": ["p/q/f.dvc"],
    "missing": ["nothere"],
    "stage out": ["single"],
    "inside stage out": ["out/o"],
    "parent of tracked": ["p"],
    "glob without match": ["--glob", "zz*"],
    "dvcignored": ["ignored.log"],
    "symlinked folder": ["lnk/r"],
    "tracked by git": ["in_git.txt"],
    "out with two targets": ["-o", "dest", "kept.txt", "in_git.txt"],
}


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    roots = []
    for name in ("dvc", "ours"):
        base = tmp_path_factory.mktemp(name)
        root = make_repo(base / "repo", FILES)
        (base / "outside.txt").write_text("o\n")
        os.symlink("real", root / "lnk")
        for args in (["add", "in_git.txt"], ["commit", "-qm", "git file"]):
            assert _git(root, *args) == 0
        assert dvc(root, "add", "p/q/f").returncode == 0
        roots.append(root)
    return roots[0], roots[1]


def _git(root: Path, *args: str) -> int:
    import subprocess

    return subprocess.run(["git", *args], cwd=root, capture_output=True).returncode


def _line(stderr: str) -> str:
    """DVC's multi-line error as our one line: lines joined, runs of spaces as one."""
    return " ".join(stderr.split())


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_as_dvc_refuses(twins: tuple[Path, Path], case: str) -> None:
    theirs, ours = twins
    before = tree_state(ours)
    expected = dvc(theirs, "add", *CASES[case])
    got = pd(ours, "add", *CASES[case])
    assert expected.returncode == 1, expected.stderr
    assert got.returncode == 1, got.stderr
    assert len(got.stderr.strip().splitlines()) == 1, got.stderr
    assert _line(got.stderr) == _line(expected.stderr).replace(str(theirs.parent), str(ours.parent))
    assert tree_state(ours) == before


def test_a_missing_target_among_good_ones_changes_nothing(twins: tuple[Path, Path]) -> None:
    _, ours = twins
    before = tree_state(ours)
    got = pd(ours, "add", "kept.txt", "nothere")
    assert got.returncode == 1
    assert "output 'nothere' does not exist" in got.stderr
    assert tree_state(ours) == before
    assert not (ours / "kept.txt.dvc").exists()


def test_a_folder_holding_another_repository_is_refused_before_any_change(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"nested/.git/HEAD": "ref: x\n", "nested/n": "n\n"})
    before = tree_state(root)
    got = pd(root, "add", "nested")
    assert got.returncode == 1
    assert got.stderr.strip() == (
        "ERROR: refusing to track 'nested': it contains '.git', another repository's own "
        "folder. Move the data to a folder of its own"
    )
    assert tree_state(root) == before
    assert not (root / ".dvc" / "cache").exists()


def test_an_unhashable_target_among_good_ones_changes_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"a": "a\n", "d/x": "1\n"})
    os.mkfifo(root / "d" / "fifo")
    before = tree_state(root)
    got = pd(root, "add", "a", "d")
    assert got.returncode == 1
    assert "fifo: cannot hash it: it is not a regular file" in got.stderr
    assert tree_state(root) == before
    assert not (root / "a.dvc").exists()
    assert not (root / ".dvc" / "cache").exists()
