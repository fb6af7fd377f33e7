"""The user's Git index is put back byte for byte after a block that ``git add``s."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.experiments.userindex import kept_index, restore_index, snapshot_index


def _index(root: Path) -> Path:
    return root / ".git" / "index"


def test_block_that_stages_and_fails_leaves_the_index_as_it_was(git_repo: Path) -> None:
    gen(git_repo, {"mine.txt": "staged\n"})
    git(git_repo, "add", "mine.txt")
    before = _index(git_repo).read_bytes()
    with pytest.raises(RuntimeError), kept_index(git_repo):
        gen(git_repo, {"stage.txt": "s\n", "mine.txt": "changed\n"})
        git(git_repo, "add", "-A")
        git(git_repo, "rm", "-q", "--cached", ".dvc/config")
        raise RuntimeError("stage failed")
    assert _index(git_repo).read_bytes() == before
    assert git(git_repo, "diff", "--cached", "--name-only") == "mine.txt"
    assert git(git_repo, "show", ":mine.txt") == "staged"
    assert not (git_repo / ".git" / "index.lock").exists()


def test_held_index_lock_is_reported_and_the_index_left_alone(git_repo: Path) -> None:
    calls: list[Path] = []
    with kept_index(git_repo, calls.append):
        gen(git_repo, {"stage.txt": "s\n"})
        git(git_repo, "add", "stage.txt")
        staged = _index(git_repo).read_bytes()
        (git_repo / ".git" / "index.lock").write_bytes(b"held by another git")
    assert calls == [_index(git_repo)]
    assert _index(git_repo).read_bytes() == staged
    assert (git_repo / ".git" / "index.lock").read_bytes() == b"held by another git"


def test_an_index_that_did_not_exist_is_removed_again(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    snapshot = snapshot_index(root)
    assert snapshot is not None and snapshot.content is None
    gen(root, {"a.txt": "a\n"})
    git(root, "add", "a.txt")
    assert restore_index(snapshot) is True
    assert not _index(root).exists()
    assert git(root, "status", "--porcelain") == "?? a.txt"


def test_linked_worktree_restores_its_own_index(git_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "linked"
    git(git_repo, "worktree", "add", "-q", str(other))
    main_before = _index(git_repo).read_bytes()
    with kept_index(other):
        gen(other, {"w.txt": "w\n"})
        git(other, "add", "w.txt")
    assert git(other, "diff", "--cached", "--name-only") == ""
    assert _index(git_repo).read_bytes() == main_before


def test_outside_git_there_is_nothing_to_keep(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert snapshot_index(plain) is None


def test_a_repository_deleted_inside_the_block_is_not_recreated(tmp_path: Path) -> None:
    """A scheduled run's clone is deleted once pushed, inside ``kept_index``."""
    import shutil

    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    gen(clone, {"a.txt": "a\n"})
    git(clone, "add", "a.txt")
    calls: list[Path] = []
    with kept_index(clone, calls.append):
        git(clone, "add", "-A")
        gen(clone, {"b.txt": "b\n"})
        git(clone, "add", "b.txt")
        shutil.rmtree(clone)
    assert not clone.exists() and calls == []
