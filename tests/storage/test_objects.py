"""ObjectStore contract on local disk, memory:// and moto-S3, plus transfer and failures."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import dvc_bin, gen

from prefect_dvc.config import add_remote, load_config, modify_remote
from prefect_dvc.errors import CorruptObjectError, MissingObjectError, RemoteError, StorageError
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.objects import ObjectStore

Backend = tuple[str, dict[str, Any]]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def s3_options(endpoint: str) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}


@pytest.fixture(params=["file", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """(url, storage_options) of an empty store root on each kind of filesystem."""
    if request.param == "file":
        yield str(tmp_path / "store"), {}
    elif request.param == "memory":
        url = f"memory://test-{uuid.uuid4().hex}"
        yield url, {}
        store = ObjectStore.from_url(url)
        if store.fs.exists(store.location.root):
            store.fs.rm(store.location.root, recursive=True)
    else:
        bucket = request.getfixturevalue("s3_bucket")
        yield f"s3://{bucket}/prefix", s3_options(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return ObjectStore.from_url(backend[0], backend[1])


def make_tree(root: Path, files: dict[str, bytes]) -> Tree:
    gen(root, files)
    return Tree.from_entries(DirEntry(rel, md5(data), len(data)) for rel, data in files.items())


def corrupt(store: ObjectStore, oid: str) -> None:
    """Flip the first byte of an object in place, on any backend."""
    path = store.oid_path(oid)
    data = bytearray(store.fs.cat_file(path))
    data[0] ^= 0xFF
    if store.is_local:
        os.chmod(path, 0o644)
        Path(path).write_bytes(bytes(data))
    else:
        store.fs.pipe_file(path, bytes(data))


def listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


class TestObjectStoreContract:
    """Every backend behaves the same (STYLE habit 13)."""

    def test_add_file_layout_and_exists(self, store: ObjectStore, tmp_path: Path) -> None:
        src = tmp_path / "a.txt"
        src.write_bytes(b"hello\n")
        oid = md5(b"hello\n")
        assert not store.exists(oid)
        store.add_file(src, oid)
        assert store.oid_path(oid).endswith(f"/files/md5/{oid[:2]}/{oid[2:]}")
        assert store.fs.cat_file(store.oid_path(oid)) == b"hello\n"
        assert store.exists(oid)
        store.add_file(src, oid)  # already there: a no-op
        if store.is_local:
            assert stat.S_IMODE(os.stat(store.oid_path(oid)).st_mode) == 0o444
            assert os.listdir(Path(store.oid_path(oid)).parent) == [oid[2:]]

    @pytest.mark.parametrize("count", [3, 24])
    def test_existing_in_bulk(self, store: ObjectStore, tmp_path: Path, count: int) -> None:
        blobs = [f"blob {i}\n".encode() for i in range(count)]
        for i, blob in enumerate(blobs[::2]):
            src = tmp_path / f"b{i}"
            src.write_bytes(blob)
            store.add_file(src, md5(blob))
        absent = {md5(b"absent " + bytes([i])) for i in range(5)}
        wanted = {md5(b) for b in blobs} | absent
        assert store.existing(wanted) == {md5(b) for b in blobs[::2]}
        assert store.existing([]) == set()

    def test_tree_round_trip(self, store: ObjectStore, tmp_path: Path) -> None:
        files = {"B/a.txt": b"A", "a.txt": b"a", "empty": b"", "sub/z.txt": b"z", "é.txt": b"e"}
        tree = make_tree(tmp_path / "d", files)
        info = store.add_tree(tmp_path / "d", tree)
        # NOTE: the value `dvc add` (DVC 3.67.1) gave for these five files.
        assert info.md5 == "c2ac6a406dab6c2c98c457af830b612e.dir"
        assert (info.size, info.nfiles) == (4, 5)
        manifest = store.fs.cat_file(store.oid_path(info.md5))
        assert manifest == tree.manifest_bytes()
        assert [(e.relpath, e.md5) for e in store.read_tree(info.md5).entries] == [
            (e.relpath, e.md5) for e in tree.entries
        ]
        dest = tmp_path / "ws" / "d"
        store.checkout(info, dest, ["copy"])
        assert listing(dest) == files

    def test_checkout_replaces_what_is_there(self, store: ObjectStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.write_bytes(b"new content")
        oid = md5(b"new content")
        store.add_file(src, oid)
        dest = tmp_path / "ws" / "out"
        (dest / "old").mkdir(parents=True)  # a folder where the file goes
        store.checkout(HashInfo(oid, 11), dest)
        assert dest.read_bytes() == b"new content"
        store.checkout_file(oid, dest)  # file over file
        assert dest.read_bytes() == b"new content"
        assert sorted(p.name for p in dest.parent.iterdir()) == ["out"]

    def test_corrupt_object_detected_workspace_kept(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        files = {"x.txt": b"xx", "y.txt": b"yy"}
        tree = make_tree(tmp_path / "d", files)
        info = store.add_tree(tmp_path / "d", tree)
        corrupt(store, md5(b"yy"))
        dest = tmp_path / "ws" / "d"
        gen(dest, {"mine.txt": "user data"})
        with pytest.raises(CorruptObjectError) as err:
            store.checkout(info, dest, ["copy"])
        text = str(err.value)
        assert f"files/md5/{md5(b'yy')[:2]}/{md5(b'yy')[2:]}" in text
        assert "Delete it and run again, or pull it from the remote" in text
        assert listing(dest) == {"mine.txt": b"user data"}
        assert sorted(p.name for p in dest.parent.iterdir()) == ["d"]
        target = tmp_path / "ws" / "single"
        target.write_text("keep me")
        with pytest.raises(CorruptObjectError):
            store.checkout_file(md5(b"yy"), target)
        assert target.read_text() == "keep me"

    def test_corrupt_manifest_detected(self, store: ObjectStore, tmp_path: Path) -> None:
        info = store.add_tree(tmp_path / "d", make_tree(tmp_path / "d", {"f": b"f"}))
        corrupt(store, info.md5)
        with pytest.raises(CorruptObjectError, match=r"\.dir.*corrupt|corrupt.*\.dir"):
            store.read_tree(info.md5)

    def test_missing_object(self, store: ObjectStore, tmp_path: Path) -> None:
        oid = md5(b"never stored")
        dest = tmp_path / "out"
        dest.write_text("keep")
        with pytest.raises(MissingObjectError) as err:
            store.checkout_file(oid, dest)
        assert f"{oid[:2]}/{oid[2:]}" in str(err.value) and "Pull it" in str(err.value)
        assert dest.read_text() == "keep"
        with pytest.raises(MissingObjectError):
            store.read_tree(md5(b"nothing") + ".dir")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    def test_concurrent_writers_of_one_object(self, store: ObjectStore, tmp_path: Path) -> None:
        data = os.urandom(64 * 1024)
        oid = md5(data)
        sources = []
        for i in range(4):
            src = tmp_path / f"src{i}"
            src.write_bytes(data)
            sources.append(src)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: store.add_file(s, oid), sources))
        assert md5(bytes(store.fs.cat_file(store.oid_path(oid)))) == oid
        if store.is_local:
            assert os.listdir(Path(store.oid_path(oid)).parent) == [oid[2:]]

    def test_invalid_oid_is_rejected(self, store: ObjectStore) -> None:
        with pytest.raises(StorageError, match="not an md5 object id"):
            store.oid_path("../../etc/passwd")


@pytest.mark.parametrize("kind", ["hardlink", "symlink", "copy"])
def test_local_checkout_with_each_link_type(tmp_path: Path, kind: str) -> None:
    store = ObjectStore.from_url(str(tmp_path / "cache"))
    files = {"m/a.bin": b"\x00\x01", "b.txt": b"bee"}
    info = store.add_tree(tmp_path / "src", make_tree(tmp_path / "src", files))
    dest = tmp_path / "ws" / "out"
    store.checkout(info, dest, [kind])
    assert listing(dest) == files
    obj = Path(store.oid_path(md5(b"bee")))
    if kind == "hardlink":
        assert (dest / "b.txt").stat().st_ino == obj.stat().st_ino
    elif kind == "symlink":
        assert os.readlink(dest / "b.txt") == str(obj)
    else:
        assert (dest / "b.txt").stat().st_ino != obj.stat().st_ino


def test_local_add_file_rejects_changed_source(tmp_path: Path) -> None:
    store = ObjectStore.from_url(str(tmp_path / "cache"))
    src = tmp_path / "f"
    src.write_bytes(b"now different")
    with pytest.raises(StorageError, match=r"changed while it was being cached.*run again"):
        store.add_file(src, md5(b"what was hashed"))
    # NOTE: only this live process's writer marker may remain (tmpnames.register_writer).
    left = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert [p.parent.name for p in left] == [".prefect-dvc-writers"]


def test_verify_callable_is_used_for_local_objects(tmp_path: Path) -> None:
    seen: list[Path] = []

    def verify(path: Path) -> str:
        seen.append(path)
        return md5(path.read_bytes())

    store = ObjectStore.from_url(f"file://{tmp_path / 'cache'}", verify=verify)
    src = tmp_path / "f"
    src.write_bytes(b"v")
    store.add_file(src, md5(b"v"))
    store.checkout_file(md5(b"v"), tmp_path / "out", ["copy"])
    assert seen == [Path(store.oid_path(md5(b"v")))]


@pytest.mark.s3
def test_transfer_local_to_s3_to_fresh_local(
    tmp_path: Path, s3_bucket: str, s3_endpoint: str
) -> None:
    local = ObjectStore.from_url(str(tmp_path / "cache"))
    files = {"a.txt": b"a", "sub/b.txt": b"b", "sub/c.txt": b"c"}
    info = local.add_tree(tmp_path / "d", make_tree(tmp_path / "d", files))
    single = tmp_path / "single"
    single.write_bytes(b"single")
    local.add_file(single, md5(b"single"))
    remote = ObjectStore.from_url(f"s3://{s3_bucket}/r", s3_options(s3_endpoint))

    pushed = local.transfer([info.md5, md5(b"single")], remote, jobs=4)
    assert set(pushed.transferred) == {info.md5, md5(b"single")} | {md5(v) for v in files.values()}
    assert pushed.transferred[-1] == info.md5  # the manifest after its files
    assert pushed.missing == ()
    again = local.transfer([info.md5, md5(b"single")], remote, jobs=4)
    assert again.transferred == () and len(again.skipped) == 5
    remote.fs.rm(remote.oid_path(md5(b"b")))  # a remote that lost a file of a directory
    repaired = local.transfer([info.md5], remote, jobs=4)
    assert repaired.transferred == (md5(b"b"),)

    fresh = ObjectStore.from_url(str(tmp_path / "fresh"))
    pulled = remote.transfer([info.md5, md5(b"single")], fresh, jobs=4)
    assert len(pulled.transferred) == 5
    fresh.checkout(info, tmp_path / "ws" / "d")
    assert listing(tmp_path / "ws" / "d") == files
    assert stat.S_IMODE(os.stat(fresh.oid_path(md5(b"a"))).st_mode) == 0o444

    remote.checkout(info, tmp_path / "direct")  # straight from S3, verified
    assert listing(tmp_path / "direct") == files


def test_transfer_never_sends_manifest_with_missing_files(tmp_path: Path) -> None:
    src = ObjectStore.from_url(str(tmp_path / "a"))
    info = src.add_tree(tmp_path / "d", make_tree(tmp_path / "d", {"x": b"x", "y": b"y"}))
    os.unlink(src.oid_path(md5(b"y")))
    dest = ObjectStore.from_url(f"memory://test-{uuid.uuid4().hex}")
    result = src.transfer([info.md5, md5(b"zzz")], dest, jobs=2)
    assert set(result.missing) == {md5(b"y"), info.md5, md5(b"zzz")}
    assert result.transferred == (md5(b"x"),)
    assert not dest.exists(info.md5)


def test_transfer_refuses_to_spread_corruption(tmp_path: Path) -> None:
    src = ObjectStore.from_url(str(tmp_path / "a"))
    f = tmp_path / "f"
    f.write_bytes(b"good")
    src.add_file(f, md5(b"good"))
    corrupt(src, md5(b"good"))
    dest = ObjectStore.from_url(str(tmp_path / "b"))
    with pytest.raises(CorruptObjectError):
        src.transfer([md5(b"good")], dest)
    assert not dest.exists(md5(b"good"))


def test_unreachable_remote_is_one_clear_line(tmp_path: Path) -> None:
    """Config as a user writes it -> store -> one RemoteError line, within seconds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tmp_path / "repo"
    gen(root, {".dvc/config": ""})
    add_remote(root, "storage", "s3://bucket/prefix", default=True)
    modify_remote(root, "storage", "endpointurl", f"http://127.0.0.1:{port}")
    modify_remote(root, "storage", "access_key_id", "AKIDSECRETKEY")
    modify_remote(root, "storage", "secret_access_key", "TOPSECRETVALUE")
    remote = load_config(root).remote()
    store = ObjectStore.from_url(remote.url, remote.storage_options())
    start = time.monotonic()
    with pytest.raises(RemoteError) as err:
        store.existing([md5(b"x")])
    assert time.monotonic() - start < 8
    text = str(err.value)
    assert "s3://bucket/prefix" in text and "endpointurl" in text
    assert "TOPSECRETVALUE" not in text and "AKIDSECRETKEY" not in text
    assert "\n" not in text


@pytest.mark.dvc_interop
def test_cache_bytes_match_dvc_add(tmp_path: Path) -> None:
    dvc = dvc_bin()
    files = {"B/a.txt": b"A", "a.txt": b"a", "empty": b"", "sub/z.txt": b"z", "é.txt": b"e"}
    repo = tmp_path / "repo"
    tree = make_tree(repo / "d", files)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([str(dvc), "init", "-q"], cwd=repo, check=True)
    subprocess.run([str(dvc), "add", "-q", "d"], cwd=repo, check=True)
    ours = ObjectStore.from_url(str(tmp_path / "ours"))
    ours.add_tree(repo / "d", tree)

    def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
        return {
            str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert snapshot(tmp_path / "ours" / "files") == snapshot(repo / ".dvc" / "cache" / "files")
