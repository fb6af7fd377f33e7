"""DVCLive inside a stage: the real ``dvclive`` package, ``exp run`` by us and by DVC 3.67.1.

Two identical repositories: DVC runs ``exp run`` in one, ``prefect-dvc`` in
the other, each stage's ``python`` being an interpreter with dvclive. DVCLive
must see the same variables (so it knows it runs inside an experiment), its
own ``dvc.yaml`` edits (top-level ``params``/``metrics``/``plots``) must be
read as DVC reads them, and its step plots (a folder of ``.tsv`` files)
must show as DVC shows them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import dvclive_python, gen, git, run_dvc
from test_experiments import _identity_env, run_cli

TRAIN = """\
from ruamel.yaml import YAML
from dvclive import Live
lr = YAML(typ="safe").load(open("params.yaml"))["train"]["lr"]
with Live() as live:
    live.log_param("lr", lr)
    for step in range(3):
        live.log_metric("acc", round(step * lr, 4))
        live.log_metric("loss", round(1 - step * lr, 4))
        live.next_step()
"""

ENV_CMD = (
    "python -c \"import json, os; json.dump({k: os.environ.get(k) for k in ('DVC_ROOT',"
    " 'DVC_STAGE', 'DVC_EXP_NAME', 'DVC_EXP_BASELINE_REV')}, open('env.json', 'w'))\""
)

DVC_YAML = f"""\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train.lr]
  env:
    cmd: {json.dumps(ENV_CMD)}
    outs:
    - env.json:
        cache: false
"""


@dataclass(frozen=True)
class Twins:
    dvc: Path
    ours: Path
    env: dict[str, str]
    # (git status --porcelain, git diff --cached --name-only) right after each exp run
    index: dict[str, tuple[str, str]]


def index_state(root: Path) -> tuple[str, str]:
    """What Git reports as changed and as staged, byte for byte."""
    return git(root, "status", "--porcelain"), git(root, "diff", "--cached", "--name-only")


def _repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    gen(root, {"train.py": TRAIN, "dvc.yaml": DVC_YAML, "params.yaml": "train:\n  lr: 0.1\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    return root


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]) -> Iterator[Twins]:
    """Experiment ``e1`` (lr 0.3) run by DVC in one twin and by us in the other."""
    live_bin = str(Path(dvclive_python()).parent)
    env = _identity_env(tmp_path_factory.mktemp("home"), prefect_env)
    env["PATH"] = f"{live_bin}{os.pathsep}{env['PATH']}"
    base = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        theirs, ours = _repo(base / "dvc"), _repo(base / "ours")
        done = run_dvc(theirs, "exp", "run", "-S", "train.lr=0.3", "-n", "e1")
        assert done.returncode == 0, done.stderr
        result = run_cli(ours, env, "exp", "run", "-S", "train.lr=0.3", "-n", "e1")
        assert result.code == 0, result.err
        index = {"dvc": index_state(theirs), "ours": index_state(ours)}
        yield Twins(theirs, ours, env, index)


def _exp(shown: list[dict[str, Any]]) -> dict[str, Any]:
    (exp,) = shown[1]["experiments"]
    return exp["revs"][0]["data"]


def test_stage_sees_dvcs_variables(twins: Twins) -> None:
    theirs = json.loads((twins.dvc / "env.json").read_text())
    ours = json.loads((twins.ours / "env.json").read_text())
    base = git(twins.ours, "rev-parse", "HEAD")
    assert ours == {
        "DVC_ROOT": str(twins.ours),
        "DVC_STAGE": "env",
        "DVC_EXP_NAME": "e1",
        "DVC_EXP_BASELINE_REV": base,
    }
    assert {**theirs, "DVC_ROOT": None, "DVC_EXP_BASELINE_REV": None} == {
        **ours,
        "DVC_ROOT": None,
        "DVC_EXP_BASELINE_REV": None,
    }
    assert os.path.samefile(theirs["DVC_ROOT"], twins.dvc)


def test_dvclive_edits_to_dvc_yaml_are_dvcs(twins: Twins) -> None:
    assert (twins.ours / "dvc.yaml").read_bytes() == (twins.dvc / "dvc.yaml").read_bytes()
    assert "dvclive/metrics.json" in (twins.ours / "dvc.yaml").read_text()


def test_experiment_commit_holds_what_dvc_commits(twins: Twins) -> None:
    def files(root: Path) -> set[str]:
        refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps").splitlines()
        (ref,) = [r for r in refs if r.endswith("/e1")]
        return set(git(root, "show", "--name-only", "--format=", ref).splitlines())

    assert files(twins.ours) == files(twins.dvc)
    assert "dvclive/plots/metrics/acc.tsv" in files(twins.ours)


def test_dvclive_git_add_is_not_left_staged(twins: Twins) -> None:
    # DVCLive 'git add's its folder inside the stage; DVC's exp run ends
    # with none of it staged, and so do we.
    assert twins.index["ours"] == twins.index["dvc"]
    assert twins.index["ours"][1] == ""
    assert "?? dvclive/" in twins.index["ours"][0].splitlines()


def test_exp_show_metric_and_param_cells_are_dvcs(twins: Twins) -> None:
    theirs = json.loads(run_dvc(twins.dvc, "exp", "show", "--json").stdout)
    result = run_cli(twins.ours, twins.env, "exp", "show", "--json")
    assert result.code == 0, result.err
    ours = json.loads(result.out)
    assert _exp(ours)["metrics"] == {
        "dvclive/metrics.json": {"data": {"acc": 0.6, "loss": 0.4, "step": 2}}
    }
    for key in ("metrics", "params"):
        assert _exp(ours)[key] == _exp(theirs)[key]
        assert ours[0]["data"][key] == theirs[0]["data"][key]
        assert ours[1]["data"][key] == theirs[1]["data"][key]


def _values(shown: dict[str, Any]) -> dict[str, Any]:
    return {
        pid: [(p["type"], p["revisions"], p["content"]["data"]["values"]) for p in plots]
        for pid, plots in shown["data"].items()
    }


@pytest.mark.parametrize("args", [("show",), ("diff", "e1"), ("show", "dvclive/plots/metrics")])
def test_step_plots_are_dvcs(twins: Twins, args: tuple[str, ...]) -> None:
    # NOTE: DVC answers a folder target with each plot twice (also as a raw
    # file); our answer for it is DVC's untargeted one.
    dvc_args = args if args[0] == "diff" else ("show",)
    theirs = json.loads(run_dvc(twins.dvc, "plots", *dvc_args, "--json").stdout)
    result = run_cli(twins.ours, twins.env, "plots", *args, "--json")
    assert result.code == 0, result.err
    ours = _values(json.loads(result.out))
    assert sorted(ours) == ["dvclive/plots/metrics/acc.tsv", "dvclive/plots/metrics/loss.tsv"]
    assert ours == _values(theirs)


def test_dvclive_folder_in_a_fresh_copy_is_not_required(twins: Twins, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(twins.ours, copy, symlinks=True)
    shutil.rmtree(copy / "dvclive")
    result = run_cli(copy, twins.env, "plots", "diff", "e1", "--json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert {p["revisions"][0] for v in shown["data"].values() for p in v} == {"e1"}
