"""``push: false``, ``remote:`` and hostile ``.dvc`` files in the data commands, against DVC 3.67.1.

One project is made by real ``dvc add`` (three files, one folder) with two
local remotes; its ``.dvc`` files are then given DVC's per-out flags. Each
row copies the whole folder (repository, cache and remotes) twice and runs
the same command with real DVC in one copy and prefect-dvc in the other:
the output, the exit code and what each remote holds must be equal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.dvc_interop

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
# the same flags on a pipeline's outs
PIPELINE = """\
stages:
  gen:
    cmd: echo g > gen.txt && echo h > far.txt && echo i > near.txt
    outs:
    - gen.txt:
        push: false
    - far.txt:
        remote: other
    - near.txt
"""


def _ours(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


def _objects(store: Path) -> set[str]:
    base = store / "files" / "md5"
    return {p.parent.name + p.name for p in base.glob("*/*")} if base.exists() else set()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``repo/`` with ``keep.txt`` (push: false), ``other.txt`` (remote: other), ``plain.txt``
    and ``folder/``; remotes ``main/`` (default) and ``other/`` beside it, both empty."""
    top = tmp_path_factory.mktemp("flags")
    root = top / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(
        root,
        {"keep.txt": "k\n", "other.txt": "o\n", "plain.txt": "p\n", "folder/x": "x\n"},
    )
    added = run_dvc(root, "add", "-q", "keep.txt", "other.txt", "plain.txt", "folder")
    assert added.returncode == 0, added.stderr
    for args in (("-d", "main", "../main"), ("other", "../other")):
        assert run_dvc(root, "remote", "add", *args).returncode == 0
    for name, flag in (("keep.txt", "  push: false\n"), ("other.txt", "  remote: other\n")):
        dvcfile = root / f"{name}.dvc"
        dvcfile.write_text(dvcfile.read_text() + flag)
    gen(root, {"dvc.yaml": PIPELINE})
    assert run_dvc(root, "repro", "-q").returncode == 0
    return top


def _twins(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(base, ours, symlinks=True)
    shutil.copytree(base, theirs, symlinks=True)
    return ours, theirs


def _remotes(top: Path) -> tuple[set[str], set[str]]:
    return _objects(top / "main"), _objects(top / "other")


@pytest.mark.parametrize(
    "args",
    [
        ("push",),
        ("push", "-r", "other"),
        ("push", "-r", "main"),
        ("push", "keep.txt"),
        ("push", "other.txt.dvc"),
        ("push", "gen"),
        ("push", "far.txt"),
    ],
)
def test_push_honours_push_false_and_per_out_remote_as_dvc(
    base: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    ours, theirs = _twins(base, tmp_path)
    got, want = _ours(ours / "repo", *args), run_dvc(theirs / "repo", *args)
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout), (got.stderr, want.stderr)
    assert _remotes(ours) == _remotes(theirs)
    assert _remotes(ours) != (set(), set()) or args == ("push", "keep.txt")


def test_fetch_takes_each_out_from_its_own_remote(base: Path, tmp_path: Path) -> None:
    ours, theirs = _twins(base, tmp_path)
    for top in (ours, theirs):
        assert run_dvc(top / "repo", "push").returncode == 0
        shutil.rmtree(top / "repo" / ".dvc" / "cache")
    got, want = (
        _ours(ours / "repo", "fetch", "other.txt"),
        run_dvc(theirs / "repo", "fetch", "other.txt"),
    )
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout) == (0, "1 file fetched\n")
    cache = ours / "repo" / ".dvc" / "cache"
    assert _objects(cache) == _objects(theirs / "repo" / ".dvc" / "cache") != set()


@pytest.mark.parametrize(
    ("dvcfile", "text", "named", "why"),
    [
        (
            "evil.dvc",
            "outs:\n- md5: {md5}\n  size: 2\n  hash: md5\n  path: .git/hooks/pre-commit\n",
            "evil.dvc",
            "inside '.git'",
        ),
        (
            "sub/evil.dvc",
            "outs:\n- md5: {md5}\n  size: 2\n  hash: md5\n  path: ../.dvc/config\n",
            "sub/evil.dvc",
            "inside '.dvc'",
        ),
        (
            "link.dvc",
            "outs:\n- md5: {md5}\n  size: 2\n  hash: md5\n  path: outside/plain.txt\n",
            "link.dvc",
            "outside the repository",
        ),
        ("bad.dvc", "outs:\n- md5: {md5}\n  path: [x\n", "bad.dvc:4", "invalid YAML"),
        ("odd.dvc", "outs:\n- md5: {md5}\n  colour: red\n  path: x\n", "odd.dvc", "'colour'"),
    ],
)
@pytest.mark.parametrize("command", ["checkout", "push"])
def test_a_hostile_dvcfile_is_refused_in_one_line_and_nothing_changes(
    base: Path, tmp_path: Path, dvcfile: str, text: str, named: str, why: str, command: str
) -> None:
    top = tmp_path / "top"
    shutil.copytree(base, top, symlinks=True)
    root = top / "repo"
    (root / "plain.txt").unlink()
    md5 = (root / "plain.txt.dvc").read_text().split("md5: ")[1].split()[0]
    gen(root, {dvcfile: text.format(md5=md5)})
    (top / "elsewhere").mkdir()
    (root / "outside").symlink_to(top / "elsewhere")
    before = {p: p.read_bytes() for p in (root / ".git").rglob("*") if p.is_file()}
    result = _ours(root, command)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {named}"), result.stderr
    assert why in lines[0]
    assert not (root / "plain.txt").exists(), "nothing is checked out"
    assert list((top / "elsewhere").iterdir()) == []
    assert _remotes(top) == (set(), set()), "nothing is pushed"
    assert {p: p.read_bytes() for p in (root / ".git").rglob("*") if p.is_file()} == before
