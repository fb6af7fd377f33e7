"""``pull`` and ``checkout`` print what ``dvc pull``/``dvc checkout`` (DVC 3.67.1) print.

One project (a file out, a directory out, an out of a stage with ``wdir``)
is reproduced and pushed by real DVC once; each row copies it twice, makes
the same change in both copies, and runs DVC in one and prefect-dvc in the
other, from the same folder. Output, errors and exit code must be equal
byte for byte, and the workspaces must end equal.
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
  w:
    wdir: sub
    cmd: cp c.txt o.txt
    deps: [c.txt]
    outs: [o.txt]
"""


def _rm(*rels: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        for rel in rels:
            path = root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    return change


OUTS = ("a.txt", "model", "sub/o.txt")
# row -> (change, folder to run in, command)
ROWS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "pull-clean": (lambda root: None, ".", "pull"),
    "pull-outs-gone": (_rm(*OUTS), ".", "pull"),
    "pull-outs-and-cache-gone": (_rm(*OUTS, ".dvc/cache"), ".", "pull"),
    "pull-one-out-and-cache-gone": (_rm("a.txt", ".dvc/cache"), ".", "pull"),
    "pull-one-file-of-dir-gone": (_rm("model/x"), ".", "pull"),
    "pull-from-subfolder": (_rm(*OUTS), "sub", "pull"),
    "checkout-clean": (lambda root: None, ".", "checkout"),
    "checkout-outs-gone": (_rm(*OUTS), ".", "checkout"),
    "checkout-dir-gone": (_rm("model"), ".", "checkout"),
    "checkout-from-subfolder": (_rm(*OUTS), "sub", "checkout"),
}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after real DVC's ``repro`` and ``push`` to a local remote."""
    base = tmp_path_factory.mktemp("pulltext")
    root = base / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, {"sub/c.txt": "c\n", "dvc.yaml": PIPELINE})
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


@pytest.mark.parametrize("row", list(ROWS))
def test_pull_and_checkout_text_match_dvc(pushed: Path, tmp_path: Path, cli, row: str) -> None:
    change, folder, command = ROWS[row]
    theirs_root, ours_root = tmp_path / "dvc" / "repo", tmp_path / "ours" / "repo"
    for root in (theirs_root, ours_root):
        shutil.copytree(pushed, root, symlinks=True)
        change(root)
    theirs = run_dvc(theirs_root / folder, command)
    ours = cli(ours_root / folder, command)
    assert (ours.code, ours.out, ours.err) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert _files(ours_root) == _files(theirs_root)


def test_pull_summary_counts_files_of_a_directory(pushed: Path, tmp_path: Path, cli) -> None:
    """Not a hand-written copy of DVC's words: the counts follow the directory's files."""
    root = tmp_path / "repo"
    shutil.copytree(pushed, root, symlinks=True)
    _rm("model")(root)
    ours = cli(root, "pull")
    assert ours.code == 0, ours.err
    assert ours.out == "A       model/\n2 files added\n"
