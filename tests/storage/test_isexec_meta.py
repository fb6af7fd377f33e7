"""``isexec`` in hashing, lock/run-cache entries, manifests and checkout (DVC 3.67.1's rules)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from prefect_dvc.storage import sync
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.runcache import RunCache, check_entry, runcache_key, runcache_value
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import Stores


def _file(path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_any_execute_bit_counts_and_a_symlink_counts_as_its_target(tmp_path: Path) -> None:
    hasher = Hasher()
    # DVC: is_exec(mode) = any of u/g/o x; fs.info follows a symlink
    assert hasher.hash_file(_file(tmp_path / "u", b"u", 0o744)).isexec
    assert hasher.hash_file(_file(tmp_path / "g", b"g", 0o654)).isexec
    assert hasher.hash_file(_file(tmp_path / "o", b"o", 0o601)).isexec
    assert not hasher.hash_file(_file(tmp_path / "p", b"p", 0o644)).isexec
    (tmp_path / "link").symlink_to("u")
    (tmp_path / "plainlink").symlink_to("p")
    assert hasher.hash_file(tmp_path / "link").isexec
    assert not hasher.hash_file(tmp_path / "plainlink").isexec


def test_a_chmod_is_seen_even_when_the_state_db_knows_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path / "tool.sh", b"#!/bin/sh\n", 0o755)
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))
    hasher = Hasher(StateDB(tmp_path / "state.db"))
    try:
        assert hasher.hash_file(path).isexec
        path.chmod(0o644)
        info = hasher.hash_file(path)
    finally:
        hasher.close()
    assert not info.isexec
    assert info.md5 == hashlib.md5(b"#!/bin/sh\n").hexdigest()


def test_directories_never_carry_isexec_and_their_manifest_is_dvcs(tmp_path: Path) -> None:
    folder = tmp_path / "outdir"
    folder.mkdir()
    _file(folder / "plain.txt", b"y\n", 0o644)
    _file(folder / "run.sh", b"x\n", 0o755)
    info, tree = Hasher().hash_dir(folder)
    assert not info.isexec
    assert "isexec" not in info.to_lock("outdir")
    # bytes and hash DVC 3.67.1 wrote for this very folder (formats checked by hand)
    assert tree.manifest_bytes() == (
        b'[{"md5": "009520053b00386d1173f3988c55d192", "relpath": "plain.txt"}, '
        b'{"md5": "401b30e3b8b5d629635a5c613cdb7919", "relpath": "run.sh"}]'
    )
    assert info.md5 == "025ae8fb3dc1f4abae78b214f5f7b020.dir"


def test_lock_spelling_order_and_reading() -> None:
    entry = HashInfo("b1946ac92492d2347c6235b4d2611184", 6, isexec=True).to_lock("out.sh")
    assert list(entry) == ["path", "hash", "md5", "size", "isexec"]
    assert entry["isexec"] is True
    assert HashInfo.from_lock(entry) == HashInfo("b1946ac92492d2347c6235b4d2611184", 6, None, True)
    assert "isexec" not in HashInfo("b1946ac92492d2347c6235b4d2611184", 6).to_lock("x")
    for odd in ("yes", 1, None):
        assert not HashInfo.from_lock({**entry, "isexec": odd}).isexec  # type: ignore[union-attr]


def test_run_cache_key_includes_the_dep_bit_and_bad_values_are_ignored(tmp_path: Path) -> None:
    dep = {"path": "gen.sh", "hash": "md5", "md5": "47f71a6cc8d8b46cf318dccb47c073e9", "size": 157}
    entry = {
        "cmd": "./gen.sh",
        "deps": [{**dep, "isexec": True}],
        "outs": [{"path": "out.sh", "hash": "md5", "md5": "b1946ac92492d2347c6235b4d2611184"}],
    }
    # DVC 3.67.1 named this entry's folder so (dvc/stage/cache.py::_get_cache_hash)
    key = "e3881195088c3afeff98f8d0a6adc16b5e6f89d366f031aca622754f7100d696"
    with_outs = {**entry, "outs": [{**entry["outs"][0], "size": 6, "isexec": True}]}
    with_outs["outs"].append(
        {"path": "outdir", "hash": "md5", "md5": "025ae8fb3dc1f4abae78b214f5f7b020.dir"}
    )
    assert runcache_key(with_outs) == key
    assert runcache_key({**with_outs, "deps": [dep]}) != key

    assert check_entry(with_outs) is None
    bad = {**with_outs, "deps": [{**dep, "isexec": "yes"}]}
    assert "isexec" in (check_entry(bad) or "")
    runs = RunCache.from_url(str(tmp_path / "cache"))
    runs.save(with_outs)
    assert runs.lookup(with_outs) == with_outs
    # stored under its own true name, DVC's schema still rejects it: no hit, no crash
    bad_key, bad_value = runcache_key(bad), runcache_value(bad)
    folder = tmp_path / "cache" / "runs" / bad_key[:2] / bad_key
    folder.mkdir(parents=True)
    (folder / bad_value).write_text(json.dumps(bad))
    assert runs.lookup(bad) is None


def test_checkout_sets_the_owner_bit_for_isexec_files_and_manifest_entries(
    tmp_path: Path,
) -> None:
    store = ObjectStore.from_url(str(tmp_path / "cache"))
    src = _file(tmp_path / "src.sh", b"hello\n", 0o644)
    md5 = hashlib.md5(b"hello\n").hexdigest()
    store.add_file(src, md5)
    store.checkout(HashInfo(md5, 6, isexec=True), tmp_path / "ws" / "out.sh", ("copy",))
    store.checkout(HashInfo(md5, 6), tmp_path / "ws" / "plain.sh", ("copy",))
    assert stat.S_IMODE(os.stat(tmp_path / "ws" / "out.sh").st_mode) == 0o744
    assert stat.S_IMODE(os.stat(tmp_path / "ws" / "plain.sh").st_mode) == 0o644

    # DVC's Tree.from_list honours an isexec a manifest carries
    manifest = json.dumps(
        [{"isexec": True, "md5": md5, "relpath": "a.sh"}, {"md5": md5, "relpath": "b.sh"}],
        sort_keys=True,
    ).encode()
    dir_md5 = hashlib.md5(manifest).hexdigest() + ".dir"
    store.add_bytes(manifest, dir_md5)
    assert store.read_tree(dir_md5).entries[0] == DirEntry("a.sh", md5, -1, True)
    store.checkout(HashInfo(dir_md5, 12, 2), tmp_path / "ws" / "d", ("copy",))
    assert os.stat(tmp_path / "ws" / "d" / "a.sh").st_mode & stat.S_IXUSR
    assert not os.stat(tmp_path / "ws" / "d" / "b.sh").st_mode & stat.S_IXUSR
    assert Tree.from_manifest(manifest).manifest_bytes() == manifest


def test_checkout_restores_a_lost_bit_but_never_through_a_link_out_of_the_repo(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    store = ObjectStore.from_url(str(root / ".dvc" / "cache"))
    stores = Stores(store, RunCache(store.location), workspace=root)
    md5 = hashlib.md5(b"hello\n").hexdigest()
    store.add_file(_file(tmp_path / "src", b"hello\n", 0o644), md5)
    out = sync.UsedOut("gen", "out.sh", HashInfo(md5, 6, isexec=True))

    def hash_of(path: Path) -> str:
        return Hasher().hash_path(path)[0].md5

    _file(root / "out.sh", b"hello\n", 0o644)
    assert sync.checkout(root, stores, [out], hash_of) == (["out.sh"], [])
    assert stat.S_IMODE(os.stat(root / "out.sh").st_mode) == 0o744

    outside = _file(tmp_path / "users-file", b"hello\n", 0o644)
    (root / "out.sh").unlink()
    (root / "out.sh").symlink_to(outside)
    assert sync.checkout(root, stores, [out], hash_of) == ([], [])
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644

    # DVC's symlink cache type: the link points at the object, which gets u+x
    (root / "out.sh").unlink()
    (root / "out.sh").symlink_to(store.oid_path(md5))
    assert sync.checkout(root, stores, [out], hash_of) == (["out.sh"], [])
    assert stat.S_IMODE(os.stat(store.oid_path(md5)).st_mode) == 0o544
