"""``exp list`` prints what ``dvc exp list`` (DVC 3.67.1) prints, byte for byte.

Experiment refs are made with plain Git (``refs/exps/<sha[:2]>/<sha[2:]>/<name>``
pointing at a commit), which is all ``dvc exp list`` reads; both tools then
list the same repository with the same arguments.

DVC's order of baselines and of experiments changes from run to run (it
walks a set of refs), so outputs are compared as groups: the same header
lines, each with the same experiment lines, byte for byte; ours is in
ref-name order, always.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.dvc_interop


def _exp(root: Path, baseline: str, name: str, text: str) -> str:
    """An experiment commit on ``baseline`` and its ref; returns the commit SHA."""
    blob_tree = git(root, "rev-parse", f"{baseline}^{{tree}}").strip()
    sha = git(root, "commit-tree", blob_tree, "-p", baseline, "-m", text).strip()
    git(root, "update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}", sha)
    return sha


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """``main`` (two commits, the first tagged ``v1``) with experiments on both."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, {"params.yaml": "lr: 1\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    first = git(root, "rev-parse", "HEAD").strip()
    git(root, "tag", "v1")
    gen(root, {"params.yaml": "lr: 2\n"})
    git(root, "commit", "-q", "-am", "two")
    second = git(root, "rev-parse", "HEAD").strip()
    for name in ("zeta", "alpha", "mid-exp"):
        _exp(root, second, name, name)
    _exp(root, first, "old-exp", "old")
    git(root, "branch", "side", first)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "refs/exps/*:refs/exps/*")
    return root


CASES = {
    "head": [],
    "all-commits": ["-A"],
    "name-only": ["--name-only"],
    "names-only-all": ["--names-only", "-A"],
    "sha-only-all": ["--sha-only", "-A"],
    "git-remote": ["origin"],
    "git-remote-all": ["origin", "-A"],
}


def _groups(out: str) -> dict[str, list[str]]:
    """``{header line: sorted member lines}``; bare lines (``--name-only``) under ``""``."""
    groups: dict[str, list[str]] = {}
    header = ""
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith("\t"):
            header = line
            groups.setdefault(header, [])
        else:
            groups.setdefault(header, []).append(line)
    return {key: sorted(lines) for key, lines in groups.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_exp_list_matches_dvc(repo: Path, cli, case: str) -> None:
    args = CASES[case]
    theirs = run_dvc(repo, "exp", "list", *args)
    ours = cli(repo, "exp", "list", *args)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.code == 0, ours.err
    assert ours.out.endswith("\n") and theirs.stdout.endswith("\n")
    assert _groups(ours.out) == _groups(theirs.stdout)
    assert sorted(ours.out.splitlines()) == sorted(theirs.stdout.splitlines())


@pytest.mark.parametrize("checkout", ["v1", "side"])
def test_baseline_named_as_dvc_names_it(repo: Path, cli, checkout: str) -> None:
    """Detached at a tag: the tag; on another branch: that branch (``describe``)."""
    git(repo, "checkout", "-q", checkout)
    theirs = run_dvc(repo, "exp", "list")
    ours = cli(repo, "exp", "list")
    assert ours.out == theirs.stdout
    assert ours.out.splitlines()[0] == f"{checkout}:"


def test_no_experiments_prints_nothing(repo: Path, cli) -> None:
    gen(repo, {"params.yaml": "lr: 3\n"})
    git(repo, "commit", "-q", "-am", "three")
    assert run_dvc(repo, "exp", "list").stdout == ""
    assert cli(repo, "exp", "list").out == ""
