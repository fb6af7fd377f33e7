"""``exp run -S`` through the real CLI: DVC's value types reach the stage, sweeps need --queue.

The same ``exp run -S ...`` is run by real DVC on a copy of the project;
the experiment commits must hold the same ``params.yaml`` and ``dvc.lock``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.prefect

READ = """\
import json, sys, yaml
params = yaml.safe_load(open("params.yaml"))
json.dump(params, open("out.json", "w"), sort_keys=True)  # a date here would crash
"""
PIPELINE = {
    "params.yaml": "# knobs\ncode: '001'\nname: base\nlr: 0.1\n",
    "read.py": READ,
    "dvc.yaml": f"""\
stages:
  read:
    cmd: {sys.executable} read.py
    deps: [read.py]
    params: [code, name, lr]
    outs:
      - out.json:
          cache: false
""",
}
SET = ["code=007", "+day=2024-01-02", 'name="a,b"', "lr=inf", "+h=0x1F", "+d={a:1,b:[2]}"]


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def _exp_file(root: Path, path: str) -> str:
    refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps").splitlines()
    (ref,) = [r for r in refs if r.endswith("/e") and len(r.split("/")) == 5]
    return git(root, "show", f"{ref}:{path}")


@pytest.mark.dvc_interop
@pytest.mark.slow
def test_values_reach_the_stage_as_dvc_writes_them(repo: Path, cli, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    shutil.copytree(repo, theirs)
    args = [arg for text in SET for arg in ("-S", text)]
    dvc = run_dvc(theirs, "exp", "run", "-n", "e", *args)
    assert dvc.returncode == 0, dvc.stderr
    ours = cli(repo, "exp", "run", "-n", "e", *args)
    assert ours.code == 0, ours.err
    assert json.loads((repo / "out.json").read_text()) == {
        "code": "007",
        "d": {"a": 1, "b": [2]},
        "day": "2024-01-02",
        "h": "0x1F",
        "lr": float("inf"),
        "name": "a,b",
    }
    assert _exp_file(repo, "params.yaml") == _exp_file(theirs, "params.yaml")
    assert _exp_file(repo, "dvc.lock") == _exp_file(theirs, "dvc.lock")


def test_sweep_without_queue_is_one_line_and_changes_nothing(repo: Path, cli) -> None:
    before = (repo / "params.yaml").read_bytes()
    result = cli(repo, "exp", "run", "-S", "lr=0.1,0.2", "-S", "code=range(1,3)")
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "--queue" in errors[0], result.err
    assert (repo / "params.yaml").read_bytes() == before
    assert git(repo, "for-each-ref", "refs/exps") == ""
    assert cli(repo, "queue", "status", "--json").out.strip() in ("", "[]")


def test_quoted_comma_queues_one_experiment_and_a_sweep_queues_each(repo: Path, cli) -> None:
    one = cli(repo, "exp", "run", "--queue", "-n", "one", "-S", 'name="a,b"')
    assert one.code == 0, one.err
    grid = cli(repo, "exp", "run", "--queue", "-n", "g", "-S", "lr=1,2", "-S", 'name="x,y"')
    assert grid.code == 0, grid.err
    status = json.loads(cli(repo, "queue", "status", "--json").out)
    assert {e["name"]: e["set_params"] for e in status} == {
        "one": ['name="a,b"'],
        "g-1": ["lr=1", 'name="x,y"'],
        "g-2": ["lr=2", 'name="x,y"'],
    }


def test_bad_override_is_one_line_naming_it(repo: Path, cli) -> None:
    before = (repo / "params.yaml").read_bytes()
    for text, expected in (("lr==1", "cannot parse -S 'lr==1'"), ("name=é", "'é'")):
        result = cli(repo, "exp", "run", "-S", "lr=0.5", "-S", text)
        assert result.code == 1
        errors = [line for line in result.err.splitlines() if line.startswith("ERROR: ")]
        assert len(errors) == 1 and expected in errors[0], result.err
        assert "Traceback" not in result.err
    assert (repo / "params.yaml").read_bytes() == before
