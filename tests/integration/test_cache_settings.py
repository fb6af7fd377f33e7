"""``cache.type``, ``cache.shared``, ``cache.dir`` and config file modes, as DVC 3.67.1 leaves them.

Each test builds the same project twice, runs real DVC in one copy and
prefect-dvc in the other, and compares what ``stat`` says: modes, link
kinds (``os.path.islink``, shared inodes) and where the objects went.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

PROJECT = {
    "data.csv": "abc\n",
    "d/x": "1\n",
    "dvc.yaml": (
        "stages:\n"
        "  s:\n"
        "    cmd: cp data.csv out.txt && mkdir -p od && cp d/x od/x\n"
        "    deps: [data.csv, d]\n"
        "    outs: [out.txt, od]\n"
    ),
}
OUTS = ("out.txt", "od/x")


def _project(root: Path, config: str) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, {**PROJECT, ".dvc/config": config})


def _twins(tmp_path: Path, config: str) -> tuple[Path, Path]:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    _project(theirs, config)
    _project(ours, config)
    return theirs, ours


def _repro_both(theirs: Path, ours: Path, cli: Callable[..., object]) -> None:
    done = run_dvc(theirs, "repro")
    assert done.returncode == 0, done.stderr
    result = cli(ours, "repro")
    assert result.code == 0, result.err  # type: ignore[attr-defined]


def _modes(cache: Path) -> dict[str, str]:
    """relpath -> octal mode and kind of everything DVC also writes into a cache."""
    found = {}
    for path in sorted(cache.rglob("*")):
        rel = path.relative_to(cache).as_posix()
        if rel.startswith((".prefect-dvc", "tmp")) or "/.prefect-dvc" in rel:
            continue
        st = path.lstat()
        found[rel] = f"{stat.S_IMODE(st.st_mode):o} {'d' if path.is_dir() else 'f'}"
    return found


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _link_kind(root: Path, rel: str, cache: Path) -> tuple[bool, bool, str]:
    """(is a symlink, shares its inode with a cache object, mode) of a workspace file."""
    path = root / rel
    objects = {p.stat().st_ino for p in (cache / "files").rglob("*") if p.is_file()}
    st = path.lstat()
    shared = not path.is_symlink() and st.st_ino in objects
    return path.is_symlink(), shared, f"{stat.S_IMODE(path.stat().st_mode):o}"


def test_shared_group_cache_gets_dvcs_modes(tmp_path: Path, cli) -> None:
    theirs, ours = _twins(tmp_path, "[cache]\n    shared = group\n")
    _repro_both(theirs, ours, cli)
    expected = _modes(theirs / ".dvc" / "cache")
    assert expected["files"] == "2775 d"
    assert _modes(ours / ".dvc" / "cache") == expected
    writers = ours / ".dvc" / "cache" / ".prefect-dvc-writers"
    assert stat.S_IMODE(writers.stat().st_mode) == 0o2775


@pytest.mark.parametrize("types", ["hardlink", "symlink", "hardlink,copy", "reflink,copy"])
def test_outs_are_linked_after_a_run_as_dvc(tmp_path: Path, cli, types: str) -> None:
    theirs, ours = _twins(tmp_path, f'[cache]\n    type = "{types}"\n')
    _repro_both(theirs, ours, cli)
    for rel in OUTS:
        want = _link_kind(theirs, rel, theirs / ".dvc" / "cache")
        assert _link_kind(ours, rel, ours / ".dvc" / "cache") == want
    if types.startswith("hardlink"):
        assert _link_kind(ours, "out.txt", ours / ".dvc" / "cache") == (False, True, "444")
    # both tools still see the project as up to date
    assert run_dvc(ours, "status").stdout == "Data and pipelines are up to date.\n"
    assert cli(ours, "status").out == "Data and pipelines are up to date.\n"


@pytest.fixture
def other_device(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than ``tmp_path`` (tmpfs), where hard links cannot go."""
    folder = Path(tempfile.mkdtemp(prefix="prefect-dvc-test-", dir="/dev/shm"))
    assert folder.stat().st_dev != tmp_path.stat().st_dev, "need /dev/shm on its own tmpfs"
    yield folder
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o644)
    shutil.rmtree(folder)


def test_link_falls_back_along_cache_type_across_devices(
    tmp_path: Path, other_device: Path, cli
) -> None:
    """A cache on another device: ``hardlink`` fails, the next type in the list is used."""
    config = '[cache]\n    type = "hardlink,symlink"\n    dir = {}\n'
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    _project(theirs, config.format(other_device / "theirs"))
    _project(ours, config.format(other_device / "ours"))
    _repro_both(theirs, ours, cli)
    for rel in OUTS:
        assert (theirs / rel).is_symlink() and (ours / rel).is_symlink()
        assert (ours / rel).resolve().is_relative_to(other_device / "ours")
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes()
    for rel in OUTS:
        (ours / rel).unlink()
    assert cli(ours, "checkout").code == 0
    assert all((ours / rel).is_symlink() for rel in OUTS)


def test_relative_cache_dir_resolves_against_dvc_folder(tmp_path: Path, cli) -> None:
    """``cache.dir = ../../cache-<tool>`` in ``.dvc/config`` is relative to ``.dvc/``."""
    theirs, ours = tmp_path / "t" / "repo", tmp_path / "o" / "repo"
    _project(theirs, "[cache]\n    dir = ../../cache-theirs\n")
    _project(ours, "[cache]\n    dir = ../../cache-ours\n")
    _repro_both(theirs, ours, cli)
    want = _listing(tmp_path / "t" / "cache-theirs" / "files")
    assert want and _listing(tmp_path / "o" / "cache-ours" / "files") == want
    assert not (ours / ".dvc" / "cache").exists()


def test_persist_out_is_unprotected_before_its_command(tmp_path: Path, cli) -> None:
    """With ``hardlink``, a ``persist`` out appended to by its command leaves the object whole."""
    root = tmp_path / "repo"
    _project(root, '[cache]\n    type = "hardlink"\n')
    gen(
        root,
        {
            "dvc.yaml": (
                "stages:\n  s:\n    cmd: cat data.csv >> log.txt\n"
                "    deps: [data.csv]\n    outs: [{log.txt: {persist: true}}]\n"
            )
        },
    )
    assert cli(root, "repro").code == 0
    first = (root / "log.txt").read_bytes()
    assert (root / "log.txt").stat().st_nlink == 2
    (root / "data.csv").write_text("def\n")
    result = cli(root, "repro")
    assert result.code == 0, result.err
    assert (root / "log.txt").read_bytes() == first + b"def\n"
    objects = [p.read_bytes() for p in (root / ".dvc/cache/files").rglob("*") if p.is_file()]
    assert first in objects and first + b"def\n" in objects
    assert run_dvc(root, "status").stdout == "Data and pipelines are up to date.\n"


@pytest.mark.parametrize("mode", [0o664, 0o640, 0o600])
def test_config_writers_keep_the_files_mode(tmp_path: Path, cli, mode: int) -> None:
    theirs, ours = _twins(tmp_path, "")
    for root in (theirs, ours):
        (root / ".dvc" / "config").chmod(mode)
    commands = [
        ("remote", "add", "-d", "r", "/x"),
        ("remote", "add", "s", "/y"),
        ("remote", "default", "s"),
        ("remote", "remove", "r"),
    ]
    for args in commands:
        assert run_dvc(theirs, *args).returncode == 0
        assert cli(ours, *args).code == 0
        want = stat.S_IMODE((theirs / ".dvc" / "config").stat().st_mode)
        assert stat.S_IMODE((ours / ".dvc" / "config").stat().st_mode) == want, args
    assert (ours / ".dvc" / "config").read_text() == (theirs / ".dvc" / "config").read_text()
    assert stat.S_IMODE((ours / ".dvc" / "config").stat().st_mode) == mode


def test_lock_gitignore_and_params_keep_their_mode(tmp_path: Path, cli) -> None:
    """dvc.lock and .gitignore rewritten by a run keep the mode the user gave them."""
    theirs, ours = _twins(tmp_path, "")
    _repro_both(theirs, ours, cli)
    for root in (theirs, ours):
        for name in ("dvc.lock", ".gitignore"):
            (root / name).chmod(0o660)
        gen(
            root,
            {
                "data.csv": "changed\n",
                "dvc.yaml": PROJECT["dvc.yaml"]
                .replace("od]", "od, more.txt]")
                .replace("cp d/x od/x", "cp d/x od/x && touch more.txt"),
            },
        )
    _repro_both(theirs, ours, cli)
    for name in ("dvc.lock", ".gitignore"):
        want = stat.S_IMODE((theirs / name).stat().st_mode)
        assert stat.S_IMODE((ours / name).stat().st_mode) == want == 0o660
