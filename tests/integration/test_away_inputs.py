"""Queued runs get the one input set of away-runs, through the real CLI.

The queued run reads an untracked code file, an ignored folder named with
``-C/--copy-paths`` and the DVC-tracked out of an up-to-date stage; that
stage must not run again in the clone (its out is checked out from the
shared cache), even with ``--no-run-cache``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

pytestmark = pytest.mark.prefect


def pipeline(counter: Path) -> dict[str, str]:
    return {
        "dvc.yaml": f"""\
stages:
  prep:
    cmd: echo run >> {counter} && echo prepared > prep.out
    deps:
    - raw.txt
    outs:
    - prep.out
  train:
    cmd: cat prep.out src/code.txt big/input.txt > result.txt
    deps:
    - prep.out
    - src/code.txt
    outs:
    - result.txt:
        cache: false
""",
        "raw.txt": "raw\n",
        ".gitignore": "/big\n",
    }


def test_queued_run_sees_untracked_files_copy_paths_and_tracked_data(
    git_repo: Path, cli, tmp_path: Path
) -> None:
    counter = tmp_path / "prep-runs.txt"
    gen(git_repo, pipeline(counter))
    gen(git_repo, {"src/code.txt": "code\n", "big/input.txt": "big\n"})
    ran = cli(git_repo, "repro", "prep")
    assert ran.code == 0, ran.err + ran.out
    git(git_repo, "add", "dvc.yaml", "dvc.lock", "raw.txt", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "pipeline")

    bad = cli(git_repo, "exp", "run", "--queue", "-C", "nope")
    assert bad.code != 0
    assert "--copy-paths 'nope' does not exist" in bad.err + bad.out
    assert cli(git_repo, "queue", "status", "--json").out.strip() == "[]"

    queued = cli(git_repo, "exp", "run", "--queue", "-n", "away", "-C", "big", "--no-run-cache")
    assert queued.code == 0, queued.err + queued.out
    started = cli(git_repo, "queue", "start")
    assert started.code == 0, started.err + started.out + cli(git_repo, "queue", "logs", "away").out
    [ref] = git(git_repo, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    assert ref.endswith("/away")
    assert git(git_repo, "show", f"{ref}:result.txt") == "prepared\ncode\nbig"
    files = set(git(git_repo, "ls-tree", "-r", "--name-only", ref).split())
    assert "src/code.txt" in files and "big/input.txt" not in files
    assert counter.read_text() == "run\n"  # prep ran once, in the workspace
