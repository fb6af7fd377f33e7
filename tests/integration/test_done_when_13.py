"""Issue #13's "Done when": one repository laid out as real projects are, by us and by DVC 3.67.1.

A root ``dvc.yaml`` (``prepare`` writes ``data/prep.txt``; ``train`` logs
step metrics with the real DVCLive ``Live()``; ``evaluate`` writes the
cached out ``eval/`` holding ``eval/metrics.json`` and ``eval/plots/``,
declared as top-level ``metrics``/``plots``), and a second pipeline in
``sub/dvc.yaml`` whose stage reads ``data/prep.txt``. Twin repositories are
built once: real ``dvc exp run`` runs in one, ``prefect-dvc exp run`` in the
other, with the same ``-S``. ``exp show --json``, ``metrics show --json``,
``plots show --json`` (data rows per plot id) and ``status --json`` (also
after a param edit) must be DVC's, normalising only commit SHAs, timestamps
and the twins' different experiment names.
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

pytestmark = pytest.mark.dvc_interop

PREPARE = """\
import os
from ruamel.yaml import YAML
n = YAML(typ="safe").load(open("params.yaml"))["prepare"]["n"]
os.makedirs("data", exist_ok=True)
open("data/prep.txt", "w").write("".join(f"row {i}\\n" for i in range(n)))
"""

TRAIN = """\
from ruamel.yaml import YAML
from dvclive import Live
lr = YAML(typ="safe").load(open("params.yaml"))["train"]["lr"]
rows = len(open("data/prep.txt").read().splitlines())
with Live() as live:
    for step in range(3):
        live.log_metric("acc", round(step * lr, 4))
        live.log_metric("loss", round(1 - step * lr, 4))
        live.next_step()
open("model.txt", "w").write(f"{lr} {rows}\\n")
"""

EVALUATE = """\
import json, os
lr, rows = open("model.txt").read().split()
os.makedirs("eval/plots", exist_ok=True)
json.dump({"auc": round(float(lr) * 2, 4), "rows": int(rows)}, open("eval/metrics.json", "w"))
pr = [{"recall": r / 4, "precision": round(1 - r * float(lr) / 4, 4)} for r in range(4)]
json.dump(pr, open("eval/plots/pr.json", "w"))
"""

REPORT = """\
rows = open("../data/prep.txt").read().splitlines()
open("report.txt", "w").write(f"{len(rows)} rows\\n")
"""

DVC_YAML = """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    params: [prepare.n]
    outs: [data/prep.txt]
  train:
    cmd: python train.py
    deps: [train.py, data/prep.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: python evaluate.py
    deps: [evaluate.py, model.txt]
    outs: [eval]
metrics:
- eval/metrics.json
plots:
- eval/plots/pr.json:
    x: recall
    y: precision
"""

SUB_YAML = """\
stages:
  report:
    cmd: python report.py
    deps: [report.py, ../data/prep.txt]
    outs: [report.txt]
"""

FILES = {
    ".dvc/config": "",
    ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
    "params.yaml": "prepare:\n  n: 3\ntrain:\n  lr: 0.1\n",
    "prepare.py": PREPARE,
    "train.py": TRAIN,
    "evaluate.py": EVALUATE,
    "dvc.yaml": DVC_YAML,
    "sub/dvc.yaml": SUB_YAML,
    "sub/report.py": REPORT,
}


# One experiment changing a param of each of the root's first two stages.
SET = ("-S", "prepare.n=4", "-S", "train.lr=0.3")


@dataclass(frozen=True)
class Twins:
    dvc: Path
    ours: Path
    env: dict[str, str]

    def both(self, *args: str, where: str = ".") -> tuple[Any, Any]:
        """``args --json`` answered in folder ``where`` by DVC and by us (both exit 0), parsed."""
        theirs = run_dvc(self.dvc / where, *args, "--json")
        assert theirs.returncode == 0, theirs.stderr
        ours = run_cli(self.ours / where, self.env, *args, "--json")
        assert ours.code == 0, ours.err
        return json.loads(theirs.stdout), json.loads(ours.out)


def _baseline(root: Path) -> Path:
    """The project reproduced by real DVC (``repro -P``) and committed with its lock and cache."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    gen(root, FILES)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")  # DVCLive needs a commit
    done = run_dvc(root, "repro", "-P")
    assert done.returncode == 0, done.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    return root


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]) -> Iterator[Twins]:
    """Experiment ``e1`` run by DVC in one twin and by us in the other, from one baseline.

    The baseline commit (with ``dvc.lock``, DVCLive's ``dvc.yaml`` edits and
    the cache) is copied, so ``main`` has the same SHA in both twins and its
    ``eval/metrics.json`` is only in the cache.
    """
    live_bin = str(Path(dvclive_python()).parent)
    env = _identity_env(tmp_path_factory.mktemp("home"), prefect_env)
    env["PATH"] = f"{live_bin}{os.pathsep}{env['PATH']}"
    base = tmp_path_factory.mktemp("done13")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        theirs = _baseline(base / "dvc")
        ours = base / "ours"
        shutil.copytree(theirs, ours, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
        done = run_dvc(theirs, "exp", "run", *SET, "-n", "e1")
        assert done.returncode == 0, done.stderr
        result = run_cli(ours, env, "exp", "run", *SET, "-n", "e1")
        assert result.code == 0, result.err
        yield Twins(theirs, ours, env)


def _normal(value: Any, shas: dict[str, str]) -> Any:
    """``value`` with commit SHAs named by role and timestamps dropped."""
    if isinstance(value, dict):
        return {k: (None if k == "timestamp" else _normal(v, shas)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, shas) for v in value]
    if isinstance(value, str):
        return shas.get(value, value)
    return value


def _shas(root: Path) -> dict[str, str]:
    refs = git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps")
    roles = {sha: "exp:" + ref.rsplit("/", 1)[-1] for sha, ref in map(str.split, refs.splitlines())}
    roles[git(root, "rev-parse", "HEAD")] = "baseline"
    return roles


def test_exp_show_is_dvcs(twins: Twins) -> None:
    theirs, ours = twins.both("exp", "show")
    assert _normal(ours, _shas(twins.ours)) == _normal(theirs, _shas(twins.dvc))
    (exp,) = ours[1]["experiments"]
    metrics = exp["revs"][0]["data"]["metrics"]
    assert metrics["eval/metrics.json"] == {"data": {"auc": 0.6, "rows": 4}}
    # main's eval/metrics.json exists only in the cache, through main's dvc.lock
    assert ours[1]["data"]["metrics"]["eval/metrics.json"] == {"data": {"auc": 0.2, "rows": 3}}
    assert metrics["dvclive/metrics.json"]["data"]["acc"] == 0.6


def test_metrics_show_is_dvcs(twins: Twins) -> None:
    theirs, ours = twins.both("metrics", "show")
    assert ours == theirs
    assert ours[""]["data"]["eval/metrics.json"]["data"] == {"auc": 0.6, "rows": 4}


def _rows(shown: dict[str, Any]) -> dict[str, Any]:
    return {
        pid: [(p["type"], p["revisions"], p["content"]["data"]["values"]) for p in plots]
        for pid, plots in shown["data"].items()
    }


def test_plots_show_data_is_dvcs(twins: Twins) -> None:
    theirs, ours = twins.both("plots", "show")
    assert _rows(ours) == _rows(theirs)
    assert set(_rows(ours)) == {
        "eval/plots/pr.json",
        "dvclive/plots/metrics/acc.tsv",
        "dvclive/plots/metrics/loss.tsv",
    }


@pytest.mark.parametrize(
    "args",
    [("status",), ("metrics", "show"), ("metrics", "diff", "main"), ("exp", "diff", "main")],
)
def test_reads_from_sub_folder_are_dvcs(twins: Twins, args: tuple[str, ...]) -> None:
    # From sub/ DVC still covers the whole index and names files from sub/
    # ('../eval/metrics.json'); main's metrics come from its lock and cache.
    theirs, ours = twins.both(*args, where="sub")
    assert ours == theirs
    assert ours


def test_plots_from_sub_folder_are_dvcs(twins: Twins) -> None:
    theirs, ours = twins.both("plots", "diff", "main", where="sub")
    assert _rows(ours) == _rows(theirs)
    assert "../eval/plots/pr.json" in _rows(ours)


def test_status_is_dvcs(twins: Twins) -> None:
    theirs, ours = twins.both("status")
    assert ours == theirs
    assert "sub/dvc.yaml:report" in ours


def test_status_after_a_param_edit_is_dvcs(twins: Twins, tmp_path: Path) -> None:
    copies = []
    for name, root in (("dvc", twins.dvc), ("ours", twins.ours)):
        copy = tmp_path / name
        shutil.copytree(root, copy, symlinks=True)
        params = copy / "params.yaml"
        params.write_text(params.read_text().replace("n: 4", "n: 5"))
        copies.append(copy)
    theirs, ours = Twins(copies[0], copies[1], twins.env).both("status")
    assert ours == theirs
    assert "prepare" in ours


def test_exp_run_from_sub_folder_is_dvcs(
    twins: Twins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DVC reads -S files from the current folder: a bare key from sub/ names
    # sub/params.yaml (absent: refused, nothing changed); '../params.yaml:'
    # names the root's, and sub/'s pipeline runs with the stages it needs.
    monkeypatch.setenv("PATH", twins.env["PATH"])  # DVC's stages need dvclive's python
    copies = Twins(tmp_path / "dvc", tmp_path / "ours", twins.env)
    for src, dst in ((twins.dvc, copies.dvc), (twins.ours, copies.ours)):
        shutil.copytree(src, dst, symlinks=True)
    before = git(copies.ours, "status", "--porcelain")
    refused = run_dvc(copies.dvc / "sub", "exp", "run", "-S", "prepare.n=6")
    assert refused.returncode != 0
    ours = run_cli(copies.ours / "sub", twins.env, "exp", "run", "-S", "prepare.n=6")
    assert ours.code != 0
    assert "sub/params.yaml" in ours.err.strip().splitlines()[-1]
    assert git(copies.ours, "status", "--porcelain") == before
    assert not (copies.ours / "sub" / "params.yaml").exists()

    args = ("exp", "run", "-S", "../params.yaml:prepare.n=6", "-n", "e2")
    done = run_dvc(copies.dvc / "sub", *args)
    assert done.returncode == 0, done.stderr
    ours = run_cli(copies.ours / "sub", twins.env, *args)
    assert ours.code == 0, ours.err
    for root in (copies.dvc, copies.ours):
        assert (root / "sub" / "report.txt").read_text() == "6 rows\n"
    theirs_status, ours_status = copies.both("status")
    assert ours_status == theirs_status
    theirs_show, ours_show = copies.both("exp", "show")
    assert _normal(ours_show, _shas(copies.ours)) == _normal(theirs_show, _shas(copies.dvc))
