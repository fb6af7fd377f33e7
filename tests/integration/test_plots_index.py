"""Plots of every ``dvc.yaml`` of the index, against DVC 3.67.1 on the same repository.

DVC builds the repository once (``repro -P`` at tag ``v1``, then again with
other params): a root pipeline with a stage plot out and top-level plots, and
``sub/dvc.yaml`` whose stage reads the root's out and writes the cached folder
``sub/eval``, plotted by ``sub/dvc.yaml``'s own top-level list (paths relative
to ``sub/``). Both files define a plot ``named``, which DVC then calls
``dvc.yaml::named`` and ``sub/dvc.yaml::named``. ``v1``'s ``sub/eval/acc.json``
is in no commit: it is read through ``v1``'s ``sub/dvc.lock`` and the cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import gen, git, run_dvc
from test_plots import _plots_artifacts

GEN = """\
n = int(open("params.yaml").read().split(":")[1])
import json
json.dump([{"step": i, "loss": round(1 / (i + 1), 4)} for i in range(n)], open("loss.json", "w"))
"""

ROOT_YAML = """\
stages:
  train:
    cmd: python3 gen.py
    deps: [gen.py]
    params: [n]
    plots:
    - loss.json:
        x: step
        y: loss
plots:
- roc:
    x: fpr
    y:
      roc.csv: tpr
- named:
    y:
      roc.csv: fpr
"""

EVAL = (
    "mkdir -p eval && python3 -c \"import json; rows = json.load(open('../loss.json'));"
    " json.dump([{'step': r['step'], 'acc': round(1 - r['loss'], 4)} for r in rows],"
    " open('eval/acc.json', 'w'))\""
)

SUB_YAML = f"""\
stages:
  evaluate:
    cmd: {json.dumps(EVAL)}
    deps: [../loss.json]
    outs: [eval]
plots:
- eval/acc.json:
    x: step
    y: acc
- named:
    y:
      eval/acc.json: acc
"""

# a stage with a wdir, and a file with plots only that points outside its folder
WDIR_YAML = """\
stages:
  w:
    wdir: w
    cmd: python3 -c "import json; json.dump([dict(x=1, y=2), dict(x=2, y=3)], open('p.json', 'w'))"
    plots:
    - p.json:
        cache: false
"""

ONLY_PLOTS_YAML = """\
plots:
- ../roc.csv:
    x: fpr
    y: tpr
- ../sub2/w/p.json
"""


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(DVC's repository, our copy of it): identical files, cache and Git history."""
    theirs = tmp_path_factory.mktemp("plots-index") / "dvc"
    theirs.mkdir()
    git(theirs, "init", "-q", "-b", "main")
    gen(theirs, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    gen(theirs, {"gen.py": GEN, "params.yaml": "n: 3\n", "dvc.yaml": ROOT_YAML})
    gen(theirs, {"roc.csv": "fpr,tpr\n0,0\n0.5,0.7\n1,1\n", "sub/dvc.yaml": SUB_YAML})
    gen(theirs, {"sub2/dvc.yaml": WDIR_YAML, "sub2/w/.keep": "", "only/dvc.yaml": ONLY_PLOTS_YAML})
    done = run_dvc(theirs, "repro", "-P")
    assert done.returncode == 0, done.stderr
    git(theirs, "add", "-A")
    git(theirs, "commit", "-q", "-m", "v1")
    git(theirs, "tag", "v1")
    gen(theirs, {"params.yaml": "n: 5\n", "roc.csv": "fpr,tpr\n0,0\n0.4,0.8\n1,1\n"})
    done = run_dvc(theirs, "repro", "-P")
    assert done.returncode == 0, done.stderr
    assert "sub/eval/acc.json" not in git(theirs, "ls-files")
    ours = theirs.parent / "ours"
    shutil.copytree(theirs, ours, symlinks=True)
    return theirs, ours


def _values(shown: dict[str, Any]) -> dict[str, Any]:
    return {
        pid: [
            (p["type"], p["revisions"], p["content"]["title"], p["content"]["data"]["values"])
            for p in plots
        ]
        for pid, plots in shown["data"].items()
    }


@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("", ("show",)),
        ("", ("diff",)),
        ("", ("diff", "v1", "HEAD")),
        ("", ("show", "named")),
        ("sub", ("show",)),  # NOTE: DVC names paths (and dvc.yaml:: prefixes) from the cwd
        ("sub", ("diff", "v1")),
        ("sub", ("show", "named")),
    ],
)
def test_plots_of_every_pipeline_are_dvcs(twins: tuple[Path, Path], cli, where, args) -> None:
    theirs, ours = twins
    expected = run_dvc(theirs / where, "plots", *args, "--json")
    assert expected.returncode == 0, expected.stderr
    result = cli(ours / where, "plots", *args, "--json")
    assert result.code == 0, result.err
    shown = _values(json.loads(result.out))
    assert shown == _values(json.loads(expected.stdout))
    if args == ("diff",):
        assert shown["sub/eval/acc.json"][0][1] == ["workspace", "HEAD"]
        assert {"dvc.yaml::named", "sub/dvc.yaml::named", "loss.json", "roc"} <= set(shown)
        assert {"only/dvc.yaml::sub2/w/p.json", "sub2/w/p.json", "roc.csv"} <= set(shown)
    if where == "sub" and args == ("show",):
        assert {"../dvc.yaml::named", "dvc.yaml::named", "../loss.json", "eval/acc.json"} <= set(
            shown
        )


def test_experiment_plots_artifact_holds_every_pipeline(
    twins: tuple[Path, Path], cli, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(twins[1], repo, symlinks=True)
    result = cli(repo, "exp", "run", "--plots", "-n", "e-sub", "-S", "n=4")
    assert result.code == 0, result.err
    (artifact,) = _plots_artifacts("e-sub")
    headings = [line[3:] for line in artifact.data.splitlines() if line.startswith("## ")]
    assert headings == [
        "roc",
        "dvc.yaml::named",
        "sub/dvc.yaml::named",
        "roc.csv",
        "only/dvc.yaml::sub2/w/p.json",
        "sub2/w/p.json",
        "sub/eval/acc.json",
        "loss.json",
    ]
