"""load_pipeline on a realistic project (pinned against DVC 3.67.1), graph errors, speed."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from helpers import dvc_bin, gen, git

from prefect_dvc.errors import DvcYamlError, PipelineError, PrefectDvcError
from prefect_dvc.translators import load_pipeline, load_stages
from prefect_dvc.translators.params import params_lock_values
from prefect_dvc.translators.pipeline import Out, ParamsDep
from prefect_dvc.yamlio import dump_yaml

DVC_YAML = r"""vars:
  - vars.yaml
  - conf/extra.yaml:opt
  - inline: {k: v}
stages:
  prepare:
    cmd: echo ${data_dir} > prepared.txt
    outs:
    - prepared.txt
  feat:
    foreach: ${models}
    do:
      cmd: echo ${item} ${flags} > feat_${item}.txt
      deps:
      - prepared.txt
      params:
      - seed
      outs:
      - feat_${item}.txt
  mx:
    matrix:
      size: ${sizes}
      kind: [a, b]
    cmd: echo ${key} ${item.size} ${item.kind} > mx_${key}.txt
    outs:
    - mx_${key}.txt:
        cache: false
  train:
    wdir: sub
    cmd:
    - echo ${train.lr} ${opt.momentum} > ../model.txt
    - 'echo "{\"acc\": 1}" > ../metrics.json'
    - printf 'x,y\n1,2\n' > ../plot.csv
    deps:
    - ../feat_small.txt
    params:
    - depth
    - ../conf/extra.yaml:
      - opt.wd
      - b
      - a
      - o
      - d
      - opt
    - ../params.yaml:
    outs:
    - ../model.txt
    metrics:
    - ../metrics.json:
        cache: false
    plots:
    - ../plot.csv:
        x: x
        y: y
        cache: false
  whole:
    cmd: echo whole > whole.txt
    params:
    - alpha
    - zeta
    - train
    - conf/extra.yaml:
    outs:
    - whole.txt
params:
  - conf/extra.yaml
metrics:
  - metrics.json
plots:
  - plot.csv:
      x: x
      y: y
artifacts:
  mdl:
    path: model.txt
    type: model
"""

PROJECT = {
    "params.yaml": (
        "seed: 7\ntrain:\n  lr: 0.1\n  epochs: 3\n  opt: {name: adam, beta: 0.9}\nzeta: 1\n"
        "alpha: 2\nmodels: [small, large]\n"
        "flags: {verbose: true, quiet: false, name: my model, layers: [8, 4]}\n"
    ),
    "conf/extra.yaml": "opt:\n  momentum: 0.9\n  wd: 0.01\nb: yes\na: 1e3\no: 0o10\nd: 010\n",
    "sub/params.yaml": "depth: 3\n",
    "vars.yaml": "data_dir: data\nsizes: [1, 2]\n",
    "dvc.yaml": DVC_YAML,
}

# NOTE: pinned from DVC 3.67.1 (``Repo(root).index.stages`` and the dvc.lock that
# ``dvc repro`` wrote) on exactly PROJECT.
DVC_CMDS = {
    "prepare": "echo data > prepared.txt",
    "feat@small": "echo small --verbose --name 'my model' --layers 8 4 > feat_small.txt",
    "feat@large": "echo large --verbose --name 'my model' --layers 8 4 > feat_large.txt",
    "mx@1-a": "echo 1-a 1 a > mx_1-a.txt",
    "mx@1-b": "echo 1-b 1 b > mx_1-b.txt",
    "mx@2-a": "echo 2-a 2 a > mx_2-a.txt",
    "mx@2-b": "echo 2-b 2 b > mx_2-b.txt",
    "train": [
        "echo 0.1 0.9 > ../model.txt",
        'echo "{\\"acc\\": 1}" > ../metrics.json',
        "printf 'x,y\\n1,2\\n' > ../plot.csv",
    ],
    "whole": "echo whole > whole.txt",
}
DVC_LOCK_PARAMS = {
    "feat@small": "params.yaml:\n  seed: 7\n",
    "whole": (
        "params.yaml:\n  alpha: 2\n  train:\n    lr: 0.1\n    epochs: 3\n    opt:\n"
        "      name: adam\n      beta: 0.9\n  zeta: 1\nconf/extra.yaml:\n  a: 1000.0\n  b: yes\n"
        "  d: 10\n  o: 8\n  opt:\n    momentum: 0.9\n    wd: 0.01\n"
    ),
}


def test_realistic_project_matches_dvc(tmp_path: Path) -> None:
    gen(tmp_path, PROJECT)
    pipeline = load_pipeline(tmp_path)
    assert {n: s.lock_cmd for n, s in pipeline.stages.items()} == DVC_CMDS
    assert list(pipeline.stages) == list(DVC_CMDS)
    for name, text in DVC_LOCK_PARAMS.items():
        assert dump_yaml(params_lock_values(tmp_path, pipeline.stages[name])) == text
    train = pipeline.stages["train"]
    assert train.cmd == tuple(DVC_CMDS["train"])
    assert (train.wdir, train.deps, train.dep_repo_paths) == (
        "sub",
        ("../feat_small.txt",),
        ("feat_small.txt",),
    )
    assert train.params == (
        ParamsDep("params.yaml", "sub/params.yaml", ("depth",)),
        ParamsDep("../conf/extra.yaml", "conf/extra.yaml", ("opt.wd", "b", "a", "o", "d", "opt")),
        ParamsDep("../params.yaml", "params.yaml", None),
    )
    assert train.outs == (
        Out("../model.txt", "model.txt"),
        Out("../metrics.json", "metrics.json", kind="metric", cache=False),
        Out("../plot.csv", "plot.csv", kind="plot", cache=False, plot_props={"x": "x", "y": "y"}),
    )
    assert (train.line, pipeline.stages["feat@large"].line, pipeline.stages["mx@2-b"].line) == (
        28,
        10,
        20,
    )
    assert pipeline.stages["mx@1-a"].outs[0].cache is False
    assert pipeline.upstream["train"] == ("feat@small",)
    assert pipeline.upstream["feat@large"] == ("prepare",)
    assert pipeline.params_files == ("conf/extra.yaml",)
    assert pipeline.metrics_files == ("metrics.json",)
    assert pipeline.plots == ({"plot.csv": {"x": "x", "y": "y"}},)
    assert pipeline.artifacts == {"mdl": {"path": "model.txt", "type": "model"}}
    assert load_stages(tmp_path).vars["inline"] == {"k": "v"}


@pytest.mark.dvc_interop
def test_realistic_project_against_installed_dvc(tmp_path: Path) -> None:
    exe = dvc_bin()
    assert exe is not None, "real DVC not found: set PREFECT_DVC_TEST_DVC"
    dvc_python = Path(exe).with_name("python")  # DVC's own interpreter
    gen(tmp_path, PROJECT)
    git(tmp_path, "init", "-q")
    subprocess.run([str(dvc_python), "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    script = (
        "import json, sys; from dvc.repo import Repo; "
        "print(json.dumps({s.name: s.cmd for s in Repo(sys.argv[1]).index.stages}))"
    )
    out = subprocess.run(
        [str(dvc_python), "-c", script, str(tmp_path)], check=True, capture_output=True, text=True
    )
    theirs = json.loads(out.stdout)
    ours = {n: s.lock_cmd for n, s in load_pipeline(tmp_path).stages.items()}
    assert ours == theirs
    assert list(ours) == list(theirs)


def test_subdirectory_dvcfile(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "sub/params.yaml": "n: 1\n",
            "sub/dvc.yaml": "params: [p.yaml]\nstages:\n  s:\n    wdir: w\n    cmd: echo ${n}\n"
            "    deps: [../in]\n    params: [n]\n    outs: [o]\n",
        },
    )
    stage = load_pipeline(tmp_path, "sub/dvc.yaml").stages["s"]
    assert (stage.cmd, stage.wdir, stage.dvcfile) == ("echo 1", "sub/w", "sub/dvc.yaml")
    assert stage.dep_repo_paths == ("sub/in",)
    assert stage.params == (ParamsDep("params.yaml", "sub/w/params.yaml", ("n",)),)
    assert stage.outs[0].repo_path == "sub/w/o"
    assert load_stages(tmp_path, "sub/dvc.yaml").params_files == ("sub/p.yaml",)


def test_stage_fields(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "dvc.yaml": (
                "stages:\n  s:\n    desc: d\n    cmd: |\n      a\n      b\n    frozen: true\n"
                "    always_changed: true\n    meta: {owner: me}\n    params:\n    - b\n    - a\n"
                "    - b\n    - o.yaml: [y]\n    - o.yaml: [x]\n    - w.yaml: []\n"
                "    - w.yaml: [z]\n    outs:\n"
                "    - o: {persist: true, remote: r, push: false, desc: D, labels: [l]}\n"
                "    - o: {cache: false}\n"
                "  w:\n    cmd: x\n    params:\n    - k\n    - params.yaml:\n"
            ),
        },
    )
    pipeline = load_pipeline(tmp_path)
    s = pipeline.stages["s"]
    assert (s.cmd, s.commands, s.desc, s.frozen, s.always_changed, s.meta) == (
        "a\nb\n",
        ("a", "b"),
        "d",
        True,
        True,
        {"owner": "me"},
    )
    assert s.params == (
        ParamsDep("params.yaml", "params.yaml", ("b", "a")),
        ParamsDep("o.yaml", "o.yaml", ("y", "x")),
        ParamsDep("w.yaml", "w.yaml", None),
    )
    assert s.outs == (
        Out(
            "o",
            "o",
            cache=False,
            persist=True,
            push=False,
            remote="r",
            annotations={"desc": "D", "labels": ["l"]},
        ),
    )
    assert pipeline.stages["w"].params == (ParamsDep("params.yaml", "params.yaml", None),)


def _error(tmp_path: Path, dvc_yaml: str) -> PrefectDvcError:
    gen(tmp_path, {"dvc.yaml": dvc_yaml})
    with pytest.raises(PrefectDvcError) as info:
        load_pipeline(tmp_path)
    assert (tmp_path / "dvc.yaml").read_text() == dvc_yaml
    assert not (tmp_path / "dvc.lock").exists()
    return info.value


@pytest.mark.parametrize(
    ("dvc_yaml", "line", "stage", "needle"),
    [
        (
            "stages:\n  a:\n    cmd: x\n    deps: [b.txt]\n    outs: [a.txt]\n"
            "  b:\n    cmd: x\n    deps: [a.txt]\n    outs: [b.txt]\n",
            2,
            None,
            "form a cycle",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    deps: [a.txt]\n    outs: [a.txt]\n",
            2,
            "a",
            "'a.txt' is both a dependency and an output",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [x.txt]\n  b:\n    cmd: x\n    outs: [x.txt]\n",
            5,
            "b",
            "output 'x.txt' is also specified in stage 'a'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [d]\n  b:\n    cmd: x\n    outs: [d/g.txt]\n",
            5,
            "b",
            "output 'd/g.txt' is inside output 'd'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    deps:\n    - ok\n    - ../../etc/passwd\n",
            6,
            "a",
            "path '../../etc/passwd' leaves the repository",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs:\n    - o\n    - /abs/o\n",
            6,
            "a",
            "path '/abs/o' is absolute",
        ),
        ("stages:\n  a:\n    cmd: x\n    wdir: ../up\n", 4, "a", "path '../up' leaves"),
        (
            "stages:\n  a:\n    cmd: x\n    params:\n    - ../p.yaml: [k]\n",
            4,
            "a",
            "path '../p.yaml' leaves",
        ),
        (
            "stages:\n  g:\n    foreach: [a, b]\n    do:\n      cmd: x\n      outs: [same]\n",
            2,
            "g@b",
            "output 'same' is also specified in stage 'g@a'",
        ),
    ],
)
def test_graph_errors_have_lines(
    tmp_path: Path, dvc_yaml: str, line: int, stage: str | None, needle: str
) -> None:
    err = _error(tmp_path, dvc_yaml)
    assert isinstance(err, PipelineError)
    assert (err.path, err.line, err.stage) == ("dvc.yaml", line, stage)
    assert needle in str(err)
    assert err.hint


def test_missing_dvc_yaml(tmp_path: Path) -> None:
    with pytest.raises(DvcYamlError) as info:
        load_pipeline(tmp_path)
    assert str(info.value) == (
        f"dvc.yaml not found in {tmp_path}. Create one, or run from the project root."
    )


def test_200_stage_foreach_loads_fast(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "params.yaml": "lr: 0.1\nchunks: [" + ", ".join(str(i) for i in range(200)) + "]\n",
            "dvc.yaml": (
                "stages:\n  prep:\n    cmd: echo > in.txt\n    outs: [in.txt]\n"
                "  chunk:\n    foreach: ${chunks}\n    do:\n"
                "      cmd: python step.py --lr ${lr} --i ${item} > out_${item}.txt\n"
                "      deps: [in.txt, step.py]\n      params: [lr]\n"
                "      outs:\n      - out_${item}.txt\n"
            ),
        },
    )
    start = time.perf_counter()
    pipeline = load_pipeline(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(pipeline.stages) == 201
    assert pipeline.stages["chunk@199"].cmd == "python step.py --lr 0.1 --i 199 > out_199.txt"
    assert pipeline.upstream["chunk@7"] == ("prep",)
    assert elapsed < 0.5, elapsed
