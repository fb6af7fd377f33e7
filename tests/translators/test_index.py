"""The index of every ``dvc.yaml``: discovery, keys, targets and lock routing (issue #13).

In-process on a real Git repository; real DVC's verdicts on the same layout
are compared end to end in ``tests/integration/test_many_dvcfiles.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.cli.exp import exp_targets
from prefect_dvc.errors import PipelineError, TargetNotFoundError
from prefect_dvc.lockset import LockSet
from prefect_dvc.repo import RepoPaths
from prefect_dvc.translators.index import find_dvcfiles, load_index
from prefect_dvc.translators.targets import Scope

BROKEN = "stages: [not yaml\n"

LAYOUT = {
    "dvc.yaml": "stages:\n  prepare:\n    cmd: echo\n    deps: [params.yaml]\n    outs: [data]\n",
    "params.yaml": "seed: 1\n",
    "sub/dvc.yaml": (
        "vars:\n  - tag: sub\n"
        "stages:\n"
        "  train:\n    cmd: echo ${tag}\n    deps: [../data]\n    params: [lr]\n"
        "    outs: [model.txt]\n"
        "  fe:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n"
        '      outs: ["fe-${item}"]\n'
    ),
    "sub/params.yaml": "lr: 0.1\n",
    "a/b/dvc.yaml": "stages:\n  train:\n    cmd: echo\n    deps: [../../sub/model.txt]\n",
    # what DVC never reads; each would fail to load if it were read
    "skipped/dvc.yaml": BROKEN,  # .dvcignore
    "venv/dvc.yaml": BROKEN,  # .gitignore
    "nested/.dvc/config": "",  # another DVC repository
    "nested/dvc.yaml": BROKEN,
    ".dvc/dvc.yaml": BROKEN,
    ".dvcignore": "skipped/\n",
    ".gitignore": "venv/\n",
}


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(git_repo, LAYOUT)
    git(git_repo, "add", "-A")
    return git_repo


def test_every_dvcfile_dvc_collects_and_none_it_skips(repo: Path) -> None:
    assert find_dvcfiles(repo) == ["dvc.yaml", "a/b/dvc.yaml", "sub/dvc.yaml"]
    pipeline = load_index(repo)
    assert list(pipeline.stages) == [
        "prepare",
        "a/b/dvc.yaml:train",
        "sub/dvc.yaml:train",
        "sub/dvc.yaml:fe@a",
        "sub/dvc.yaml:fe@b",
    ]
    assert pipeline.upstream["sub/dvc.yaml:train"] == ("prepare",)
    assert pipeline.upstream["a/b/dvc.yaml:train"] == ("sub/dvc.yaml:train",)


def test_each_file_has_its_own_params_default_vars_and_lock_name(repo: Path) -> None:
    stage = load_index(repo).stages["sub/dvc.yaml:train"]
    assert stage.lock_name == "train"
    assert stage.cmd == "echo sub"
    assert [(p.path, p.repo_path, p.keys) for p in stage.params] == [
        ("params.yaml", "sub/params.yaml", ("lr",))
    ]
    assert stage.dep_repo_paths == ("data",) and stage.wdir == "sub"


def test_an_out_declared_in_two_files_is_an_error_naming_the_file(repo: Path) -> None:
    gen(repo, {"a/b/dvc.yaml": "stages:\n  again:\n    cmd: echo\n    outs: [../../data]\n"})
    with pytest.raises(PipelineError) as caught:
        load_index(repo)
    assert caught.value.path == "a/b/dvc.yaml"
    assert "'data'" in str(caught.value) and "prepare" in str(caught.value)


@pytest.mark.parametrize(
    ("where", "target", "keys"),
    [
        ("", "prepare", ["prepare"]),
        ("", "sub/dvc.yaml", ["sub/dvc.yaml:train", "sub/dvc.yaml:fe@a", "sub/dvc.yaml:fe@b"]),
        ("", "sub/dvc.yaml:fe", ["sub/dvc.yaml:fe@a", "sub/dvc.yaml:fe@b"]),
        ("", "./sub/dvc.yaml:fe@b", ["sub/dvc.yaml:fe@b"]),
        ("sub", "train", ["sub/dvc.yaml:train"]),
        ("sub", "../dvc.yaml:prepare", ["prepare"]),
        ("sub", "../a/b/dvc.yaml", ["a/b/dvc.yaml:train"]),
        ("a/b", "train", ["a/b/dvc.yaml:train"]),
    ],
)
def test_targets_are_read_from_the_current_folder(
    repo: Path, where: str, target: str, keys: list[str]
) -> None:
    scope = Scope.here(repo, repo / where)
    assert scope.select(load_index(repo), [target]) == keys


def test_recursive_targets_take_every_pipeline_under_a_folder(repo: Path) -> None:
    pipeline = load_index(repo)
    assert Scope.here(repo, repo).select(pipeline, ["a"], recursive=True) == ["a/b/dvc.yaml:train"]
    assert Scope.here(repo, repo / "sub").select(pipeline, [".."], recursive=True) == list(
        pipeline.stages
    )


def test_an_out_path_names_its_stage_only_where_dvc_accepts_one(repo: Path) -> None:
    pipeline, scope = load_index(repo), Scope.here(repo, repo / "sub")
    assert scope.select(pipeline, ["model.txt"], outs=True) == ["sub/dvc.yaml:train"]
    with pytest.raises(TargetNotFoundError) as caught:
        scope.select(pipeline, ["model.txt"])
    assert str(caught.value) == "Stage 'model.txt' not found inside 'dvc.yaml' file"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nope", "Stage 'nope' not found inside 'dvc.yaml' file"),
        ("sub/dvc.yaml:nope", "Stage 'nope' not found inside 'sub/dvc.yaml' file"),
        ("sub/dvc.lock", "Did you mean: `sub/dvc.yaml`?"),
        ("zzz/dvc.yaml", "'{root}/zzz/dvc.yaml' does not exist"),
    ],
)
def test_unknown_targets_get_dvcs_words(repo: Path, target: str, message: str) -> None:
    with pytest.raises(TargetNotFoundError) as caught:
        Scope.here(repo, repo).select(load_index(repo), [target])
    assert str(caught.value) == message.format(root=repo.resolve())


def test_a_folder_without_dvcyaml_has_no_default_pipeline(repo: Path) -> None:
    (repo / "other").mkdir()
    scope = Scope.here(repo, repo / "other")
    with pytest.raises(TargetNotFoundError) as caught:
        scope.default_stages(load_index(repo))
    assert str(caught.value) == f"'{repo.resolve()}/other/dvc.yaml' does not exist"


def test_names_and_paths_are_shown_from_the_current_folder(repo: Path) -> None:
    pipeline = load_index(repo)
    scope = Scope.here(repo, repo / "sub")
    assert scope.show("prepare", pipeline) == "../dvc.yaml:prepare"
    assert scope.show("sub/dvc.yaml:fe@a", pipeline) == "fe@a"
    assert scope.show_path("sub/model.txt") == "model.txt"
    assert scope.show_path("data") == "../data"


def test_each_lock_entry_lands_in_the_dvclock_beside_its_dvcyaml(repo: Path) -> None:
    pipeline = load_index(repo)
    locks = LockSet(RepoPaths(repo), pipeline, pipeline.order())
    locks.update("sub/dvc.yaml:train", {"cmd": "echo sub"})
    locks.update("prepare", {"cmd": "echo"})
    assert (repo / "sub/dvc.lock").read_text() == (
        "schema: '2.0'\nstages:\n  train:\n    cmd: echo sub\n"
    )
    assert (repo / "dvc.lock").read_text() == "schema: '2.0'\nstages:\n  prepare:\n    cmd: echo\n"
    assert locks.read() == {"prepare": {"cmd": "echo"}, "sub/dvc.yaml:train": {"cmd": "echo sub"}}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("venv/dvc.yaml", "bad DVC file name 'venv/dvc.yaml' is git-ignored."),
        ("nested/dvc.yaml", "'{root}/nested/dvc.yaml' is dvc-ignored"),
        ("skipped/dvc.yaml", "'{root}/skipped/dvc.yaml' is dvc-ignored"),
        ("../outside/dvc.yaml", "'{parent}/outside/dvc.yaml' is outside of the DVC project {root}"),
    ],
)
def test_a_pipeline_file_the_index_leaves_out_is_refused(
    repo: Path, target: str, message: str
) -> None:
    """DVC's words (dvc/dvcfile.py); for a file outside, DVC itself crashes on the graph."""
    gen(repo.parent, {"outside/dvc.yaml": "stages:\n  x:\n    cmd: echo\n"})
    with pytest.raises(TargetNotFoundError) as caught:
        Scope.here(repo, repo).select(load_index(repo), [target])
    root = repo.resolve()
    assert str(caught.value) == message.format(root=root, parent=root.parent)


@pytest.mark.parametrize(
    ("where", "targets", "every", "expected"),
    [
        ("", [], False, []),  # the flow runs the root dvc.yaml
        ("sub", [], False, ["sub/dvc.yaml"]),
        ("sub", ["train"], False, ["sub/dvc.yaml:train"]),
        ("a", [], True, None),  # every stage
    ],
)
def test_exp_run_keeps_dvcs_scope_from_the_current_folder(
    repo: Path, monkeypatch: pytest.MonkeyPatch, where: str, targets, every, expected
) -> None:
    monkeypatch.chdir(repo / where)
    found = exp_targets(repo, targets, every)
    assert found == (list(load_index(repo).stages) if expected is None else expected)


def test_exp_run_in_a_folder_without_dvcyaml_fails_before_anything_changes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "a")
    with pytest.raises(TargetNotFoundError) as caught:
        exp_targets(repo, [], False)
    assert str(caught.value) == f"'{repo.resolve()}/a/dvc.yaml' does not exist"
