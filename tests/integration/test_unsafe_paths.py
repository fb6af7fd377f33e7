"""The real CLI refuses hostile outs and ``-S`` files: one line, exit 1, nothing touched.

Every command that loads the pipeline (``status``, ``repro``, and for a few
forms ``dag`` and ``repro --dry``) must fail with one line naming dvc.yaml,
the line, the stage and the path, and leave the repository (``.git``
included) and the folder beside it byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import gen, git
from snapshots import tree_snapshot

from prefect_dvc.errors import UnsafePathError


def _outs(path: str, extra: str = "") -> str:
    return f"stages:\n  s:\n    cmd: echo pwned > victim.txt{extra}\n    outs:\n    - {path}\n"


# name -> (dvc.yaml, the path the message must name)
HOSTILE: dict[str, tuple[str, str]] = {
    "dot": (_outs("."), "'.'"),
    "empty": (_outs('""'), "''"),
    "dot-slash": (_outs("./"), "'./'"),
    "a-dotdot": (_outs("a/.."), "'a/..'"),
    "sub-dotdot-dotdot": (_outs("sub/../.."), "'sub/../..'"),
    "git": (_outs(".git"), "'.git'"),
    "git-upper": (_outs(".GIT"), "'.GIT'"),
    "git-hooks": (_outs(".git/hooks/x"), "'.git/hooks/x'"),
    "git-absolute": (_outs("{root}/.git/config"), "'.git/config'"),
    "dvc": (_outs(".dvc/"), "'.dvc/'"),
    "dvc-config-local": (_outs(".dvc/config.local"), "'.dvc/config.local'"),
    "dvc-yaml": (_outs("dvc.yaml"), "'dvc.yaml'"),
    "sub-dvc-lock": (_outs("sub/dvc.lock"), "'sub/dvc.lock'"),
    "gitignore": (_outs(".gitignore"), "'.gitignore'"),
    "x-dvc": (_outs("x.dvc"), "'x.dvc'"),
    "symlink-out": (_outs("lnk/victim.txt"), "'lnk/victim.txt'"),
    "empty-interpolation": (
        "vars:\n- dir: ''\nstages:\n  s:\n    cmd: echo\n    outs:\n    - ${dir}\n",
        "''",
    ),
    "wdir-dotdot": ("stages:\n  s:\n    cmd: echo\n    wdir: sub\n    outs:\n    - ..\n", "'..'"),
    "wdir-dvc": (
        "stages:\n  s:\n    cmd: echo\n    wdir: sub\n    outs:\n    - ../.dvc/cache\n",
        "'../.dvc/cache'",
    ),
    "same-stage-params": (
        "stages:\n  s:\n    cmd: echo\n    params: [a]\n    outs:\n    - params.yaml\n",
        "'params.yaml'",
    ),
    "same-stage-dep": (
        "stages:\n  s:\n    cmd: echo\n    deps: [data]\n    outs:\n    - data/\n",
        "'data'",
    ),
    "vars-file": (
        "vars: [custom.yaml]\nstages:\n  s:\n    cmd: echo\n    outs:\n    - custom.yaml\n",
        "'custom.yaml'",
    ),
    "metric-git": (
        "stages:\n  s:\n    cmd: echo\n    metrics:\n    - .git/m.json\n",
        "'.git/m.json'",
    ),
}


@pytest.fixture
def repo(git_repo: Path) -> Path:
    outside = git_repo.parent / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("not yours\n")
    gen(
        git_repo,
        {
            "params.yaml": "a: 1\n",
            "custom.yaml": "c: 1\n",
            "data/f": "f\n",
            "sub/keep": "",
            ".dvc/config.local": "[core]\n",
        },
    )
    os.symlink("../outside", git_repo / "lnk")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "files")
    return git_repo


def _refused(result, needle: str) -> None:
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("ERROR: dvc.yaml:")
    assert "stage 's'" in lines[0]
    assert needle in lines[0]
    assert "Traceback" not in result.out + result.err


@pytest.mark.parametrize("case", HOSTILE)
def test_status_and_repro_refuse_hostile_outs(repo: Path, cli, case: str) -> None:
    text, needle = HOSTILE[case]
    gen(repo, {"dvc.yaml": text.replace("{root}", str(repo))})
    before = tree_snapshot(repo, repo.parent / "outside")
    commands = [("status",), ("repro",)]
    if case in ("dot", "git", "symlink-out"):
        commands += [("dag",), ("repro", "--dry")]
    for command in commands:
        _refused(cli(repo, *command), needle)
        assert tree_snapshot(repo, repo.parent / "outside") == before
    assert git(repo, "rev-parse", "HEAD")
    assert (repo.parent / "outside" / "victim.txt").read_text() == "not yours\n"


@pytest.mark.parametrize(
    "override",
    ["../outside.yaml:a=2", "lnk/victim.txt:+a=2", ".git/p.yaml:+a=2", "{outside}/p.yaml:+a=2"],
)
def test_exp_run_set_params_refuses_files_outside(repo: Path, cli, override: str) -> None:
    gen(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    params: [a]\n"})
    (repo.parent / "outside.yaml").write_text("a: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "stage")
    before = tree_snapshot(repo, repo.parent / "outside")
    outside_yaml = (repo.parent / "outside.yaml").read_bytes()
    refs = git(repo, "for-each-ref")
    arg = override.replace("{outside}", str(repo.parent / "outside"))
    result = cli(repo, "exp", "run", "-S", arg)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "-S cannot edit" in lines[0], result.err
    assert tree_snapshot(repo, repo.parent / "outside") == before
    assert (repo.parent / "outside.yaml").read_bytes() == outside_yaml
    assert git(repo, "for-each-ref") == refs


def test_honest_absolute_out_runs_and_lands_in_the_repository(repo: Path, cli) -> None:
    gen(
        repo,
        {
            "dvc.yaml": f"stages:\n  s:\n    cmd: echo ok > {repo}/model.txt\n"
            f"    deps: [{repo}/params.yaml]\n    outs:\n    - {repo}/model.txt\n",
        },
    )
    result = cli(repo, "repro")
    assert result.code == 0, result.err
    assert (repo / "model.txt").read_text() == "ok\n"
    lock = (repo / "dvc.lock").read_text()
    assert "path: model.txt" in lock and "path: params.yaml" in lock
    assert str(repo) not in lock.split("outs:")[1]


@pytest.mark.prefect
def test_the_flows_set_params_refuses_files_outside(repo: Path, prefect_api: None) -> None:
    from prefect_dvc.flows.experiment import exp_run

    gen(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    params: [a]\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "stage")
    (repo.parent / "outside.yaml").write_text("a: 1\n")
    before = tree_snapshot(repo, repo.parent / "outside")
    refs = git(repo, "for-each-ref")
    with pytest.raises(UnsafePathError, match="-S cannot edit '../outside.yaml'"):
        exp_run(repo=str(repo), set_params=["a=3", "../outside.yaml:a=2"])
    assert (repo.parent / "outside.yaml").read_text() == "a: 1\n"
    assert tree_snapshot(repo, repo.parent / "outside") == before
    assert git(repo, "for-each-ref") == refs
