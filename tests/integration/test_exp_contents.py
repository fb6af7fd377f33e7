"""Issue #10 §4: an experiment commit holds exactly the files DVC 3 commits.

The same project is run with real ``dvc exp run`` and with ``prefect-dvc
exp run``; both experiment commits must list the same files. The project
has every kind DVC stages on purpose (an untracked code dep, an untracked
data folder dep with an ignored file in it, an uncached metric, a cached out,
top-level metrics and plots files that no stage writes) next to untracked
files nobody declared (``notes.txt``, ``.env``, a log), which stay out.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.prefect

PY = sys.executable

PROJECT = {
    "dvc.yaml": f"""\
stages:
  train:
    cmd: {PY} src/train.py
    deps:
    - src/train.py
    - data
    params:
    - lr
    outs:
    - model.pkl
    metrics:
    - metrics.json:
        cache: false
metrics:
- extra.json
plots:
- curve.csv
""",
    "params.yaml": "lr: 0.1\n",
    ".gitignore": "*.log\n",
}

UNTRACKED = {
    "src/train.py": (
        "import json, yaml\n"
        "lr = yaml.safe_load(open('params.yaml'))['lr']\n"
        "open('model.pkl', 'w').write(str(lr))\n"
        "json.dump({'lr': lr}, open('metrics.json', 'w'))\n"
    ),
    "data/a.csv": "1\n",
    "data/debug.log": "ignored\n",
    "extra.json": '{"x": 1}\n',
    "curve.csv": "step,v\n0,1\n",
    "notes.txt": "my private notes\n",
    ".env": "TOKEN=secret\n",
    "sub/notes.md": "unrelated\n",
}

DVC_SET = {
    ".gitignore",
    ".dvc/.gitignore",
    ".dvc/config",
    "curve.csv",
    "data/a.csv",
    "dvc.lock",
    "dvc.yaml",
    "extra.json",
    "metrics.json",
    "params.yaml",
    "src/train.py",
}


def exp_files(root: Path, name: str) -> set[str]:
    refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    [ref] = [r for r in refs if r.endswith("/" + name) and not r.startswith("refs/exps/exec/")]
    return set(git(root, "ls-tree", "-r", "--name-only", ref).split())


@pytest.fixture
def project(git_repo: Path) -> Path:
    gen(git_repo, PROJECT)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    gen(git_repo, UNTRACKED)
    return git_repo


def test_experiment_commit_holds_dvcs_set_and_no_unrelated_untracked_file(
    project: Path, cli, tmp_path: Path
) -> None:
    reference = tmp_path / "dvc"
    shutil.copytree(project, reference, symlinks=True)
    done = run_dvc(reference, "exp", "run", "-n", "ref")
    assert done.returncode == 0, done.stderr + done.stdout
    assert exp_files(reference, "ref") == DVC_SET

    ran = cli(project, "exp", "run", "-n", "ours")
    assert ran.code == 0, ran.err + ran.out
    assert exp_files(project, "ours") == DVC_SET
    # the user's untracked files are untouched and still untracked
    assert (project / "notes.txt").read_text() == "my private notes\n"
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    assert "?? notes.txt" in status and "?? .env" in status and "?? src/train.py" in status


def test_applying_the_experiment_is_not_refused_over_unrelated_untracked_files(
    project: Path, cli
) -> None:
    ran = cli(project, "exp", "run", "-n", "ours", "-S", "lr=0.5")
    assert ran.code == 0, ran.err + ran.out
    git(project, "checkout", "-q", "--", "params.yaml")
    applied = cli(project, "exp", "apply", "ours")
    assert applied.code == 0, applied.err + applied.out
    assert (project / "params.yaml").read_text() == "lr: 0.5\n"
    assert (project / ".env").read_text() == "TOKEN=secret\n"
