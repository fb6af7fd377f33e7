"""Uploading objects so that bad bytes are never committed and nothing is left half-done.

Provides:
    SMALL_UPLOAD: the size up to which an object goes in one PUT.
    upload_verified(fs, src, path, md5): upload a local file, hashing it as it
        is read; commit only if it hashes to ``md5``.
    abort_incomplete_uploads(fs, root, older_than): abort the multipart
        uploads under ``root`` that were begun over ``older_than`` ago.

Why: a push used to read an object twice (verify, then ``put_file``) and a
killed or failed push left S3 multipart uploads that nothing aborted, billed
until the bucket's owner noticed (issue #11 §2, §4). fsspec's uncommitted
writes (``open(..., autocommit=False)`` then ``commit()`` or ``discard()``)
give one code path for every filesystem; on s3fs that is a multipart upload
that ``discard`` aborts. DVC uploads with ``put_file`` and verifies nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from fsspec import AbstractFileSystem
from fsspec.spec import AbstractBufferedFile

CHUNK = 1 << 20
# NOTE: objects up to this size are read whole, hashed and sent in one PUT;
# larger ones stream through a multipart upload completed only once the
# bytes are known good. 8 MiB x 32 transfer threads bounds memory at 256 MiB.
SMALL_UPLOAD = 8 << 20


def upload_verified(fs: AbstractFileSystem, src: Path, path: str, md5: str) -> str | None:
    """Upload the local file ``src`` to ``path`` on ``fs`` if its bytes hash to ``md5``.

    The file is read once: hashed as it is sent.

    Returns:
        ``None`` when stored, else the md5 the bytes have; then nothing was
        stored and a begun multipart upload was aborted.

    Raises:
        OSError and whatever ``fs`` raises (the caller wraps them); a begun
        upload is aborted first, Ctrl-C included.
    """
    with open(src, "rb") as fobj:
        if os.fstat(fobj.fileno()).st_size <= SMALL_UPLOAD:
            data = fobj.read()
            actual = hashlib.md5(data).hexdigest()
            if actual != md5:
                return actual
            fs.pipe_file(path, data)
            return None
        return _stream(fs, fobj, path, md5)


def _stream(fs: AbstractFileSystem, fobj: BinaryIO, path: str, md5: str) -> str | None:
    sink = fs.open(path, "wb", autocommit=False)
    digest = hashlib.md5()
    try:
        while block := fobj.read(CHUNK):
            digest.update(block)
            sink.write(block)
        sink.close()
    except BaseException:
        _discard(sink)
        raise
    actual = digest.hexdigest()
    if actual != md5:
        _discard(sink)
        if not isinstance(sink, AbstractBufferedFile):
            # NOTE: not a buffered upload (memory://): the bytes may already be
            # visible under the final name, so take them back out.
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(path)
        return actual
    sink.commit()
    return None


def _discard(sink: Any) -> None:
    """Throw an uncommitted write away; never raises (we are already failing)."""
    with contextlib.suppress(Exception):
        sink.discard()
    # NOTE: a discarded fsspec buffered file would try to flush again when collected.
    with contextlib.suppress(Exception):
        sink.closed = True


def abort_incomplete_uploads(fs: AbstractFileSystem, root: str, older_than: timedelta) -> int:
    """Abort the multipart uploads under ``root`` begun over ``older_than`` ago.

    A killed push leaves its multipart uploads open, invisible in listings
    but billed. Only filesystems that have them (s3fs: ``call_s3`` and
    ``abort_mpu``) do anything; others return 0. Uploads outside ``root``'s
    prefix are never touched.

    Returns:
        How many uploads were aborted.
    """
    s3: Any = fs
    if not (hasattr(s3, "call_s3") and hasattr(s3, "abort_mpu")):
        return 0
    bucket, key, _ = s3.split_path(root)
    query: dict[str, str] = {"Bucket": bucket, "Prefix": f"{key.rstrip('/')}/" if key else ""}
    cutoff = datetime.now(timezone.utc) - older_than
    aborted = 0
    while True:
        page = s3.call_s3("list_multipart_uploads", **query)
        for upload in page.get("Uploads") or []:
            if upload["Initiated"] <= cutoff:
                s3.abort_mpu(bucket, upload["Key"], upload["UploadId"])
                aborted += 1
        if not page.get("IsTruncated"):
            return aborted
        query["KeyMarker"] = page["NextKeyMarker"]
        query["UploadIdMarker"] = page["NextUploadIdMarker"]
