"""The one input set of away-runs (experiments/inputs.py), on real Git repos and real DVC data."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.errors import ConfigError
from prefect_dvc.experiments.inputs import check_copy_paths, place_inputs

DVCYAML = """\
stages:
  prep:
    cmd: echo prepared > prep.out
    deps:
    - raw.txt
    outs:
    - prep.out
"""


@pytest.fixture
def workspace(git_repo: Path) -> Path:
    gen(
        git_repo,
        {
            "dvc.yaml": DVCYAML,
            "raw.txt": "raw\n",
            "params.yaml": "lr: 1\n",
            "gone.txt": "old\n",
            ".gitignore": "*.log\n/big\n",
        },
    )
    done = run_dvc(git_repo, "repro")  # real DVC puts prep.out in the cache and dvc.lock
    assert done.returncode == 0, done.stderr
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    gen(
        git_repo,
        {
            "params.yaml": "lr: 2\n",
            "src/new.py": "print(1)\n",
            "debug.log": "ignored\n",
            "big/data/part-0": "ignored but named with -C\n",
            "big/other": "also copied\n",
        },
    )
    git(git_repo, "rm", "-q", "--cached", "gone.txt")
    (git_repo / "gone.txt").unlink()
    return git_repo


def clone_at_head(root: Path, dest: Path) -> Path:
    git(root, "clone", "-q", "--no-checkout", "--shared", str(root), str(dest))
    git(dest, "checkout", "-q", "--detach", git(root, "rev-parse", "HEAD"))
    return dest


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in (".git", ".dvc")
    }


def test_clone_gets_changes_untracked_files_copy_paths_and_dvc_tracked_data(
    workspace: Path, tmp_path: Path
) -> None:
    dest = clone_at_head(workspace, tmp_path / "clone")
    assert not (dest / "prep.out").exists()
    place_inputs(workspace, dest, check_copy_paths(workspace, ["big"]))
    assert files(dest) == {
        ".gitignore": "*.log\n/big\n/prep.out\n",
        "dvc.lock": (workspace / "dvc.lock").read_text(),
        "dvc.yaml": DVCYAML,
        "raw.txt": "raw\n",
        "params.yaml": "lr: 2\n",
        "src/new.py": "print(1)\n",
        "big/data/part-0": "ignored but named with -C\n",
        "big/other": "also copied\n",
        "prep.out": "prepared\n",
    }
    config = (dest / ".dvc" / "config.local").read_text()
    assert str((workspace / ".dvc" / "cache").resolve()) in config
    # DVC itself finds the clone up to date: the tracked data is the locked version
    status = run_dvc(dest, "status", "--json")
    assert status.stdout.strip() in ("{}", ""), status.stdout


@pytest.mark.parametrize(
    "given,says",
    [
        ("missing.txt", "--copy-paths 'missing.txt' does not exist"),
        ("../outside", "is not a path inside the repository"),
        (".git/config", "is not a path inside the repository"),
        (".dvc/tmp", "is not a path inside the repository"),
    ],
)
def test_bad_copy_paths_are_refused_with_the_path(git_repo: Path, given: str, says: str) -> None:
    gen(git_repo, {".dvc/tmp/x": "", "outside": ""})
    with pytest.raises(ConfigError, match=says):
        check_copy_paths(git_repo, [given])


def test_copy_paths_are_relative_to_the_current_folder(git_repo: Path) -> None:
    gen(git_repo, {"big/data/part-0": "x"})
    assert check_copy_paths(git_repo, ["part-0"], cwd=git_repo / "big" / "data") == [
        "big/data/part-0"
    ]
