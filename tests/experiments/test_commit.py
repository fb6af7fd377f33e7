"""Experiment commits made with a private index, on real repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import dvc_bin, gen, git

from prefect_dvc.errors import ExperimentExistsError, GitError
from prefect_dvc.experiments.commit import commit_experiment, workspace_changes
from prefect_dvc.experiments.refs import ExpRef


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """``git_repo`` plus tracked files, a .gitignore, and a second commit."""
    gen(
        git_repo,
        {
            "params.yaml": "lr: 0.1\n",
            "dvc.lock": "schema: '2.0'\n",
            "gone.txt": "to be deleted\n",
            "data/keep.txt": "keep\n",
            "data/drop.txt": "drop\n",
            ".gitignore": "/model.pt\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "baseline")
    return git_repo


def _tree(root: Path, rev: str) -> dict[str, str]:
    """path -> content of every file in ``rev``."""
    names = git(root, "ls-tree", "-r", "--name-only", rev).splitlines()
    return {n: git(root, "show", f"{rev}:{n}") for n in names}


def _snapshot(root: Path) -> dict[str, object]:
    """Everything of the user's a commit must not touch, byte for byte."""
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    dot_git = root / ".git"
    # NOTE: `git status` may refresh the index's stat data, so it runs first
    # and the index bytes are compared separately, with no git call between.
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return {
        "files": files,
        "HEAD": (dot_git / "HEAD").read_bytes(),
        "main": git(root, "rev-parse", "refs/heads/main"),
        "stash": git(root, "stash", "list"),
        "status": status,
    }


def test_commit_tree_parent_message_identity_and_ref(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    gen(repo, {"params.yaml": "lr: 0.2\n", "metrics.json": '{"acc": 1}\n', "model.pt": "bin"})
    (repo / "gone.txt").unlink()
    paths = ["params.yaml", "metrics.json", "gone.txt", "model.pt"]
    sha = commit_experiment(
        repo, baseline=base, name="lr02", paths=paths, message="dvc: commit experiment abc"
    )
    exp = ExpRef(base, "lr02")
    assert git(repo, "rev-parse", exp.ref) == sha
    assert git(repo, "rev-list", "--parents", "-n1", sha) == f"{sha} {base}"
    expected = _tree(repo, base)
    del expected["gone.txt"]
    expected |= {"params.yaml": "lr: 0.2", "metrics.json": '{"acc": 1}', "model.pt": "bin"}
    assert _tree(repo, sha) == expected  # model.pt is gitignored: -f adds it when named
    raw = subprocess.run(["git", "cat-file", "commit", sha], cwd=repo, capture_output=True)
    assert raw.stdout.endswith(b"\n\ndvc: commit experiment abc")  # no newline, as DVC
    assert git(repo, "log", "-1", "--format=%an <%ae> %cn <%ce>", sha) == (
        "Test User <test@example.com> Test User <test@example.com>"
    )


def test_user_head_branch_index_stash_and_files_survive(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    gen(repo, {"gone.txt": "stashed edit\n"})
    git(repo, "stash", "-q")
    gen(repo, {"data/keep.txt": "staged edit\n"})
    git(repo, "add", "data/keep.txt")
    gen(repo, {"data/keep.txt": "staged edit\nand a later unstaged one\n"})
    gen(repo, {"params.yaml": "lr: 0.5\n", "notes.txt": "untracked\n"})
    before = _snapshot(repo)
    index = (repo / ".git" / "index").read_bytes()
    sha = commit_experiment(
        repo, baseline=base, name="x", paths=workspace_changes(repo), message="m"
    )
    assert (repo / ".git" / "index").read_bytes() == index
    assert _snapshot(repo) == before
    assert _tree(repo, sha)["data/keep.txt"] == "staged edit\nand a later unstaged one"
    assert _tree(repo, sha)["notes.txt"] == "untracked"


def test_workspace_changes_lists_what_differs_from_head(repo: Path) -> None:
    gen(repo, {"params.yaml": "lr: 9\n", "new.txt": "n", "model.pt": "ignored"})
    gen(repo, {"staged.txt": "s", ".dvc/tmp/repro.dat": "pickle", ".dvc/tmp/exps/x": "y"})
    git(repo, "add", "staged.txt")
    (repo / "gone.txt").unlink()
    assert workspace_changes(repo) == ["gone.txt", "new.txt", "params.yaml", "staged.txt"]


def test_dvc_tmp_is_never_committed(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    (repo / ".dvc" / ".gitignore").write_text("")  # even when not ignored
    gen(repo, {".dvc/tmp/repro.dat": "pickle", ".dvc/config": "[core]\n"})
    assert workspace_changes(repo) == [".dvc/.gitignore", ".dvc/config"]
    sha = commit_experiment(
        repo, baseline=base, name="x", paths=[".dvc", ".dvc/tmp/repro.dat"], message="m"
    )
    tree = _tree(repo, sha)
    assert ".dvc/config" in tree and not any(p.startswith(".dvc/tmp") for p in tree)


def test_directories_missing_paths_and_odd_names(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    (repo / "data" / "drop.txt").unlink()
    gen(repo, {"data/new.txt": "new", "we*ird [name].txt": "odd", "weX.txt": "not me"})
    sha = commit_experiment(
        repo,
        baseline=base,
        name="x",
        paths=["data", "never-existed.txt", "./we*ird [name].txt"],
        message="m",
    )
    tree = _tree(repo, sha)
    assert {p for p in tree if p.startswith("data/")} == {"data/keep.txt", "data/new.txt"}
    assert tree["we*ird [name].txt"] == "odd" and "weX.txt" not in tree


def test_checkpoint_chain_of_three(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    shas: list[str] = []
    for step in range(3):
        gen(repo, {"params.yaml": f"step: {step}\n"})
        shas.append(
            commit_experiment(
                repo,
                baseline=base,
                name="ck",
                paths=["params.yaml"],
                message=f"checkpoint {step}",
                parent=shas[-1] if shas else None,
            )
        )
    ref = ExpRef(base, "ck").ref
    assert git(repo, "rev-list", "--first-parent", f"{base}..{ref}").split() == shas[::-1]
    for child, parent in zip(shas[1:], shas[:-1]):
        assert git(repo, "rev-parse", f"{child}^@") == parent
    assert [_tree(repo, s)["params.yaml"] for s in shas] == [f"step: {i}" for i in range(3)]


def test_existing_name_is_refused_and_kept_unless_force(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    first = commit_experiment(repo, baseline=base, name="dup", paths=[], message="one")
    with pytest.raises(ExperimentExistsError) as exc:
        commit_experiment(repo, baseline="HEAD", name="dup", paths=[], message="two")
    assert str(exc.value) == (
        f"experiment 'dup' already exists for baseline {base[:7]}. "
        "Use -f to overwrite or -n to pick another name."
    )
    ref = ExpRef(base, "dup").ref
    assert git(repo, "rev-parse", ref) == first
    # a parent that is not the ref's tip is no continuation either
    other = commit_experiment(repo, baseline=base, name="other", paths=[], message="o")
    with pytest.raises(ExperimentExistsError):
        commit_experiment(repo, baseline=base, name="dup", paths=[], message="3", parent=other)
    assert git(repo, "rev-parse", ref) == first
    forced = commit_experiment(repo, baseline=base, name="dup", paths=[], message="2", force=True)
    assert forced != first and git(repo, "rev-parse", ref) == forced


def test_concurrent_writers_cannot_overwrite_each_other(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    barrier = threading.Barrier(4)

    def attempt(i: int) -> str | ExperimentExistsError:
        barrier.wait()
        try:
            return commit_experiment(repo, baseline=base, name="race", paths=[], message=str(i))
        except ExperimentExistsError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    won = [r for r in results if isinstance(r, str)]
    assert len(won) == 1
    assert all("already exists" in str(r) for r in results if not isinstance(r, str))
    assert git(repo, "rev-parse", ExpRef(base, "race").ref) == won[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "'bad name' is not a valid experiment name: it contains ' '"),
        ({"paths": ["../outside"]}, "../outside: cannot commit '../outside': it is not a path"),
        ({"paths": [".git/config"]}, ".git/config: cannot commit '.git/config'"),
        ({"baseline": "nope"}, "'nope' is not a commit in"),
        ({"parent": "HEAD~1"}, "does not descend from baseline"),
    ],
)
def test_bad_arguments_change_nothing(repo: Path, kwargs: dict, message: str) -> None:
    args = {"baseline": "HEAD", "name": "ok", "paths": ["params.yaml"], "message": "m"}
    before = _snapshot(repo)
    objects = git(repo, "count-objects")
    with pytest.raises(GitError) as exc:
        commit_experiment(repo, **(args | kwargs))
    assert message in str(exc.value)
    assert git(repo, "for-each-ref", "refs/exps") == ""
    assert _snapshot(repo) == before and git(repo, "count-objects") == objects


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(GitError, match="has no commits yet. Make a first commit"):
        workspace_changes(tmp_path)


@pytest.mark.dvc_interop
def test_real_dvc_lists_our_experiment(tmp_path: Path) -> None:
    dvc = dvc_bin()
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run([dvc, "init", "-q"], cwd=root, check=True)
    gen(
        root,
        {
            "params.yaml": "lr: 0.1\n",
            "metrics.json": '{"acc": 0.5}\n',
            "dvc.yaml": "stages:\n  train:\n    cmd: 'true'\n    params: [lr]\n"
            "    metrics: [{metrics.json: {cache: false}}]\n",
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    gen(root, {"params.yaml": "lr: 0.2\n", "metrics.json": '{"acc": 0.7}\n'})
    sha = commit_experiment(
        root, baseline=base, name="ours", paths=workspace_changes(root), message="dvc: m"
    )
    git(root, "checkout", "-q", "--", ".")
    listed = subprocess.run(
        [dvc, "exp", "list", "--names-only"], cwd=root, capture_output=True, text=True
    )
    assert listed.stdout.split() == ["ours"], listed.stderr
    shown = subprocess.run(
        [dvc, "exp", "show", "--json"], cwd=root, capture_output=True, text=True, check=True
    )
    baseline = next(e for e in json.loads(shown.stdout) if e["rev"] == base)
    (exp,) = baseline["experiments"]
    assert exp["name"] == "ours" and [r["rev"] for r in exp["revs"]] == [sha]
    data = exp["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"] == {"lr": 0.2}
    assert data["metrics"]["metrics.json"]["data"] == {"acc": 0.7}
    shutil.rmtree(root / ".dvc" / "tmp", ignore_errors=True)
