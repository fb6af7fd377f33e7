"""``status`` of ``.dvc`` files: byte for byte what real ``dvc status`` prints on the same repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen
from tracked_twins import dvc, make_repo, pd

PIPELINE = """stages:
  s1:
    cmd: cat a > s1.txt
    deps: [a]
    outs: [s1.txt]
  s2:
    cmd: cat d/x > s2.txt
    deps: [d/x]
    outs: [s2.txt]
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data added by us, a pipeline run by DVC, then changes of every kind."""
    root = make_repo(
        tmp_path_factory.mktemp("status") / "repo",
        {"a": "a\n", "b": "b\n", "c": "c\n", "d/x": "1\n", "sub/z": "z\n", "e": "e\n"},
    )
    assert pd(root, "add", "a", "d", "b", "sub/z", "e").returncode == 0
    assert pd(root, "add", "--no-commit", "c").returncode == 0
    gen(root, {"dvc.yaml": PIPELINE})
    assert dvc(root, "repro", "-q").returncode == 0
    gen(root, {"a": "2\n", "d/y": "3\n"})
    (root / "b").unlink()
    (root / "sub" / "z").unlink()
    return root


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--json"],
        ["a.dvc"],
        ["d"],
        ["s2"],
        ["a", "s1"],
        ["b.dvc", "--json"],
    ],
)
def test_status_matches_dvc(repo: Path, args: list[str]) -> None:
    theirs, ours = dvc(repo, "status", *args), pd(repo, "status", *args)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_status_from_a_sub_folder_shows_paths_from_there(repo: Path) -> None:
    theirs, ours = dvc(repo / "sub", "status", "z.dvc"), pd(repo / "sub", "status", "z.dvc")
    assert ours.stdout == theirs.stdout
    assert "deleted:            z" in ours.stdout


def test_not_in_cache_wins_over_workspace_state(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"a": "a\n", "d/x": "1\n", "d/y": "2\n", "gone": "g\n"})
    assert pd(root, "add", "a", "d", "gone").returncode == 0
    (root / "gone").unlink()
    objects = root / ".dvc" / "cache" / "files" / "md5"
    # a directory whose manifest is there but one file is not is "not in cache" too
    (objects / "26" / "ab0db90d72e28ad0ba1e22ee510510").unlink()
    (objects / "60").exists() and shutil.rmtree(objects / "60")
    for args in ([], ["--json"]):
        theirs, ours = dvc(root, "status", *args), pd(root, "status", *args)
        assert ours.stdout == theirs.stdout
    assert "not in cache:       d" in pd(root, "status").stdout


def test_only_dvc_files_is_not_an_empty_project(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"a": "a\n"})
    assert pd(root, "add", "a").returncode == 0
    ours = pd(root, "status")
    assert ours.stdout == dvc(root, "status").stdout == "Data and pipelines are up to date.\n"
