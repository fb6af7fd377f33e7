"""apply / branch / remove / rename on real repositories (and a bare Git remote)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import dvc_bin, gen, git

from prefect_dvc.errors import (
    ExperimentExistsError,
    ExperimentNotFoundError,
    GitError,
    UnsafePathError,
)
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.manage import (
    apply_experiment,
    branch_experiment,
    remove_experiments,
    rename_experiment,
)
from prefect_dvc.experiments.refs import ExpRef


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """A baseline with files, and experiment ``exp1`` that edits, adds and deletes."""
    gen(git_repo, {"params.yaml": "lr: 0.1\n", "old.txt": "old\n", "keep.txt": "keep\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "baseline")
    gen(git_repo, {"params.yaml": "lr: 0.2\n", "sub/metrics.json": "{}\n"})
    (git_repo / "old.txt").unlink()
    commit_experiment(
        git_repo,
        baseline="HEAD",
        name="exp1",
        paths=["params.yaml", "sub/metrics.json", "old.txt"],
        message="exp1",
    )
    git(git_repo, "checkout", "-q", "--", ".")
    (git_repo / "sub" / "metrics.json").unlink()
    (git_repo / "sub").rmdir()
    return git_repo


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _state(root: Path) -> tuple[object, ...]:
    return (
        _files(root),
        git(root, "rev-parse", "HEAD"),
        git(root, "symbolic-ref", "HEAD"),
        git(root, "ls-files", "-s"),
        git(root, "for-each-ref"),
    )


# --- apply --------------------------------------------------------------------------


def test_apply_writes_the_experiment_as_uncommitted_changes(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    gen(repo, {"notes.txt": "my untracked notes\n"})
    index = git(repo, "ls-files", "-s")
    changed = apply_experiment(repo, "exp1")
    assert changed == ["old.txt", "params.yaml", "sub/metrics.json"]
    assert (repo / "params.yaml").read_text() == "lr: 0.2\n"
    assert (repo / "sub" / "metrics.json").read_text() == "{}\n"
    assert not (repo / "old.txt").exists()
    assert (repo / "notes.txt").read_text() == "my untracked notes\n"
    assert (repo / "keep.txt").read_text() == "keep\n"
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "ls-files", "-s") == index
    # applying again finds nothing left to do and is no conflict
    assert apply_experiment(repo, "exp1") == []


def test_apply_refuses_to_overwrite_user_changes_and_changes_nothing(repo: Path) -> None:
    gen(repo, {"params.yaml": "lr: 0.7  # mine\n", "sub/metrics.json": "untracked, mine\n"})
    before = _state(repo)
    with pytest.raises(GitError) as exc:
        apply_experiment(repo, "exp1")
    assert str(exc.value) == (
        "cannot apply experiment 'exp1': it would overwrite your uncommitted changes to "
        "params.yaml, sub/metrics.json. "
        "Commit or stash them ('git stash'), or use -f to overwrite them."
    )
    assert _state(repo) == before
    assert apply_experiment(repo, "exp1", force=True) == [
        "old.txt",
        "params.yaml",
        "sub/metrics.json",
    ]
    assert (repo / "params.yaml").read_text() == "lr: 0.2\n"


def test_apply_counts_a_deleted_file_as_a_user_change(repo: Path) -> None:
    (repo / "params.yaml").unlink()
    with pytest.raises(GitError, match="changes to params.yaml"):
        apply_experiment(repo, "exp1")
    assert not (repo / "params.yaml").exists() and (repo / "old.txt").exists()


def test_apply_writes_symlinks_and_the_executable_bit(repo: Path) -> None:
    gen(repo, {"run.sh": "#!/bin/sh\n"})
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("keep.txt")
    commit_experiment(repo, baseline="HEAD", name="modes", paths=["run.sh", "link"], message="m")
    (repo / "run.sh").unlink()
    (repo / "link").unlink()
    assert apply_experiment(repo, "modes") == ["link", "run.sh"]
    assert os.readlink(repo / "link") == "keep.txt"
    assert os.access(repo / "run.sh", os.X_OK)
    assert apply_experiment(repo, "modes") == []


def test_apply_unknown_experiment(repo: Path) -> None:
    before = _state(repo)
    with pytest.raises(ExperimentNotFoundError, match="experiment 'nope' not found. Run 'prefect"):
        apply_experiment(repo, "nope")
    assert _state(repo) == before


# --- branch -------------------------------------------------------------------------


def test_branch_points_at_the_experiment_with_a_reflog(repo: Path) -> None:
    tip = git(repo, "rev-parse", ExpRef(git(repo, "rev-parse", "HEAD"), "exp1").ref)
    assert branch_experiment(repo, "exp1", "exp1-work") == tip
    assert git(repo, "rev-parse", "refs/heads/exp1-work") == tip
    assert git(repo, "reflog", "--format=%gs", "exp1-work") == (
        "prefect-dvc: Created from experiment 'exp1'"
    )
    assert branch_experiment(repo, "exp1") == tip
    assert git(repo, "rev-parse", "refs/heads/exp1-branch") == tip
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ("main", "branch 'main' already exists. Pick another branch name, or delete it first"),
        ("bad..name", "'bad..name' is not a valid branch name. Pick a name 'git branch' accepts"),
    ],
)
def test_branch_errors_change_nothing(repo: Path, branch: str, message: str) -> None:
    before = _state(repo)
    with pytest.raises(GitError) as exc:
        branch_experiment(repo, "exp1", branch)
    assert message in str(exc.value)
    assert _state(repo) == before


# --- remove / rename ------------------------------------------------------------------


def _make(repo: Path, name: str) -> ExpRef:
    commit_experiment(repo, baseline="HEAD", name=name, paths=[], message=name)
    return ExpRef(git(repo, "rev-parse", "HEAD"), name)


def test_remove_named_then_all(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    two, three = _make(repo, "two"), _make(repo, "three")
    git(repo, "update-ref", "refs/exps/exec/EXEC_HEAD", base)
    assert remove_experiments(repo, ["two", "two"]) == [two]
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").split() == sorted(
        [ExpRef(base, "exp1").ref, three.ref, "refs/exps/exec/EXEC_HEAD"]
    )
    assert {e.name for e in remove_experiments(repo, all_=True)} == {"exp1", "three"}
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/exps") == (
        "refs/exps/exec/EXEC_HEAD"
    )


def test_remove_with_one_unknown_name_removes_nothing(repo: Path) -> None:
    _make(repo, "two")
    refs = git(repo, "for-each-ref")
    with pytest.raises(ExperimentNotFoundError, match="experiment 'ghost' not found"):
        remove_experiments(repo, ["two", "ghost"])
    with pytest.raises(GitError, match="no experiments to remove were named. Name the"):
        remove_experiments(repo)
    assert git(repo, "for-each-ref") == refs


def test_remove_on_a_git_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    _make(repo, "two")
    git(repo, "push", "-q", str(remote), "refs/exps/*:refs/exps/*")
    local = git(repo, "for-each-ref", "refs/exps")
    with pytest.raises(ExperimentNotFoundError) as exc:
        remove_experiments(repo, ["exp1", "ghost"], git_remote=str(remote))
    assert f"experiment 'ghost' not found on Git remote '{remote}'" in str(exc.value)
    assert f"git ls-remote {remote} refs/exps/*" in str(exc.value)
    assert len(git(remote, "for-each-ref", "refs/exps").splitlines()) == 2
    removed = remove_experiments(repo, ["exp1"], git_remote=str(remote))
    assert [e.name for e in removed] == ["exp1"]
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/exps").endswith("/two")
    assert git(repo, "for-each-ref", "refs/exps") == local  # local refs untouched


def test_rename_keeps_commit_and_baseline(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    tip = git(repo, "rev-parse", ExpRef(base, "exp1").ref)
    assert rename_experiment(repo, "exp1", "better") == ExpRef(base, "better")
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps") == (
        f"{ExpRef(base, 'better').ref} {tip}"
    )


def test_rename_onto_existing_name_needs_force(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    _make(repo, "taken")
    refs = git(repo, "for-each-ref", "refs/exps")
    with pytest.raises(ExperimentExistsError) as exc:
        rename_experiment(repo, "exp1", "taken")
    assert str(exc.value) == (
        f"experiment 'taken' already exists for baseline {base[:7]}. "
        "Use -f to overwrite or pick another name."
    )
    with pytest.raises(GitError, match="'a/b' is not a valid experiment name"):
        rename_experiment(repo, "exp1", "a/b")
    assert git(repo, "for-each-ref", "refs/exps") == refs
    tip = git(repo, "rev-parse", ExpRef(base, "exp1").ref)
    rename_experiment(repo, "exp1", "taken", force=True)
    assert git(repo, "for-each-ref", "--format=%(objectname)", "refs/exps") == tip


@pytest.mark.dvc_interop
def test_real_dvc_applies_and_branches_our_experiment(repo: Path) -> None:
    dvc = dvc_bin()
    subprocess.run([dvc, "init", "-q", "-f"], cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dvc init")
    gen(repo, {"params.yaml": "lr: 0.3\n"})
    commit_experiment(repo, baseline="HEAD", name="ours", paths=["params.yaml"], message="m")
    git(repo, "checkout", "-q", "--", ".")
    subprocess.run([dvc, "exp", "branch", "ours", "from-dvc"], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip
    assert git(repo, "show", "from-dvc:params.yaml") == "lr: 0.3"
    subprocess.run([dvc, "exp", "apply", "ours"], cwd=repo, check=True, capture_output=True)
    assert (repo / "params.yaml").read_text() == "lr: 0.3\n"


# --- apply never reaches outside through a symlinked folder --------------------------


def _outside_state(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir()}


@pytest.mark.parametrize("what", ["write", "delete"])
def test_apply_refuses_paths_behind_a_symlink_leaving_the_repository(
    git_repo: Path, what: str
) -> None:
    gen(git_repo, {"d/x.txt": "base\n", "keep.txt": "keep\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "baseline")
    if what == "write":
        gen(git_repo, {"d/x.txt": "experiment\n"})
    else:
        (git_repo / "d" / "x.txt").unlink()
    commit_experiment(git_repo, baseline="HEAD", name="e", paths=["d/x.txt"], message="e")
    git(git_repo, "checkout", "-q", "--", ".")
    outside = git_repo.parent / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("base\n")  # same bytes as HEAD: no user change
    for item in (git_repo / "d").iterdir():
        item.unlink()
    (git_repo / "d").rmdir()
    (git_repo / "d").symlink_to(outside)
    before, outside_before = _state(git_repo), _outside_state(outside)
    with pytest.raises(UnsafePathError, match="d/x.txt.*symlink"):
        apply_experiment(git_repo, "e", force=True)
    assert _state(git_repo) == before
    assert _outside_state(outside) == outside_before
