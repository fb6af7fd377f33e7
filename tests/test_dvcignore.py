"""``.dvcignore`` where directories are hashed and checked out, against real DVC 3.67.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from helpers import gen, run_dvc

from prefect_dvc.errors import StorageError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.ignore import ignored_paths, rules_for
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.translators import load_pipeline

STAGE = "stages:\n  s:\n    cmd: echo run > out.txt\n    deps: [{dep}]\n    outs: [out.txt]\n"
# NOTE: the tracked directory: data/d where a .dvcignore sits in data/ (DVC
# refuses one inside the directory it hashes), data elsewhere.
DEPS = {"nested-negation": "data/d", "inside-ignored": "data/d"}

TREES: dict[str, dict[str, str]] = {
    "glob": {".dvcignore": "*.tmp\n", "data/a.csv": "a\n", "data/x.tmp": "x\n"},
    "nested-negation": {
        ".dvcignore": "# comment\n*.tmp\n\nlogs/\n",
        "data/.dvcignore": "!keep.tmp\n/a.csv\n",
        "data/a.csv": "a\n",
        "data/x.tmp": "x\n",
        "data/d/keep.tmp": "k\n",
        "data/d/a.csv": "kept: /a.csv is anchored to data/\n",
        "data/d/sub/keep.tmp": "re-included at any depth\n",
        "data/d/sub/drop.tmp": "d\n",
        "data/d/logs/run.log": "log\n",
        "data/d/logsfile": "a file, not the logs/ folder\n",
    },
    "anchored-and-dir": {
        ".dvcignore": "/data/cache/\ndata/b.csv\n**/*.bak\n",
        "data/a.csv": "a\n",
        "data/b.csv": "b\n",
        "data/cache/c.bin": "c\n",
        "data/deep/er/z.bak": "z\n",
        "data/deep/er/z.txt": "z\n",
    },
    "ignored-folder-cannot-reinclude": {
        ".dvcignore": "tmp/\n!tmp/keep.txt\n",
        "data/a.csv": "a\n",
        "data/tmp/keep.txt": "k\n",
        "data/tmp/.dvcignore": "!*\n",
    },
    "defaults": {"data/a.csv": "a\n", "data/.git": "gitdir: elsewhere\n"},
    "ignored-itself": {".dvcignore": "data/\n", "data/a.csv": "a\n", "data/sub/b": "b\n"},
    "inside-ignored": {".dvcignore": "/data/\n", "data/d/a.csv": "a\n"},
}


def _dvc_lock_dep(repo: Path) -> dict[str, object]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return lock["stages"]["s"]["deps"][0]


@pytest.mark.parametrize("name", sorted(TREES))
def test_dir_dep_hash_and_lock_match_dvc(git_repo: Path, name: str) -> None:
    dep = DEPS.get(name, "data")
    gen(git_repo, {**TREES[name], "dvc.yaml": STAGE.format(dep=dep)})
    done = run_dvc(git_repo, "repro", "-q")
    assert done.returncode == 0, done.stderr
    dvc_lock = (git_repo / "dvc.lock").read_bytes()
    expected = _dvc_lock_dep(git_repo)

    ours, _tree = Hasher(root=git_repo).hash_dir(git_repo / dep)
    assert ours.to_lock(dep) == expected

    (git_repo / "dvc.lock").unlink()
    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        executor.run("s", RunOptions(use_run_cache=False), lambda _: None)
    finally:
        executor.close()
    assert (git_repo / "dvc.lock").read_bytes() == dvc_lock


def test_new_ignored_file_changes_nothing(git_repo: Path) -> None:
    gen(git_repo, {**TREES["nested-negation"], "dvc.yaml": STAGE.format(dep="data/d")})
    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        executor.run("s", RunOptions(), lambda _: None)
        gen(git_repo, {"data/d/new.tmp": "n\n", "data/d/sub/drop.tmp": "edited\n"})
        gen(git_repo, {"data/d/logs/more/deep.log": "x\n"})
        assert not executor.status("s").changed
        assert run_dvc(git_repo, "status", "--json").stdout.strip() == "{}"
        gen(git_repo, {"data/d/sub/keep.tmp": "changed and re-included\n"})
        assert [str(c) for c in executor.status("s").changes] == ["dep 'data/d' modified"]
    finally:
        executor.close()
    dvc = run_dvc(git_repo, "status", "--json")
    assert dvc.returncode == 0, dvc.stderr
    assert yaml.safe_load(dvc.stdout) == {"s": [{"changed deps": {"data/d": "modified"}}]}


def test_dvcignore_inside_a_hashed_directory_is_refused_as_in_dvc(git_repo: Path) -> None:
    gen(git_repo, {"data/a.csv": "a\n", "data/sub/.dvcignore": "*.tmp\n"})
    gen(git_repo, {"dvc.yaml": STAGE.format(dep="data")})
    done = run_dvc(git_repo, "repro", "-q")
    assert done.returncode != 0
    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        with pytest.raises(StorageError, match="not be in collected dir path: 'sub/.dvcignore'"):
            executor.run("s", RunOptions(), lambda _: None)
    finally:
        executor.close()
    assert not (git_repo / "dvc.lock").exists()
    assert not (git_repo / "out.txt").exists()


def test_checkout_keeps_ignored_files(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            ".dvcignore": "*.tmp\nscratch/\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: mkdir -p out && echo o > out/o.txt\n"
            "    deps: [dep.txt]\n    outs: [out]\n",
            "dep.txt": "d\n",
        },
    )
    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        entry = executor.run("s", RunOptions(), lambda _: None).entry
    finally:
        executor.close()
    gen(
        git_repo,
        {"out/o.txt": "user edit\n", "out/mine.tmp": "mine\n", "out/scratch/s.bin": "s\n"},
    )
    assert ignored_paths(git_repo, git_repo / "out") == ["mine.tmp", "scratch"]
    stores, hasher = open_stores_for(git_repo, use_remote=False)
    try:
        from prefect_dvc.storage.hashinfo import HashInfo

        info = HashInfo.from_lock(entry["outs"][0])
        assert info is not None
        stores.checkout(info, git_repo / "out")
    finally:
        hasher.close()
    assert (git_repo / "out/o.txt").read_text() == "o\n"
    assert (git_repo / "out/mine.tmp").read_text() == "mine\n"
    assert (git_repo / "out/scratch/s.bin").read_text() == "s\n"


def test_no_rules_outside_the_repository(tmp_path: Path, git_repo: Path) -> None:
    outside = tmp_path / "elsewhere"
    gen(outside, {"a.tmp": "a\n"})
    gen(git_repo, {".dvcignore": "*.tmp\n"})
    assert rules_for(git_repo, outside) is None
    assert Hasher(root=git_repo).hash_dir(outside)[0].nfiles == 1
    shutil.rmtree(outside)
