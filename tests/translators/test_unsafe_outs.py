"""Hostile outs are refused when dvc.yaml loads; honest spellings load as DVC writes them.

Each hostile form must fail ``load_pipeline`` with one line naming
``dvc.yaml``, the out's line, the stage and the path. Each honest spelling
must be accepted, with ``Out.path`` equal to what real DVC 3.67.1 writes to
``dvc.lock`` for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import gen, run_dvc
from snapshots import tree_snapshot

from prefect_dvc.errors import PipelineError, UnsafePathError
from prefect_dvc.translators import load_pipeline, load_stages
from prefect_dvc.yamlio import parse_yaml


def _stage(outs: str, extra: str = "", section: str = "outs") -> str:
    """A one-stage dvc.yaml whose out list is on line 5 (``s`` is on line 2)."""
    return f"stages:\n  s:\n    cmd: echo hi{extra}\n    {section}:\n    - {outs}\n"


# (dvc.yaml text, line of the offending out, a piece of the message)
HOSTILE: dict[str, tuple[str, int, str]] = {
    "dot": (_stage("."), 5, "repository root"),
    "empty": (_stage('""'), 5, "repository root"),
    "dot-slash": (_stage("./"), 5, "repository root"),
    "a-dotdot": (_stage("a/.."), 5, "repository root"),
    "trailing-slashes": (_stage("sub/..//"), 5, "repository root"),
    "leaves": (_stage("sub/../.."), 5, "Saving cached external output"),
    "git": (_stage(".git"), 5, "'.git'"),
    "git-slash": (_stage(".git/"), 5, "'.git'"),
    "git-upper": (_stage(".GIT"), 5, "'.GIT'"),
    "git-hook": (_stage(".git/hooks/x"), 5, "'.git'"),
    "git-absolute": (_stage("{root}/.git/config"), 5, "'.git'"),
    "dvc": (_stage(".dvc"), 5, "'.dvc'"),
    "dvc-config-local": (_stage(".dvc/config.local"), 5, "'.dvc'"),
    "dvc-cache": (_stage(".dvc/cache"), 5, "'.dvc'"),
    "dvc-yaml": (_stage("dvc.yaml"), 5, "DVC file 'dvc.yaml' cannot be an output"),
    "sub-dvc-lock": (_stage("sub/dvc.lock"), 5, "DVC file 'sub/dvc.lock' cannot be an output"),
    "gitignore": (_stage(".gitignore"), 5, "DVC file '.gitignore' cannot be an output"),
    "dvcignore": (_stage(".dvcignore"), 5, "DVC file '.dvcignore' cannot be an output"),
    "dot-dvc-file": (_stage("x.dvc"), 5, "DVC file 'x.dvc' cannot be an output"),
    "symlink-out": (_stage("lnk/victim.txt"), 5, "symlink to"),
    "symlink-git": (_stage("gitlnk/config"), 5, "symlink into '.git'"),
    "nested-repo": (_stage("nested"), 5, "contains '.git'"),
    "empty-interpolation": (
        "vars:\n- dir: ''\nstages:\n  s:\n    cmd: echo\n    outs:\n    - ${dir}\n",
        7,
        "repository root",
    ),
    "empty-interpolation-slash": (
        "vars:\n- dir: ''\nstages:\n  s:\n    cmd: echo\n    outs:\n    - ${dir}/\n",
        7,
        "Saving cached external output /",
    ),
    "uncached-filesystem-root": (
        "stages:\n  s:\n    cmd: echo\n    outs:\n    - /:\n        cache: false\n",
        5,
        "it contains the repository",
    ),
    "uncached-parent": (
        "stages:\n  s:\n    cmd: echo\n    outs:\n    - ..:\n        cache: false\n",
        5,
        "it contains the repository",
    ),
    "wdir-dotdot": (
        "stages:\n  s:\n    cmd: echo\n    wdir: sub\n    outs:\n    - ..\n",
        6,
        "repository root",
    ),
    "wdir-git": (
        "stages:\n  s:\n    cmd: echo\n    wdir: sub\n    outs:\n    - ../.git\n",
        6,
        "'.git'",
    ),
    "own-dvcfile": (
        _stage("."),  # in sub/dvc.yaml: the out is the folder holding it
        5,
        "stage 's' is within it",
    ),
    "same-stage-params": (
        "stages:\n  s:\n    cmd: echo\n    params: [a]\n    outs:\n    - params.yaml\n",
        2,
        "'params.yaml' is both a dependency and an output",
    ),
    "same-stage-dep": (
        "stages:\n  s:\n    cmd: echo\n    deps: [data]\n    outs:\n    - ./data/\n",
        2,
        "'data' is both a dependency and an output",
    ),
    "folder-with-pipeline": (_stage("pipe"), 5, "holds the pipeline file 'pipe/dvc.yaml'"),
    "vars-file": (
        "vars: [custom.yaml]\nstages:\n  s:\n    cmd: echo\n    outs:\n    - custom.yaml\n",
        6,
        "'custom.yaml' is a vars file",
    ),
    "stage-vars-file": (
        "stages:\n  s:\n    vars: [sub/v.yaml]\n    cmd: echo\n    outs:\n    - sub\n",
        6,
        "'sub/v.yaml' is a vars file",
    ),
    "metric-git": (_stage(".git/m.json", section="metrics"), 5, "'.git'"),
    "plot-root": (_stage(".", section="plots"), 5, "repository root"),
    "checkpoint-dvc": (_stage(".dvc: {checkpoint: true}"), 5, "'.dvc'"),
    "foreach-empty-item": (
        "stages:\n  g:\n    foreach: ['']\n    do:\n      cmd: echo\n"
        "      outs:\n      - ${item}\n",
        7,
        "repository root",
    ),
}


@pytest.fixture
def hostile_repo(git_repo: Path) -> Path:
    outside = git_repo.parent / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("not yours\n")
    gen(
        git_repo,
        {
            "params.yaml": "a: 1\n",
            "custom.yaml": "c: 1\n",
            "sub/v.yaml": "v: 1\n",
            "sub/dvc.yaml": "stages: {}\n",
            "pipe/dvc.yaml": "stages: {}\n",
            "data/f": "f",
            "nested/.git/HEAD": "ref: refs/heads/main\n",
        },
    )
    os.symlink("../outside", git_repo / "lnk")
    os.symlink(".git", git_repo / "gitlnk")
    return git_repo


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_outs_are_refused_at_load_with_file_line_and_stage(
    hostile_repo: Path, case: str
) -> None:
    text, line, needle = HOSTILE[case]
    dvcfile = "sub/dvc.yaml" if case == "own-dvcfile" else "dvc.yaml"
    text = text.replace("{root}", str(hostile_repo))
    gen(hostile_repo, {dvcfile: text})
    before = tree_snapshot(hostile_repo, hostile_repo.parent / "outside")
    for load in (load_pipeline, load_stages):
        if case.startswith("same-stage") and load is load_stages:
            continue  # NOTE: the circular-dependency check is the graph's (Pipeline.build)
        with pytest.raises(PipelineError) as info:
            load(hostile_repo, dvcfile)
        err = info.value
        assert (err.path, err.line) == (dvcfile, line)
        assert err.stage in ("s", "g@")
        assert needle in str(err)
        assert "\n" not in str(err)
    assert tree_snapshot(hostile_repo, hostile_repo.parent / "outside") == before


def test_the_hostile_corpus_is_unsafe_path_errors_where_the_guard_speaks(
    hostile_repo: Path,
) -> None:
    gen(hostile_repo, {"dvc.yaml": HOSTILE["dot"][0]})
    with pytest.raises(UnsafePathError):
        load_pipeline(hostile_repo)


def test_an_upstream_stage_may_write_a_later_stages_params_file(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n"
            "  tune:\n    cmd: python -c 'print(1)' > best_params.yaml\n"
            "    outs: [best_params.yaml]\n"
            "  train:\n    cmd: echo\n    params:\n    - best_params.yaml: [lr]\n"
            "    outs: [model.txt]\n",
        },
    )
    pipeline = load_pipeline(git_repo)
    assert pipeline.upstream["train"] == ("tune",)


HONEST_DVC_YAML = """stages:
  a:
    cmd: >-
      echo a > model.pkl && mkdir -p data && echo x > data/f && echo o > out.txt &&
      echo z > {root}/abs.txt && echo w > sub/w.txt
    deps:
    - {root}/sub/../dep.txt
    - ./dep2.txt
    outs:
    - ./model.pkl
    - data/
    - sub/../out.txt
    - {root}/abs.txt
    - sub//w.txt
  b:
    cmd: echo u > ../up.txt
    wdir: sub
    deps:
    - {root}/dep.txt
    outs:
    - {root}/up.txt
"""


def test_honest_spellings_load_as_real_dvc_writes_them(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            "dvc.yaml": HONEST_DVC_YAML.replace("{root}", str(git_repo)),
            "dep.txt": "d\n",
            "dep2.txt": "d\n",
            "sub/keep": "",
        },
    )
    proc = run_dvc(git_repo, "repro")
    assert proc.returncode == 0, proc.stderr
    lock = parse_yaml((git_repo / "dvc.lock").read_text())["stages"]
    pipeline = load_pipeline(git_repo)
    for name, stage in pipeline.stages.items():
        assert sorted(o.path for o in stage.outs) == sorted(o["path"] for o in lock[name]["outs"])
        assert sorted(stage.deps) == sorted(d["path"] for d in lock[name]["deps"])
    a, b = pipeline.stages["a"], pipeline.stages["b"]
    assert {o.path: o.repo_path for o in a.outs} == {
        "./model.pkl": "model.pkl",
        "data/": "data",
        "sub/../out.txt": "out.txt",
        "abs.txt": "abs.txt",
        "sub//w.txt": "sub/w.txt",
    }
    assert a.dep_repo_paths == ("dep.txt", "dep2.txt")
    assert [(o.path, o.repo_path) for o in b.outs] == [("../up.txt", "up.txt")]
    assert b.deps == ("../dep.txt",)
