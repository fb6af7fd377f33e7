"""Snapshot a checkpoint file into the local cache in one pass while the command waits.

Provides:
    snapshot_file(src, store): read ``src`` once, computing its md5 while a second
        thread writes the copy beside the cache's objects, then move the copy into place.

Why not the hasher plus ``Stores.save``: that reads the file to hash it, then
copies it and reads the copy again to verify it, three passes over a model
that may be gigabytes, all while training is paused. Hashing the bytes as
they are written makes the copy verified by construction (its name is the
md5 of exactly what was written), in one read and one write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from pathlib import Path

from prefect_dvc import tmpnames
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.objects import ObjectStore

BLOCK = 4 * 1024 * 1024


def snapshot_file(src: Path, store: ObjectStore) -> HashInfo:
    """Store ``src`` (a file) as an object of the local ``store``; return its hash."""
    final_dir = Path(store.location.join("files", "md5"))
    # NOTE: make_dirs gives a `cache.shared = group` cache its 2775 folders.
    store.location.make_dirs(final_dir)
    tmpnames.register_writer(Path(store.location.root))
    tmp = final_dir / tmpnames.tmp_name("checkpoint")
    try:
        md5, size = _copy_hashing(src, tmp)
        # NOTE: DVC records a file's execute bit in dvc.lock (`isexec`, hashinfo.py).
        mode = os.stat(src).st_mode
        final = Path(store.oid_path(md5))
        if final.exists():
            return HashInfo.for_file(md5, size, mode)
        store.location.make_dirs(final.parent)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, final)
        return HashInfo.for_file(md5, size, mode)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _copy_hashing(src: Path, dest: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` and return the md5 of the bytes written, and their size.

    The write runs in a second thread, so hashing and writing overlap (both
    release the GIL): the pause is the slower of the two, not their sum.
    """
    digest = hashlib.md5()
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with open(dest, "wb") as writer:
                while (block := blocks.get()) is not None:
                    writer.write(block)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
            while blocks.get() is not None:
                pass

    size = 0
    thread = threading.Thread(target=write, name="checkpoint-snapshot")
    thread.start()
    try:
        with open(src, "rb") as reader:
            while block := reader.read(BLOCK):
                blocks.put(block)
                digest.update(block)
                size += len(block)
    finally:
        blocks.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return digest.hexdigest(), size
