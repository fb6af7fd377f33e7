"""Turn a project DVC 3 ran into the state DVC 2 would have left it in.

No DVC 2 is installed, so the tests write DVC 2's formats themselves:
``dvc.lock`` items with ``md5`` (the ``md5-dos2unix`` value) and no ``hash``
key, and the cache in DVC 2's layout ``.dvc/cache/<h[:2]>/<h[2:]>`` with
``.dir`` manifests listing legacy md5s. Whether that is right is then judged
by real DVC 3.67.1, which reads such projects as up to date.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

_BLOCK = 1 << 20
_TEXT = bytes(range(32, 127)) + b"\n\r\t\f\b"


def _is_text(block: bytes) -> bool:
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, _TEXT)) / len(block) <= 0.30


def dos2unix_md5(data: bytes) -> str:
    """DVC 2's md5 of ``data``: per 1 MiB block, CRLF -> LF when the block looks like text."""
    digest = hashlib.md5()
    for start in range(0, len(data), _BLOCK):
        block = data[start : start + _BLOCK]
        digest.update(block.replace(b"\r\n", b"\n") if _is_text(block[:512]) else block)
    return digest.hexdigest()


def _files(path: Path) -> list[tuple[str, Path]]:
    found = [(p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file()]
    return sorted(found)


def _store(cache: Path, md5: str, data: bytes) -> None:
    obj = cache / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    if not obj.exists():
        obj.write_bytes(data)
        obj.chmod(0o444)


def legacy_item(root: Path, item: dict[str, Any], cache: Path | None) -> dict[str, Any]:
    """The DVC 2 form of one lock item, storing its objects in ``cache`` when given."""
    path = root / item["path"]
    if path.is_dir():
        listing = []
        for rel, file in _files(path):
            data = file.read_bytes()
            md5 = dos2unix_md5(data)
            listing.append({"md5": md5, "relpath": rel})
            if cache is not None:
                _store(cache, md5, data)
        manifest = json.dumps(listing, sort_keys=True).encode()
        value = hashlib.md5(manifest).hexdigest() + ".dir"
        if cache is not None:
            _store(cache, value, manifest)
    else:
        data = path.read_bytes()
        value = dos2unix_md5(data)
        if cache is not None:
            _store(cache, value, data)
    legacy = {"path": item["path"], "md5": value}
    legacy.update({k: v for k, v in item.items() if k in ("size", "nfiles", "isexec")})
    return legacy


def to_dvc2(root: Path) -> None:
    """Rewrite ``root``'s ``dvc.lock`` and local cache as DVC 2 leaves them.

    Every dep and out becomes a legacy item hashed from the workspace; the
    outs' objects move to DVC 2's layout and DVC 3's ``files/md5`` goes away.
    """
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    cache = root / ".dvc" / "cache"
    for entry in lock["stages"].values():
        entry["deps"] = [legacy_item(root, d, None) for d in entry.get("deps") or []]
        entry["outs"] = [legacy_item(root, o, cache) for o in entry.get("outs") or []]
        if not entry["deps"]:
            del entry["deps"]
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))
    if (cache / "files").exists():
        for dirpath, _dirs, names in os.walk(cache / "files"):
            for name in names:
                os.chmod(os.path.join(dirpath, name), 0o644)
        shutil.rmtree(cache / "files")
    shutil.rmtree(cache / "runs", ignore_errors=True)
