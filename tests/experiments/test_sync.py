"""push / pull of experiment refs between two clones and a bare Git remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import ExperimentNotFoundError, GitError
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.experiments.sync import pull_experiments, push_experiments


@pytest.fixture
def clones(git_repo: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(alice, bob, remote): two clones of one bare remote, both on ``main``."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(git_repo, "remote", "add", "origin", str(remote))
    git(git_repo, "push", "-q", "origin", "main")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(remote), str(bob))
    return git_repo, bob, remote


def _exp(root: Path, name: str, content: str, *, baseline: str = "HEAD") -> str:
    gen(root, {"params.yaml": content})
    sha = commit_experiment(
        root, baseline=baseline, name=name, paths=["params.yaml"], message=name, force=True
    )
    (root / "params.yaml").unlink()
    return sha


def _refs(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
    return dict(line.split(" ") for line in out.splitlines()) if out else {}


def test_push_head_experiments_then_pull_them_in_another_clone(
    clones: tuple[Path, Path, Path],
) -> None:
    alice, bob, remote = clones
    base = git(alice, "rev-parse", "HEAD")
    a1, a2 = _exp(alice, "a1", "lr: 1\n"), _exp(alice, "a2", "lr: 2\n")
    gen(alice, {"other.txt": "x"})
    git(alice, "add", "other.txt")
    git(alice, "commit", "-q", "-m", "other")
    other = _exp(alice, "elsewhere", "lr: 3\n")  # on another baseline: not pushed
    git(alice, "checkout", "-q", "HEAD~1")
    pushed = push_experiments(alice, "origin")
    assert pushed == [ExpRef(base, "a1"), ExpRef(base, "a2")]
    assert _refs(remote) == {ExpRef(base, "a1").ref: a1, ExpRef(base, "a2").ref: a2}
    pulled = pull_experiments(bob, "origin")
    assert pulled == [ExpRef(base, "a1"), ExpRef(base, "a2")]
    assert _refs(bob) == _refs(remote)
    assert git(bob, "show", f"{a2}:params.yaml") == "lr: 2"
    assert pull_experiments(bob, "origin") == []  # nothing moved the second time
    assert other not in _refs(remote).values()


def test_push_and_pull_by_name(clones: tuple[Path, Path, Path]) -> None:
    alice, bob, remote = clones
    base = git(alice, "rev-parse", "HEAD")
    _exp(alice, "a1", "lr: 1\n")
    a2 = _exp(alice, "a2", "lr: 2\n")
    assert push_experiments(alice, str(remote), ["a2"]) == [ExpRef(base, "a2")]
    assert list(_refs(remote)) == [ExpRef(base, "a2").ref]
    push_experiments(alice, "origin", ["a1"])
    assert pull_experiments(bob, "origin", ["a2"]) == [ExpRef(base, "a2")]
    assert _refs(bob) == {ExpRef(base, "a2").ref: a2}


def test_diverged_refs_are_kept_unless_force(clones: tuple[Path, Path, Path]) -> None:
    alice, bob, remote = clones
    ref = ExpRef(git(alice, "rev-parse", "HEAD"), "same").ref
    ours, other = _exp(alice, "same", "lr: 1\n"), _exp(alice, "also", "lr: 5\n")
    push_experiments(alice, "origin")
    theirs = _exp(bob, "same", "lr: 2\n")
    # pull: the diverged local ref stays, and nothing else is fetched either
    with pytest.raises(GitError) as exc:
        pull_experiments(bob, "origin")
    assert "local experiment(s) same differ from the remote ones and were kept" in str(exc.value)
    assert "Use -f to overwrite the local experiments" in str(exc.value)
    assert _refs(bob) == {ref: theirs}
    # push: the remote keeps its ref
    with pytest.raises(GitError, match="Nothing was pushed.*use -f to overwrite it"):
        push_experiments(bob, "origin", ["same"])
    assert _refs(remote)[ref] == ours
    assert push_experiments(bob, "origin", ["same"], force=True) == [ExpRef.parse(ref)]
    assert _refs(remote)[ref] == theirs
    assert pull_experiments(alice, "origin", ["same"], force=True) == [ExpRef.parse(ref)]
    assert _refs(alice)[ref] == theirs and other in _refs(alice).values()


def test_pull_fast_forward_needs_no_force(clones: tuple[Path, Path, Path]) -> None:
    alice, bob, _ = clones
    base = git(alice, "rev-parse", "HEAD")
    first = _exp(alice, "ck", "step: 1\n")
    push_experiments(alice, "origin")
    pull_experiments(bob, "origin")
    gen(alice, {"params.yaml": "step: 2\n"})
    second = commit_experiment(
        alice, baseline=base, name="ck", paths=["params.yaml"], message="2", parent=first
    )
    push_experiments(alice, "origin", ["ck"])
    assert pull_experiments(bob, "origin", ["ck"]) == [ExpRef(base, "ck")]
    assert _refs(bob) == {ExpRef(base, "ck").ref: second}


def test_unknown_names_and_remotes(clones: tuple[Path, Path, Path]) -> None:
    alice, bob, remote = clones
    _exp(alice, "a1", "lr: 1\n")
    with pytest.raises(ExperimentNotFoundError, match="experiment 'nope' not found. Run"):
        push_experiments(alice, "origin", ["a1", "nope"])
    assert _refs(remote) == {}
    with pytest.raises(ExperimentNotFoundError) as exc:
        pull_experiments(bob, "origin", ["a1"])
    assert "experiment 'a1' not found on Git remote 'origin'" in str(exc.value)
    with pytest.raises(GitError) as exc:
        pull_experiments(bob, "no-such-remote")
    text = str(exc.value)
    assert "`git ls-remote --refs --end-of-options no-such-remote 'refs/exps/*'` failed" in text
    assert "Check that 'no-such-remote' is a Git remote ('git remote -v')" in text
    with pytest.raises(GitError, match="`git push --atomic --end-of-options no-such-remote"):
        push_experiments(alice, "no-such-remote")
    assert _refs(bob) == {}
    assert push_experiments(bob, "origin") == []  # bob has no experiments: nothing to do
