"""``exp save`` records what real ``dvc exp save`` records, without DVC's repro.dat.

A twin of one project (lock made by real DVC 3.67.1) gets the same edits in
both copies; ``dvc exp save`` runs in one, ``prefect-dvc exp save`` in the
other. The experiment commits must hold the same tree (DVC's minus the
pickled ``.dvc/tmp/repro.dat``), the same message and the same parent, and
the workspaces the same ``dvc.lock`` bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import gen, git, run_dvc

TRAIN = """\
import json
lr = float(open("params.yaml").read().split(":")[1])
json.dump({"acc": lr / 10}, open("m.json", "w"))
open("model.bin", "w").write(str(lr))
"""


def _dvc_yaml() -> str:
    return (
        "stages:\n  train:\n"
        f"    cmd: {sys.executable} train.py\n"
        "    deps: [train.py]\n    params: [lr]\n    outs: [model.bin]\n"
        "    metrics:\n    - m.json:\n        cache: false\n"
    )


def _edit(root: Path) -> None:
    gen(root, {"params.yaml": "lr: 2\n", "inc.txt": "included\n", "notes.txt": "left out\n"})
    subprocess.run([sys.executable, "train.py"], cwd=root, check=True)


def _exp_ref(root: Path, name: str) -> str:
    head = git(root, "rev-parse", "HEAD")
    return f"refs/exps/{head[:2]}/{head[2:]}/{name}"


def _tree(root: Path, rev: str) -> list[str]:
    listed = git(root, "ls-tree", "-r", rev).splitlines()
    return [line for line in listed if not line.endswith(".dvc/tmp/repro.dat")]


@pytest.fixture
def twins(git_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    gen(git_repo, {"params.yaml": "lr: 1\n", "train.py": TRAIN, "dvc.yaml": _dvc_yaml()})
    proc = run_dvc(git_repo, "repro")
    assert proc.returncode == 0, proc.stderr
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "base")
    theirs = tmp_path / "theirs"
    shutil.copytree(git_repo, theirs, symlinks=True)
    for root in (git_repo, theirs):
        _edit(root)
    return git_repo, theirs


def test_exp_save_commits_what_dvc_commits(twins: tuple[Path, Path], cli) -> None:
    ours, theirs = twins
    proc = run_dvc(theirs, "exp", "save", "-n", "saved", "-I", "inc.txt")
    assert proc.returncode == 0, proc.stderr
    result = cli(ours, "exp", "save", "-n", "saved", "-I", "inc.txt")
    assert result.code == 0, result.err
    assert result.out == "Experiment has been saved as: saved\n"
    assert "will not be included in the experiment commit:\n\tnotes.txt" in result.err
    ref_ours, ref_theirs = _exp_ref(ours, "saved"), _exp_ref(theirs, "saved")
    assert _tree(ours, ref_ours) == _tree(theirs, ref_theirs)
    assert ".dvc/tmp/repro.dat" in git(theirs, "ls-tree", "-r", "--name-only", ref_theirs)
    message = git(ours, "log", "-1", "--format=%B", ref_ours)
    assert message == git(theirs, "log", "-1", "--format=%B", ref_theirs)
    assert message.startswith("dvc: commit experiment ")
    assert git(ours, "rev-parse", f"{ref_ours}^") == git(ours, "rev-parse", "HEAD")
    assert (ours / "dvc.lock").read_bytes() == (theirs / "dvc.lock").read_bytes()
    assert git(ours, "status", "--porcelain") == git(theirs, "status", "--porcelain")
    lock = yaml.safe_load((ours / "dvc.lock").read_text())
    model = next(o for o in lock["stages"]["train"]["outs"] if o["path"] == "model.bin")
    cached = ours / ".dvc" / "cache" / "files" / "md5" / model["md5"][:2] / model["md5"][2:]
    assert cached.read_text() == "2.0"


def test_exp_save_refuses_a_taken_name_and_changes_nothing(twins: tuple[Path, Path], cli) -> None:
    ours, _ = twins
    assert cli(ours, "exp", "save", "-n", "saved").code == 0
    gen(ours, {"params.yaml": "lr: 3\n"})
    lock, refs = (ours / "dvc.lock").read_bytes(), git(ours, "for-each-ref", "refs/exps")
    result = cli(ours, "exp", "save", "-n", "saved")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"ERROR: experiment 'saved' already exists for baseline "
        f"{git(ours, 'rev-parse', 'HEAD')[:7]}. Use -f to overwrite it, or -n to pick another "
        "name; nothing was changed."
    ]
    assert (ours / "dvc.lock").read_bytes() == lock
    assert git(ours, "for-each-ref", "refs/exps") == refs
    forced = cli(ours, "exp", "save", "-n", "saved", "-f", "-m", "my message", "--json")
    assert forced.code == 0, forced.err
    commit = json.loads(forced.out)["ref"]
    assert git(ours, "rev-parse", _exp_ref(ours, "saved")) == commit
    assert git(ours, "log", "-1", "--format=%B", commit) == "my message"
    assert git(ours, "show", f"{commit}:params.yaml") == "lr: 3"


def test_exp_save_refuses_an_include_outside_the_repo(twins: tuple[Path, Path], cli) -> None:
    ours, _ = twins
    lock = (ours / "dvc.lock").read_bytes()
    result = cli(ours, "exp", "save", "-n", "x", "-I", "../elsewhere")
    assert result.code == 1
    assert "cannot include '../elsewhere'" in result.err
    assert (ours / "dvc.lock").read_bytes() == lock
    assert git(ours, "for-each-ref", "refs/exps") == ""


def test_exp_save_with_a_missing_out_changes_nothing(twins: tuple[Path, Path], cli) -> None:
    ours, _ = twins
    (ours / "model.bin").unlink()
    lock = (ours / "dvc.lock").read_bytes()
    cache = sorted((ours / ".dvc").rglob("*"))
    result = cli(ours, "exp", "save", "-n", "x")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "ERROR: dvc.yaml:2: stage 'train': cannot save: 'model.bin' does not exist. Run the "
        "stage ('prefect-dvc repro') or restore the file; nothing was changed."
    ]
    assert (ours / "dvc.lock").read_bytes() == lock
    assert [p for p in sorted((ours / ".dvc").rglob("*")) if "tmp" not in p.parts] == [
        p for p in cache if "tmp" not in p.parts
    ]
    assert git(ours, "for-each-ref", "refs/exps") == ""
