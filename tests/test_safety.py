"""The one guarded helper: every hostile path form refused, every honest spelling accepted.

Each hostile form is handed to ``prefect_dvc.safety`` directly (and to the
places that replace or write workspace paths: ``links.replace_file``,
``ObjectStore.checkout``, ``apply_overrides``) and must leave the repository
and the folder beside it byte-identical, ``.git`` included. Each honest
spelling must land where DVC would put it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers import gen
from snapshots import tree_snapshot

from prefect_dvc.config import load_config
from prefect_dvc.errors import ConfigError, UnsafePathError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.experiments.overrides import apply_overrides, parse_override
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import (
    cache_dir_refusal,
    check_workspace_path,
    check_write_target,
    in_repo_relative,
    lexical_refusal,
    out_refusal,
    remove_workspace_path,
)
from prefect_dvc.storage import links
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import open_stores
from prefect_dvc.translators import load_pipeline


@pytest.fixture
def ws(git_repo: Path) -> Path:
    """A repository with honest files and hostile symlinks, and a folder beside it."""
    outside = git_repo.parent / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("not yours\n")
    for rel, text in {
        "model.pkl": "m",
        "data/f": "f",
        "out.txt": "o",
        "sub/w.txt": "w",
        "nested/.git/HEAD": "ref: refs/heads/main\n",
        ".git/hooks/x": "#!/bin/sh\n",
        ".dvc/config.local": "[core]\n",
    }.items():
        path = git_repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.symlink("../outside", git_repo / "lnk")
    os.symlink(str(outside), git_repo / "abslnk")
    os.symlink(".git", git_repo / "gitlnk")
    os.symlink("data", git_repo / "inlnk")
    os.symlink(str(outside), git_repo / "model_link")
    return git_repo


# 32 hostile spellings; "{root}" and "{outside}" are filled in per test.
HOSTILE = [
    "",
    ".",
    "./",
    "a/..",
    "sub/..",
    "sub/../..",
    "..",
    "../outside/victim.txt",
    "sub/../../outside/victim.txt",
    "/etc/passwd",
    "{root}",
    "{root}/",
    "{root}/sub/..",
    "{outside}/victim.txt",
    ".git",
    ".git/",
    ".GIT",
    ".Git/config",
    ".git/hooks/x",
    "{root}/.git/hooks/x",
    "sub/../.git/config",
    ".dvc",
    ".dvc/",
    ".dvc/config.local",
    ".dvc/cache",
    ".DVC/config",
    "sub/.git/x",
    "lnk/victim.txt",
    "abslnk/victim.txt",
    "sub/../lnk/victim.txt",
    "gitlnk/config",
    "nested",
]

# honest spelling -> where it must land (relative to the root)
HONEST = {
    "./model.pkl": "model.pkl",
    "data/": "data",
    "sub/../out.txt": "out.txt",
    "{root}/model.pkl": "model.pkl",
    "{root}/sub/../out.txt": "out.txt",
    "sub//w.txt": "sub/w.txt",
    "./sub/./w.txt": "sub/w.txt",
    "inlnk/f": "data/f",
    "model_link": "model_link",
    "new/file.txt": "new/file.txt",
}


def _fill(form: str, root: Path) -> str:
    return form.format(root=root, outside=root.parent / "outside")


@pytest.mark.parametrize("form", HOSTILE)
def test_the_helper_alone_refuses_each_hostile_form(ws: Path, form: str) -> None:
    before = tree_snapshot(ws, ws.parent / "outside")
    path = _fill(form, ws)
    for check in (check_workspace_path, check_write_target, remove_workspace_path):
        with pytest.raises(UnsafePathError) as info:
            check(ws, path)
        assert "refusing to touch" in str(info.value)
        assert "\n" not in str(info.value)
    assert tree_snapshot(ws, ws.parent / "outside") == before
    assert (ws / ".git" / "HEAD").is_file()


@pytest.mark.parametrize("form", HOSTILE)
def test_replacing_a_hostile_path_changes_nothing(ws: Path, form: str, tmp_path: Path) -> None:
    store = ObjectStore.from_url(str(tmp_path / "cache"))
    src = tmp_path / "blob"
    src.write_bytes(b"payload")
    info = HashInfo(hashlib.md5(b"payload").hexdigest(), 7)
    store.add_file(src, info.md5)
    before = tree_snapshot(ws, ws.parent / "outside")
    dest = Path(_fill(form, ws)) if os.path.isabs(_fill(form, ws)) else ws / _fill(form, ws)
    with pytest.raises(UnsafePathError):
        store.checkout(info, dest, ["copy"], root=ws)
    with pytest.raises(UnsafePathError):
        links.replace_file(dest, lambda tmp: tmp.write_bytes(b"x"), root=ws)
    assert tree_snapshot(ws, ws.parent / "outside") == before


@pytest.mark.parametrize(("form", "lands"), HONEST.items())
def test_honest_spellings_are_accepted_where_they_land(ws: Path, form: str, lands: str) -> None:
    real_root = Path(os.path.realpath(ws))
    assert check_workspace_path(ws, _fill(form, ws)) == real_root / lands


@pytest.mark.parametrize(("form", "lands"), HONEST.items())
def test_removing_an_honest_path_removes_only_it(ws: Path, form: str, lands: str) -> None:
    before = tree_snapshot(ws, ws.parent / "outside")
    existed = remove_workspace_path(ws, _fill(form, ws))
    after = tree_snapshot(ws, ws.parent / "outside")
    gone = {key for key in before if key not in after}
    expected = {k for k in before if k == f"0:{lands}" or k.startswith(f"0:{lands}/")}
    assert existed == bool(expected)
    assert gone == expected
    assert all(after[k] == before[k] for k in after)


def test_an_out_that_is_a_symlink_to_a_folder_outside_is_unlinked_not_followed(ws: Path) -> None:
    outside = ws.parent / "outside"
    before = tree_snapshot(outside)
    assert remove_workspace_path(ws, "model_link")
    assert not os.path.lexists(ws / "model_link")
    assert tree_snapshot(outside) == before


def test_replacing_an_out_symlinked_outside_replaces_the_link(ws: Path) -> None:
    outside = ws.parent / "outside"
    before = tree_snapshot(outside)
    links.replace_file(ws / "model_link", lambda tmp: tmp.write_bytes(b"new"), root=ws)
    assert not (ws / "model_link").is_symlink()
    assert (ws / "model_link").read_bytes() == b"new"
    assert tree_snapshot(outside) == before


def test_lexical_rules_without_a_filesystem() -> None:
    assert lexical_refusal("sub/..") == "it is the repository root"
    assert lexical_refusal("a/../../b") == "it is outside the repository"
    assert lexical_refusal("x/.GiT/y") is not None
    assert lexical_refusal("models/.gitkeep") is None
    assert out_refusal("sub/dvc.lock") is not None
    assert out_refusal("stage.dvc") is not None
    assert out_refusal("a/.gitignore") is not None
    assert out_refusal("dvc.yaml.bak") is None


def test_in_repo_relative_accepts_the_root_through_its_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "d").mkdir(parents=True)
    os.symlink(real, tmp_path / "alias")
    assert in_repo_relative(tmp_path / "alias", str(real / "d" / "x")) == "d/x"
    # NOTE: DVC's path_isin is lexical too: reached through another symlink, it is outside.
    assert in_repo_relative(real, str(tmp_path / "alias" / "d" / "x")) is None
    assert in_repo_relative(real, str(tmp_path / "other")) is None


@pytest.mark.parametrize(
    "override",
    [
        "../outside.yaml:a=2",
        "../outside/victim.txt:a=2",
        "lnk/victim.yaml:a=2",
        ".git/config.yaml:a=2",
        ".dvc/params.yaml:+a=2",
        "{outside}/p.yaml:+a=2",
    ],
)
def test_set_params_never_writes_outside_the_repository(ws: Path, override: str) -> None:
    (ws.parent / "outside.yaml").write_text("a: 1\n")
    (ws / "params.yaml").write_text("a: 1\n")
    before = tree_snapshot(ws, ws.parent / "outside")
    outside_file = (ws.parent / "outside.yaml").read_bytes()
    parsed = parse_override(_fill(override, ws))
    for dry_run in (True, False):
        with pytest.raises(UnsafePathError, match="-S cannot edit"):
            apply_overrides(ws, [parse_override("a=5"), parsed], dry_run=dry_run)
    assert tree_snapshot(ws, ws.parent / "outside") == before
    assert (ws.parent / "outside.yaml").read_bytes() == outside_file


def test_set_params_accepts_an_absolute_path_inside_the_repository(ws: Path) -> None:
    (ws / "params.yaml").write_text("a: 1\n")
    apply_overrides(ws, [parse_override(f"{ws}/params.yaml:a=2")])
    assert (ws / "params.yaml").read_text() == "a: 2\n"


@pytest.mark.parametrize("written", ["..", "../..", "../.git/cache", "../.GIT/x"])
def test_cache_dir_may_not_be_the_root_above_it_or_in_git(
    git_repo: Path, tmp_path: Path, written: str
) -> None:
    # NOTE: cache.dir is relative to .dvc/, as in DVC.
    gen(git_repo, {".dvc/config": f"[cache]\n    dir = {written}\n"})
    before = tree_snapshot(git_repo)
    hasher = Hasher(StateDB(tmp_path / "state.db"))
    try:
        with pytest.raises(ConfigError, match="cannot hold the cache"):
            open_stores(RepoPaths(git_repo), load_config(git_repo), hasher)
    finally:
        hasher.close()
    assert tree_snapshot(git_repo) == before


@pytest.mark.parametrize("written", ["cache", "../cache", "../../elsewhere"])
def test_cache_dir_of_its_own_is_accepted(git_repo: Path, written: str) -> None:
    assert cache_dir_refusal(git_repo, git_repo / ".dvc" / written) is None


def test_a_command_that_symlinks_its_out_folder_outside_gets_no_gitignore_there(
    git_repo: Path,
) -> None:
    outside = git_repo.parent / "outside"
    outside.mkdir()
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: rm -rf d && ln -s ../outside d && echo x > d/o\n"
            "    deps: [seed]\n    outs: [d/o]\n",
            "seed": "1\n",
        },
    )
    pipeline = load_pipeline(git_repo)
    executor = open_executor(git_repo, pipeline)
    try:
        with pytest.raises(UnsafePathError, match="symlink"):
            executor.run("s", RunOptions(), lambda line: None)
    finally:
        executor.close()
    assert sorted(p.name for p in outside.iterdir()) == ["o"]
    assert not (git_repo / "dvc.lock").exists()


def test_unsafe_path_error_is_a_pipeline_error_that_survives_pickling(ws: Path) -> None:
    import pickle

    from prefect_dvc.errors import PipelineError

    with pytest.raises(UnsafePathError) as info:
        remove_workspace_path(ws, ".git")
    err = info.value
    assert isinstance(err, PipelineError)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is UnsafePathError
    assert str(copy) == str(err) and copy.path == ".git"
