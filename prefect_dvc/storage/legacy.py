"""DVC 2's ``md5-dos2unix`` hash, which DVC 3 still honours for entries DVC 2 wrote.

Provides:
    HASH_NAME: ``"md5-dos2unix"``, DVC's name for the legacy hash.
    OID_PREFIX: how an object id names a legacy object (``md5-dos2unix:<md5>``).
    legacy_oid(md5), split_oid(oid): build and read such object ids.
    istextblock(block): DVC's text-or-binary guess for one block.
    Dos2UnixMd5: an incremental hasher giving DVC 2's value for a byte stream.
    md5_dos2unix_file(path), md5_dos2unix_bytes(data): the value of a file or bytes.

What DVC 3.67.1 does (``dvc_data/hashfile/hash.py``: ``fobj_md5``,
``Dos2UnixHashStreamFile``; ``istextfile.py``): the file is read in blocks of
exactly 1 MiB; each block whose first 512 bytes look like text (no NUL byte,
at most 30 % of bytes outside printable ASCII and ``\\n\\r\\t\\f\\b``; an
empty block is text) has every ``\\r\\n`` replaced by ``\\n`` before it goes
into the md5, any other block goes in raw. So a CRLF split across a block
boundary stays, and a text file with a binary-looking block keeps that
block's CRLFs. A ``.dir`` manifest's id is the plain md5 of its JSON
(``Tree.digest`` uses ``md5``), whose items hold the files' legacy md5s.

Legacy objects live at ``<cache or remote>/<h[:2]>/<h[2:]>`` (DVC 2's
layout, ``CacheManager``'s ``legacy`` odb), not under ``files/md5``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Final

HASH_NAME: Final = "md5-dos2unix"
OID_PREFIX: Final = HASH_NAME + ":"
BLOCK: Final = 1 << 20
SNIFF: Final = 512
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"


def legacy_oid(md5: str) -> str:
    """The object id of the legacy object ``md5`` (``md5-dos2unix:<md5>[.dir]``)."""
    return OID_PREFIX + md5


def split_oid(oid: str) -> tuple[bool, str]:
    """``(is_legacy, md5)`` of an object id made by :func:`legacy_oid` or a plain md5."""
    if oid.startswith(OID_PREFIX):
        return True, oid[len(OID_PREFIX) :]
    return False, oid


def istextblock(block: bytes) -> bool:
    """DVC's guess (``dvc_data.hashfile.istextfile.istextblock``): does ``block`` look like text?"""
    if not block:
        return True
    if b"\x00" in block:
        return False
    nontext = block.translate(None, _TEXT_CHARS)
    return len(nontext) / len(block) <= 0.30


class Dos2UnixMd5:
    """``hashlib.md5``-like, but gives DVC 2's ``md5-dos2unix`` of the bytes fed to it.

    ``update`` may be called with pieces of any size: they are regrouped into
    the 1 MiB blocks DVC's reader sees, since the text test and the CRLF
    replacement are per block.
    """

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._pending = bytearray()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._pending:
            need = BLOCK - len(self._pending)
            self._pending += view[:need]
            view = view[need:]
            if len(self._pending) < BLOCK:
                return
            self._feed(bytes(self._pending))
            self._pending.clear()
        # NOTE: whole blocks go straight in, without a copy (the common case:
        # a reader handing over exactly BLOCK bytes at a time).
        while len(view) >= BLOCK:
            self._feed(view[:BLOCK])
            view = view[BLOCK:]
        self._pending += view

    def _feed(self, block: bytes | memoryview, md5: Any = None) -> None:
        target = md5 or self._md5
        if istextblock(bytes(block[:SNIFF])):
            target.update(bytes(block).replace(b"\r\n", b"\n"))
        else:
            target.update(block)

    def hexdigest(self) -> str:
        """The value so far (a short last block is hashed on a copy, so more may follow)."""
        if not self._pending:
            return self._md5.hexdigest()
        md5 = self._md5.copy()
        self._feed(bytes(self._pending), md5)
        return md5.hexdigest()


def md5_dos2unix_bytes(data: bytes) -> str:
    """DVC 2's ``md5-dos2unix`` of ``data``."""
    digest = Dos2UnixMd5()
    digest.update(data)
    return digest.hexdigest()


def md5_dos2unix_file(path: str | os.PathLike[str]) -> str:
    """DVC 2's ``md5-dos2unix`` of a file's bytes, read in DVC's 1 MiB blocks.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError`` when absent).
    """
    digest = Dos2UnixMd5()
    with open(path, "rb") as fobj:
        while block := fobj.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
