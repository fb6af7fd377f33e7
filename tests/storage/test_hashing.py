"""Hashing files and directories exactly as DVC 3 does, and the state DB in use."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import dvc_bin

from prefect_dvc.errors import StorageError
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.hashing import BLOCK_SIZE, Hasher, md5_file
from prefect_dvc.storage.state import StateDB

HOUR_NS = 3600 * 10**9
MiB = 1 << 20


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


TREE_FILES = {
    "B/a.txt": b"hello\n",
    "UPPER.TXT": b"Upper",
    "a.txt": b"A",
    "empty": b"",
    "sub/z.txt": b"zzz\n",
    "sub-x": b"dash sorts before slash\n",
    "sub.txt": b"dot sorts before slash\n",
    "sub/deeper/big.bin": pattern(3 * MiB + 7),
    "\u00e9.txt": b"accent\n",
    "\u00fcn\u00ef/\u00df.txt": "stra\u00dfe\n".encode(),
}

# NOTE: pinned from `dvc add data` (DVC 3.67.1) on make_tree(): data.dvc and the
# object .dvc/cache/files/md5/93/09b913a913b2c425fad296084aadf5.dir, byte for byte.
DVC_TREE = HashInfo(md5="9309b913a913b2c425fad296084aadf5.dir", size=3145825, nfiles=12)
DVC_MANIFEST = (
    b'[{"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "B/a.txt"}, '
    b'{"md5": "19de5b94f7b83900d4b296d9fa491aec", "relpath": "UPPER.TXT"}, '
    b'{"md5": "7fc56270e7a70fa81a5935b72eacbe29", "relpath": "a.txt"}, '
    b'{"md5": "d41d8cd98f00b204e9800998ecf8427e", "relpath": "empty"}, '
    b'{"md5": "c20e4cadb22a9940811171c21f086ae2", "relpath": "link.txt"}, '
    b'{"md5": "33b02bc15ce9557d2dd8484d58f95ac4", "relpath": "rel.txt"}, '
    b'{"md5": "065602f439317a9eb95215012a00e86d", "relpath": "sub-x"}, '
    b'{"md5": "1969a7daa5824d65392fb7f2d39e52e1", "relpath": "sub.txt"}, '
    b'{"md5": "62a22cb245a4cfdb1a8a8ba579b2f38a", "relpath": "sub/deeper/big.bin"}, '
    b'{"md5": "33b02bc15ce9557d2dd8484d58f95ac4", "relpath": "sub/z.txt"}, '
    b'{"md5": "c783930cfbb0d66af60d2809818b0ca2", "relpath": "\\u00e9.txt"}, '
    b'{"md5": "fb976d55a8809de0d45686828f20adc3", "relpath": "\\u00fcn\\u00ef/\\u00df.txt"}]'
)
# NOTE: `dvc add` of an empty directory (DVC 3.67.1): the manifest is b"[]".
DVC_EMPTY_DIR = HashInfo(md5="d751713988987e9331980363e24189ce.dir", size=0, nfiles=0)


def make_tree(root: Path) -> Path:
    """TREE_FILES under root/data, plus symlinks: two to files, one to a directory."""
    data = root / "data"
    for rel, content in TREE_FILES.items():
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "outside.txt").write_bytes(b"outside\n")
    (root / "outside_dir").mkdir()
    (root / "outside_dir" / "hidden.txt").write_bytes(b"not listed\n")
    os.symlink("../outside.txt", data / "link.txt")
    os.symlink("sub/z.txt", data / "rel.txt")
    os.symlink("../outside_dir", data / "linkdir")
    return data


def age(path: Path, ns_ago: int = HOUR_NS) -> int:
    """Give ``path`` an mtime in the past (with a sub-second part); returns it."""
    mtime_ns = time.time_ns() - ns_ago
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return mtime_ns


def rewrite_keeping_stat(path: Path, content: bytes) -> None:
    """New bytes, same inode, size and mtime: what only a re-read can notice."""
    st = path.stat()
    assert len(content) == st.st_size
    with open(path, "r+b") as fobj:
        fobj.write(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino


@pytest.mark.parametrize(
    "size", [0, 1, 4095, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 12345]
)
def test_md5_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    data = pattern(size)
    path.write_bytes(data)
    assert md5_file(path) == hashlib.md5(data).hexdigest()
    assert Hasher().hash_file(path) == HashInfo(md5=hashlib.md5(data).hexdigest(), size=size)


def test_md5_file_matches_md5sum(tmp_path: Path) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(os.urandom(BLOCK_SIZE * 2 + 999))
    out = subprocess.run(["md5sum", str(path)], check=True, capture_output=True, text=True)
    assert md5_file(path) == out.stdout.split()[0]


def test_dir_hash_equals_dvc(tmp_path: Path) -> None:
    data = make_tree(tmp_path)
    info, tree = Hasher(jobs=4).hash_dir(data)
    assert info == DVC_TREE
    assert tree.manifest_bytes() == DVC_MANIFEST
    assert hashlib.md5(DVC_MANIFEST).hexdigest() + ".dir" == info.md5
    sizes = {e.relpath: e.size for e in tree.entries}
    assert sizes["sub/deeper/big.bin"] == 3 * MiB + 7
    assert sizes["link.txt"] == len(b"outside\n")
    assert not any(e.relpath.startswith("linkdir") for e in tree.entries)


def test_dir_hash_is_the_same_sequential_parallel_and_via_state(tmp_path: Path) -> None:
    data = make_tree(tmp_path)
    with StateDB(tmp_path / "state.db") as state:
        results = {
            Hasher(jobs=1).hash_dir(data),
            Hasher(jobs=8).hash_dir(data),
            Hasher(state).hash_dir(data),
            Hasher(state).hash_dir(data),
        }
    assert len(results) == 1
    assert results.pop()[0] == DVC_TREE


@pytest.mark.dvc_interop
def test_dir_hash_equals_what_real_dvc_writes(tmp_path: Path) -> None:
    exe = dvc_bin()
    data = make_tree(tmp_path)
    ours, tree = Hasher().hash_dir(data)
    subprocess.run([exe, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    subprocess.run([exe, "add", "-q", "data"], cwd=tmp_path, check=True)
    dvc_file = (tmp_path / "data.dvc").read_text()
    assert f"md5: {ours.md5}\n" in dvc_file
    assert f"size: {ours.size}\n" in dvc_file and f"nfiles: {ours.nfiles}\n" in dvc_file
    obj = tmp_path / ".dvc/cache/files/md5" / ours.md5[:2] / ours.md5[2:]
    assert obj.read_bytes() == tree.manifest_bytes()


def test_empty_dir_hashes_as_dvc(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    info, tree = Hasher().hash_dir(tmp_path / "e")
    assert info == DVC_EMPTY_DIR
    assert tree.manifest_bytes() == b"[]"
    (tmp_path / "only_dirs" / "a" / "b").mkdir(parents=True)
    assert Hasher().hash_path(tmp_path / "only_dirs")[0] == DVC_EMPTY_DIR


def test_hash_path_and_symlinked_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"content")
    os.symlink("f", tmp_path / "link")
    expected = HashInfo(md5=hashlib.md5(b"content").hexdigest(), size=7)
    assert Hasher().hash_path(tmp_path / "f") == (expected, None)
    assert Hasher().hash_path(tmp_path / "link") == (expected, None)


def test_hash_many_mixes_files_and_dirs_in_order(tmp_path: Path) -> None:
    files = {f"d/{i % 7}/f{i}": pattern(i * 997) for i in range(300)}
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(content)
    (tmp_path / "single").write_bytes(b"x" * 10)
    expected_tree = Tree.from_entries(
        DirEntry(rel[2:], hashlib.md5(c).hexdigest(), len(c)) for rel, c in files.items()
    )
    got = Hasher(jobs=4).hash_many([tmp_path / "single", tmp_path / "d", tmp_path / "d/3"])
    assert got[0] == (HashInfo(hashlib.md5(b"x" * 10).hexdigest(), 10), None)
    assert got[1] == (expected_tree.hash_info(), expected_tree)
    assert got[2][1] is not None
    assert [e.relpath for e in got[2][1].entries] == sorted(
        rel[4:] for rel in files if rel.startswith("d/3/")
    )


def test_remembered_md5_is_returned_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old content")
    age(path)
    with StateDB(tmp_path / "state.db") as state:
        first = Hasher(state).hash_file(path)
        assert first.md5 == hashlib.md5(b"old content").hexdigest()
        assert state.get(path, path.stat()) == first.md5
        # A planted answer for the file's exact identity proves it is not read again.
        state.set_many([(path, path.stat(), "f" * 32)])
        assert Hasher(state).hash_file(path).md5 == "f" * 32


def test_in_place_rewrite_with_mtime_put_back_is_rehashed(tmp_path: Path) -> None:
    """Same inode, size and mtime (utime'd back): only the ctime tells, and it does."""
    path = tmp_path / "f"
    path.write_bytes(b"old content")
    age(path)
    with StateDB(tmp_path / "state.db") as state:
        assert Hasher(state).hash_file(path).md5 == hashlib.md5(b"old content").hexdigest()
        rewrite_keeping_stat(path, b"new content")
        assert Hasher(state).hash_file(path).md5 == hashlib.md5(b"new content").hexdigest()


def test_wrong_md5_remembered_for_another_identity_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"content")
    age(path)
    st = path.stat()
    stale = os.stat_result(
        (
            *st[:10],
            st.st_atime,
            st.st_mtime,
            st.st_ctime,
            st.st_atime_ns,
            st.st_mtime_ns,
            st.st_ctime_ns - 1,
        )
    )
    with StateDB(tmp_path / "state.db") as state:
        state.set_many([(path, stale, "0" * 32)])
        assert Hasher(state).hash_file(path).md5 == hashlib.md5(b"content").hexdigest()
        assert state.get(path, path.stat()) == hashlib.md5(b"content").hexdigest()


def test_remembered_md5_survives_reopening_and_covers_dirs(tmp_path: Path) -> None:
    data = make_tree(tmp_path)
    for path in [*data.rglob("*"), tmp_path / "outside.txt"]:
        if not path.is_symlink() and path.is_file():
            age(path)
    with StateDB(tmp_path / "state.db") as state:
        assert Hasher(state).hash_dir(data)[0] == DVC_TREE
    with StateDB(tmp_path / "state.db") as state:
        for path in data.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert state.get(path, path.stat()) is not None, path
        rewrite_keeping_stat(data / "sub/z.txt", b"ZZZ\n")
        changed = Hasher(state).hash_dir(data)[0]
        assert changed != DVC_TREE and changed == Hasher().hash_dir(data)[0]


def test_replaced_file_with_same_size_and_mtime_is_rehashed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"aaaa")
    mtime_ns = age(path)
    with StateDB(tmp_path / "state.db") as state:
        Hasher(state).hash_file(path)
        tmp = tmp_path / "f.tmp"
        tmp.write_bytes(b"bbbb")
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, path)  # a new inode, as atomic writers produce
        assert Hasher(state).hash_file(path).md5 == hashlib.md5(b"bbbb").hexdigest()


def test_freshly_written_file_is_not_remembered(tmp_path: Path) -> None:
    """A file written again within the same clock tick keeps its mtime: never trust it."""
    path = tmp_path / "params.yaml"
    path.write_bytes(b"lr: 0.1\n")
    now = time.time_ns()
    os.utime(path, ns=(now, now))
    with StateDB(tmp_path / "state.db") as state:
        Hasher(state).hash_file(path)
        assert state.get(path, path.stat()) is None


def test_whole_second_mtimes_get_a_wider_racy_window(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"v1")
    with StateDB(tmp_path / "state.db") as state:
        recent = (time.time_ns() // 10**9 - 1) * 10**9  # 1-2 s ago, like FAT or ext3
        os.utime(path, ns=(recent, recent))
        Hasher(state).hash_file(path)
        assert state.get(path, path.stat()) is None
        older = recent - 3 * 10**9
        os.utime(path, ns=(older, older))
        Hasher(state).hash_file(path)
        assert state.get(path, path.stat()) == hashlib.md5(b"v1").hexdigest()


def test_hasher_is_safe_to_share_between_threads(tmp_path: Path) -> None:
    data = make_tree(tmp_path)
    results: list[HashInfo] = []
    with StateDB(tmp_path / "state.db") as state:
        hasher = Hasher(state, jobs=3)

        def work() -> None:
            for _ in range(3):
                results.append(hasher.hash_dir(data)[0])

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [DVC_TREE] * 18


def test_missing_path_names_it_and_says_what_to_do(tmp_path: Path) -> None:
    for call in (Hasher().hash_path, Hasher().hash_file, Hasher().hash_dir):
        with pytest.raises(FileNotFoundError, match="create it, or fix the path") as err:
            call(tmp_path / "nope")
        assert err.value.filename == str(tmp_path / "nope")
    (tmp_path / "ok").write_bytes(b"1")
    with pytest.raises(FileNotFoundError, match="nope"):
        Hasher().hash_many([tmp_path / "ok", tmp_path / "nope"])


def test_dangling_symlink_in_dir_is_an_error_and_nothing_is_remembered(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok").write_bytes(b"fine")
    age(tmp_path / "d" / "ok")
    os.symlink("nowhere", tmp_path / "d" / "broken")
    with StateDB(tmp_path / "state.db") as state:
        with pytest.raises(FileNotFoundError, match="'nowhere', which does not exist") as err:
            Hasher(state).hash_dir(tmp_path / "d")
        assert err.value.filename == str(tmp_path / "d" / "broken")
        assert "fix or remove the link" in str(err.value)
        assert state.get(tmp_path / "d" / "ok", (tmp_path / "d" / "ok").stat()) is None
    assert os.readlink(tmp_path / "d" / "broken") == "nowhere"


def test_fifo_in_dir_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "pipe")
    with pytest.raises(StorageError) as err:
        Hasher().hash_dir(tmp_path / "d")
    assert err.value.path == str(tmp_path / "d" / "pipe")
    assert "not a regular file" in str(err.value)
    assert f"move it out of '{tmp_path / 'd'}'" in str(err.value)
    assert (tmp_path / "d" / "pipe").is_fifo()


def test_wrong_kind_of_path(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"1")
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="expected a file, found a directory"):
        Hasher().hash_file(tmp_path / "d")
    with pytest.raises(NotADirectoryError, match="expected a directory, found a file"):
        Hasher().hash_dir(tmp_path / "f")
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        Hasher(jobs=0)
