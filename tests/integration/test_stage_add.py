"""``stage add`` writes the bytes real ``dvc stage add`` writes, and refuses what DVC refuses.

Each scenario runs the same command lines in two copies of one repository:
real DVC 3.67.1 in one, ``prefect-dvc`` in the other; ``dvc.yaml`` and every
``.gitignore`` must end byte-identical. Refusals must leave the files as
they were, with exit code non-zero in both tools.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen, run_dvc

from prefect_dvc.cli import main

COMMENTED = """\
# the pipeline
stages:
  prepare:  # first
    cmd: python prep.py
    desc: makes data
    deps:
    - prep.py
    outs:
    - data:
        desc: the data
        remote: store
        persist: true
    frozen: true
"""

SCENARIOS = {
    "every_option": [
        [
            "-n",
            "train",
            "-d",
            "b.py",
            "-d",
            "a.py",
            "-p",
            "lr,x",
            "-p",
            "other.yaml:z",
            "-p",
            "other.yaml:",
            "-o",
            "model",
            "--outs-persist",
            "p.bin",
            "-O",
            "nc",
            "--outs-persist-no-cache",
            "pnc",
            "-m",
            "metrics.json",
            "-M",
            "m2.json",
            "--plots",
            "pl.csv",
            "--plots-no-cache",
            "pn.csv",
            "-w",
            "sub",
            "--always-changed",
            "--desc",
            "hi there",
            "python",
            "train.py",
            "a b",
            "--flag",
            "-n",
            "",
        ],
    ],
    "quoting_and_width": [
        ["-n", "a", "echo", "x: y", "'q'"],
        ["-n", "b", "python train.py --epochs 10 # one word holding a whole command line"],
        ["-n", "c", "-o", "x" * 90, "echo", "--" + "long" * 30, "with space", 'has "q" x'],
    ],
    "params_forms": [
        ["-n", "p1", "-p", "params.yaml:", "-p", "b,a,a", "-p", "z.json:k", "echo"],
        ["-n", "p2", "-p", "./params.yaml:c", "-p", "a.toml:", "-p", "a.toml:y,x", "echo"],
    ],
    "force_keeps_comments_and_annotations": [
        [
            "-n",
            "prepare",
            "-f",
            "--desc",
            "new desc",
            "-d",
            "prep.py",
            "-o",
            "data",
            "-O",
            "x",
            "python prep.py --v2",
        ],
        ["-n", "extra", "-d", "data", "echo"],
    ],
    "undefined_var_in_the_new_stage": [["-n", "v", "-o", "o1", "echo ${foo}"]],
    "paths": [
        ["-n", "ext", "-O", "../outside-out", "-d", "../outside-dep", "-o", "./dotted", "echo"],
        ["-n", "deep", "-o", "a/b/c", "-m", "a/m.json", "-w", "a", "echo"],
    ],
}

REFUSED = [
    ["-n", "", "echo"],
    ["-n", "bad/name", "echo"],
    ["-n", "nocmd"],
    ["-n", "prepare", "echo"],
    ["-n", "dup", "-o", "b", "-o", "b", "echo"],
    ["-n", "dup2", "-o", "c", "-m", "./c", "echo"],
    ["-n", "circ", "-d", "x", "-o", "x", "echo"],
    ["-n", "ext", "-o", "../out", "echo"],
    ["-n", "wd", "-w", "nosuch", "echo"],
    ["-n", "wd2", "-w", "..", "echo"],
    ["-n", "own", "-o", "dvc.yaml", "echo"],
    ["-n", "git", "-o", ".git/x", "echo"],
    ["-n", "same", "-o", "data", "echo"],
    ["-n", "inside", "-o", "data/part", "echo"],
    ["-n", "above", "-o", ".", "echo"],
]


def _tracked(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and (p.name in ("dvc.yaml", ".gitignore"))
        and ".dvc" not in p.relative_to(root).parts
        and ".git" not in p.relative_to(root).parts
    }


def _ours(repo: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    with monkeypatch.context() as m:
        m.chdir(repo)
        return main(["stage", "add", *args])


@pytest.fixture
def twins(git_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    gen(git_repo, {"sub/keep": "", "a/keep": "", "dvc.yaml": COMMENTED, "prep.py": ""})
    theirs = tmp_path / "theirs"
    shutil.copytree(git_repo, theirs, symlinks=True)
    return git_repo, theirs


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_stage_add_writes_dvcs_bytes(
    name: str, twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = twins
    if name != "force_keeps_comments_and_annotations":
        (ours / "dvc.yaml").unlink()
        (theirs / "dvc.yaml").unlink()
    for args in SCENARIOS[name]:
        proc = run_dvc(theirs, "stage", "add", *args)
        assert proc.returncode == 0, proc.stderr
        assert _ours(ours, args, monkeypatch) == 0
    assert _tracked(ours) == _tracked(theirs)
    assert _tracked(ours)["dvc.yaml"]


def test_refusals_match_dvc_and_change_nothing(
    twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = twins
    before = _tracked(ours)
    for args in REFUSED:
        proc = run_dvc(theirs, "stage", "add", *args)
        assert proc.returncode != 0, (args, proc.stdout)
        assert _ours(ours, args, monkeypatch) != 0, args
        assert _tracked(ours) == before, args
    assert _tracked(theirs) == before


def test_refusal_is_one_line_naming_the_problem(
    git_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen(git_repo, {"dvc.yaml": COMMENTED})
    result = cli(git_repo, "stage", "add", "-n", "prepare", "echo")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "ERROR: Stage 'prepare' already exists in 'dvc.yaml'. Use '--force' to overwrite."
    ]
    assert (git_repo / "dvc.yaml").read_text() == COMMENTED


def test_stage_add_in_a_subfolder_writes_its_dvc_yaml(
    twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = twins
    args = ["-n", "s", "-d", "../prep.py", "-o", "out", "echo"]
    assert run_dvc(theirs / "sub", "stage", "add", *args).returncode == 0
    assert _ours(ours / "sub", args, monkeypatch) == 0
    assert _tracked(ours) == _tracked(theirs)
    assert "sub/dvc.yaml" in _tracked(ours)


def test_run_reproduces_the_new_stage(git_repo: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(
        git_repo, "stage", "add", "-n", "hello", "-o", "out.txt", "--run", "echo hi > out.txt"
    )
    assert result.code == 0, result.err
    assert (git_repo / "out.txt").read_text() == "hi\n"
    lock = (git_repo / "dvc.lock").read_text()
    assert "hello:" in lock
    assert "md5: 764efa883dda1e11db47671c4a3bbd9e" in lock


def test_a_broken_existing_stage_refuses_the_add_as_dvc(
    twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = twins
    broken = "stages:\n  v:\n    cmd: echo ${foo}\n"
    for root in twins:
        gen(root, {"dvc.yaml": broken})
    assert run_dvc(theirs, "stage", "add", "-n", "w", "echo").returncode != 0
    assert _ours(ours, ["-n", "w", "echo"], monkeypatch) == 1
    assert (ours / "dvc.yaml").read_text() == (theirs / "dvc.yaml").read_text() == broken
