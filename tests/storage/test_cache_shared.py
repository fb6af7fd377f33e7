"""``cache.shared = group``: every writer of a local cache gives DVC 3.67.1's modes.

The modes themselves are DVC's verdict in
``tests/integration/test_cache_settings.py``; here each writer is held to them
in-process: objects, trees, run-cache entries and checkpoint snapshots.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prefect_dvc.checkpoints.snapshot import snapshot_file
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.runcache import RunCache

ENTRY = {
    "cmd": "echo hi > out.txt",
    "outs": [
        {"path": "out.txt", "hash": "md5", "md5": "764efa883dda1e11db47671c4a3bbd9e", "size": 3}
    ],
}


def _modes(cache: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {"dirs": set(), "objects": set(), "entries": set()}
    for dirpath, dirs, files in os.walk(cache):
        for name in dirs:
            found["dirs"].add(stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode))
        for name in files:
            kind = "entries" if "/runs/" in dirpath + "/" else "objects"
            if ".prefect-dvc" in dirpath:
                continue
            found[kind].add(stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode))
    return found


def test_every_writer_of_a_shared_cache_gives_group_modes(tmp_path: Path) -> None:
    src = tmp_path / "ws"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_text("a\n")
    (src / "f.txt").write_text("hi\n")
    cache = tmp_path / "cache"
    store = ObjectStore.from_url(str(cache), shared=True)
    hasher = Hasher()
    store.add_file(src / "f.txt", hasher.hash_file(src / "f.txt").md5)
    store.add_tree(src / "d", hasher.hash_dir(src / "d")[1])
    RunCache(store.location).save(ENTRY)
    (src / "ckpt.bin").write_bytes(b"\x00checkpoint")
    snapshot_file(src / "ckpt.bin", store)
    modes = _modes(cache)
    assert modes == {"dirs": {0o2775}, "objects": {0o444}, "entries": {0o664}}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o2775


def test_a_private_cache_keeps_the_umask_modes(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("hi\n")
    store = ObjectStore.from_url(str(tmp_path / "cache"))
    store.add_file(src, Hasher().hash_file(src).md5)
    RunCache(store.location).save(ENTRY)
    umask = os.umask(0)
    os.umask(umask)
    modes = _modes(tmp_path / "cache")
    assert modes == {"dirs": {0o777 & ~umask}, "objects": {0o444}, "entries": {0o666 & ~umask}}
