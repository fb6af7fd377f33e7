"""``checkout``/``pull`` refuse to lose workspace content the cache lacks, as DVC 3.67.1 does.

DVC (``dvc/repo/checkout.py::_check_can_delete``) refuses the whole command
when a file it would replace or delete (a changed file out, a changed or
extra file in a folder out) holds content that is not in the cache, and
changes nothing; ``--force`` overwrites. Content the cache holds is replaced
silently. Each row makes the same change in a DVC copy and in ours of one
pushed project and compares verdicts and resulting workspaces.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.dvc_interop

PIPELINE = """\
stages:
  a:
    cmd: echo a > a.txt
    outs: [a.txt]
  d:
    cmd: mkdir -p model && echo 1 > model/x && echo 2 > model/y
    outs: [model/]
"""


def _write(rel: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        if path.is_symlink():
            path.unlink()
        path.write_text(text)

    return change


def _file_to_folder(root: Path) -> None:
    (root / "a.txt").unlink()
    gen(root, {"a.txt/mine": "mine\n"})


def _folder_to_file(root: Path) -> None:
    shutil.rmtree(root / "model")
    (root / "model").write_text("mine\n")


# row -> (change, the unsaved paths our refusal names; () when DVC replaces silently)
UNSAVED: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "changed-file-out": (_write("a.txt", "mine\n"), ("a.txt",)),
    "changed-file-in-folder-out": (_write("model/x", "mine\n"), ("model/x",)),
    "extra-file-in-folder-out": (_write("model/extra", "mine\n"), ("model/extra",)),
    "file-out-became-a-folder": (_file_to_folder, ("a.txt/mine",)),
    "folder-out-became-a-file": (_folder_to_file, ("model",)),
}
CACHED: dict[str, Callable[[Path], None]] = {
    # "1\n" and "2\n" are model's files, so objects of the cache
    "file-out-holds-a-cached-version": _write("a.txt", "1\n"),
    "folder-file-holds-a-cached-version": _write("model/x", "2\n"),
}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after real DVC's ``repro`` and ``push`` to a local remote."""
    base = tmp_path_factory.mktemp("unsaved")
    root = base / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, {"dvc.yaml": PIPELINE})
    assert run_dvc(root, "remote", "add", "-d", "store", str(base / "store")).returncode == 0
    for args in (("repro",), ("push",)):
        done = run_dvc(root, *args)
        assert done.returncode == 0, done.stderr
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".dvc" not in p.parts and ".git" not in p.parts
    }


def _twins(pushed: Path, tmp_path: Path, change: Callable[[Path], None]) -> tuple[Path, Path]:
    theirs, ours = tmp_path / "dvc" / "repo", tmp_path / "ours" / "repo"
    for root in (theirs, ours):
        shutil.copytree(pushed, root, symlinks=True)
        change(root)
    return theirs, ours


@pytest.mark.parametrize("command", ["checkout", "pull"])
@pytest.mark.parametrize("row", list(UNSAVED))
def test_unsaved_change_is_refused_then_forced(
    pushed: Path, tmp_path: Path, cli, row: str, command: str
) -> None:
    change, paths = UNSAVED[row]
    theirs_root, ours_root = _twins(pushed, tmp_path, change)
    before = _files(ours_root)
    theirs = run_dvc(theirs_root, command)
    ours = cli(ours_root, command)
    assert theirs.returncode != 0 and "unsaved files" in theirs.stderr
    assert ours.code != 0
    assert "unsaved" in ours.err and "--force" in ours.err
    assert all(p in ours.err for p in paths), ours.err
    assert _files(ours_root) == before == _files(theirs_root)

    theirs = run_dvc(theirs_root, command, "--force")
    ours = cli(ours_root, command, "--force")
    assert (ours.code, theirs.returncode) == (0, 0), ours.err
    assert _files(ours_root) == _files(theirs_root) == _files(pushed)


@pytest.mark.parametrize("command", ["checkout", "pull"])
@pytest.mark.parametrize("row", list(CACHED))
def test_cached_version_is_replaced_silently(
    pushed: Path, tmp_path: Path, cli, row: str, command: str
) -> None:
    theirs_root, ours_root = _twins(pushed, tmp_path, CACHED[row])
    theirs = run_dvc(theirs_root, command)
    ours = cli(ours_root, command)
    assert (ours.code, theirs.returncode) == (0, 0), ours.err
    assert _files(ours_root) == _files(theirs_root) == _files(pushed)


def test_refusal_names_first_paths_and_count(pushed: Path, tmp_path: Path, cli) -> None:
    root = tmp_path / "repo"
    shutil.copytree(pushed, root, symlinks=True)
    gen(root, {f"model/new{i}": f"n{i}\n" for i in range(5)})
    before = _files(root)
    ours = cli(root, "checkout")
    assert ours.code != 0
    assert "5 unsaved file(s)" in ours.err and "model/new0" in ours.err
    assert "and 2 more" in ours.err and "model/new4" not in ours.err
    assert len(ours.err.strip().splitlines()) == 1
    assert _files(root) == before


def test_only_targeted_outs_are_checked(pushed: Path, tmp_path: Path, cli) -> None:
    """``checkout a`` leaves the unsaved edit in model/ alone and restores a.txt, as DVC."""
    change = _write("model/x", "mine\n")
    theirs_root, ours_root = _twins(pushed, tmp_path, change)
    for root in (theirs_root, ours_root):
        (root / "a.txt").unlink()
    theirs = run_dvc(theirs_root, "checkout", "a")
    ours = cli(ours_root, "checkout", "a")
    assert (ours.code, theirs.returncode) == (0, 0), ours.err
    assert _files(ours_root) == _files(theirs_root)
    assert (ours_root / "model" / "x").read_text() == "mine\n"
