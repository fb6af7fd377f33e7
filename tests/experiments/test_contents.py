"""experiment_paths: DVC's file set for an experiment commit, on real Git repositories."""

from __future__ import annotations

from pathlib import Path

from helpers import gen, git

from prefect_dvc.experiments.contents import experiment_paths
from prefect_dvc.translators import load_pipeline

DVCYAML = """\
stages:
  prep:
    cmd: cp raw/in.txt data.txt && echo r > report.txt
    deps:
    - raw
    outs:
    - data.txt
    - report.txt:
        cache: false
  train:
    cmd: cp data.txt sub/model.txt
    deps:
    - data.txt
    - sub/code.py
    params:
    - conf.yaml:
      - lr
    outs:
    - sub/model.txt
params:
- top.yaml
"""


def test_only_changed_tracked_files_and_the_pipelines_own_untracked_files(
    git_repo: Path,
) -> None:
    gen(git_repo, {"dvc.yaml": DVCYAML, "tracked.txt": "a\n", "gone.txt": "b\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "base")
    gen(
        git_repo,
        {
            "tracked.txt": "changed\n",
            "raw/in.txt": "x\n",
            "data.txt": "x\n",  # a cached out nobody ignored: DVC-tracked, not a Git file
            "report.txt": "r\n",
            "sub/code.py": "pass\n",
            "sub/model.txt": "x\n",
            "sub/.gitignore": "/model.txt\n",
            "conf.yaml": "lr: 1\n",
            "top.yaml": "a: 1\n",
            "dvc.lock": "schema: '2.0'\n",
            "notes.txt": "private\n",
            ".env": "X=1\n",
            "sub/scratch.txt": "no\n",
            ".dvc/tmp/repro.dat": "pickle\n",
        },
    )
    (git_repo / "gone.txt").unlink()
    paths = experiment_paths(git_repo, load_pipeline(git_repo))
    assert paths == [
        "conf.yaml",
        "dvc.lock",
        "gone.txt",
        "raw/in.txt",
        "report.txt",
        "sub/.gitignore",
        "sub/code.py",
        "top.yaml",
        "tracked.txt",
    ]


def test_git_ignored_deps_stay_out(git_repo: Path) -> None:
    gen(git_repo, {"dvc.yaml": DVCYAML, ".gitignore": "*.log\n/conf.yaml\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "base")
    gen(git_repo, {"raw/in.txt": "x\n", "raw/run.log": "log\n", "conf.yaml": "lr: 1\n"})
    assert experiment_paths(git_repo, load_pipeline(git_repo)) == ["raw/in.txt"]
