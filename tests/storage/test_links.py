"""Link strategies (reflink, hardlink, symlink, copy), fallback, and atomic placing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_dvc.errors import ConfigError, StorageError
from prefect_dvc.storage import links


@pytest.fixture
def obj(tmp_path: Path) -> Path:
    path = tmp_path / "cache" / "obj"
    path.parent.mkdir()
    path.write_bytes(b"payload\n")
    path.chmod(0o444)
    return path


def _reflink_works(directory: Path) -> bool:
    src, dest = directory / ".probe-src", directory / ".probe-dest"
    src.write_bytes(b"x")
    try:
        links.reflink(src, dest)
    except OSError:
        return False
    finally:
        src.unlink()
        dest.unlink(missing_ok=True)
    return True


@pytest.mark.parametrize("kind", ["hardlink", "symlink", "copy"])
def test_each_strategy_creates_dest(obj: Path, tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "ws" / "file.txt"
    dest.parent.mkdir()
    assert links.link(obj, dest, [kind]) == kind
    assert dest.read_bytes() == b"payload\n"
    if kind == "hardlink":
        assert dest.stat().st_ino == obj.stat().st_ino
    elif kind == "symlink":
        assert dest.is_symlink() and os.readlink(dest) == str(obj)
    else:
        assert dest.stat().st_ino != obj.stat().st_ino
        dest.write_bytes(b"changed")  # a copy is writable and independent
        assert obj.read_bytes() == b"payload\n"


def test_reflink_clones_or_raises_oserror(obj: Path, tmp_path: Path) -> None:
    dest = tmp_path / "clone"
    if _reflink_works(tmp_path):
        links.reflink(obj, dest)
        assert dest.read_bytes() == b"payload\n"
        assert dest.stat().st_ino != obj.stat().st_ino
    else:
        with pytest.raises(OSError):
            links.reflink(obj, dest)
        assert not dest.exists()


def test_default_is_reflink_else_copy(tmp_path: Path) -> None:
    expected = "reflink" if _reflink_works(tmp_path) else "copy"
    src = tmp_path / "src"
    src.write_bytes(b"abc")
    dest = tmp_path / "dest"
    assert links.link(src, dest) == expected
    assert dest.read_bytes() == b"abc"


def test_cross_device_hardlink_falls_back(obj: Path) -> None:
    shm = Path("/dev/shm")
    # NOTE: Linux mounts /dev/shm as its own tmpfs, so a hard link there crosses devices.
    assert shm.is_dir() and shm.stat().st_dev != obj.stat().st_dev, "needs /dev/shm (tmpfs)"
    dest = shm / f"prefect-dvc-test-{os.getpid()}-{id(obj)}"
    try:
        assert links.link(obj, dest, ["hardlink", "copy"]) == "copy"
        assert dest.read_bytes() == b"payload\n"
    finally:
        dest.unlink(missing_ok=True)


def test_all_strategies_failing_names_paths_and_what_to_do(obj: Path, tmp_path: Path) -> None:
    dest = tmp_path / "exists"
    dest.write_text("user data")
    with pytest.raises(StorageError) as err:
        links.link(obj, dest, ["hardlink", "copy"])
    text = str(err.value)
    assert str(obj) in text and str(dest) in text and "cache.type" in text
    assert dest.read_text() == "user data"


def test_unknown_link_type_is_a_config_error(obj: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown link type.*teleport.*reflink, hardlink"):
        links.link(obj, tmp_path / "x", ["teleport"])
    with pytest.raises(ConfigError):
        links.check_link_types([])
    assert not (tmp_path / "x").exists()


def test_replace_file_swaps_or_leaves_dest(tmp_path: Path) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        links.replace_file(dest, fail)
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    links.replace_file(dest, lambda tmp: tmp.write_text("new"))
    assert dest.read_text() == "new"
    folder = tmp_path / "was_a_dir"
    (folder / "sub").mkdir(parents=True)
    links.replace_file(folder, lambda tmp: tmp.write_text("file now"))
    assert folder.read_text() == "file now"


def test_replace_dir_builds_then_swaps(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    (dest / "stale").mkdir(parents=True)
    (dest / "stale" / "x").write_text("stale")

    def make(md5: str, target: Path) -> None:
        target.write_text(md5)

    links.replace_dir(dest, [("1", "a.txt"), ("2", "sub/b.txt")], make, jobs=2)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
        "a.txt",
        "sub",
        "sub/b.txt",
    ]
    assert (dest / "sub" / "b.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_replace_dir_rejects_unsafe_manifest_paths(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "keep").write_text("k")
    for bad in ("../escape", "/abs", "a//b"):
        with pytest.raises(StorageError, match="unsafe path"):
            links.replace_dir(dest, [("1", bad)], lambda m, t: t.write_text(m))
    assert (dest / "keep").read_text() == "k"
    assert not (tmp_path / "escape").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
