"""What some remote kinds' fsspec filesystems lack, added the way DVC's plugins add it.

Provides:
    atomic_writes(cls): a subclass of an fsspec filesystem class whose
        ``pipe_file`` and ``open(..., "wb", autocommit=False)`` write a
        dot-named temporary file beside the target and rename it into place
        on success, so no reader ever sees half an object or run-cache entry
        (SFTP and WebDAV servers show a file as it is being written; DVC's
        ssh plugin uploads through ``as_atomic`` for the same reason).
    http_filesystem(method, **kwargs): fsspec's HTTP filesystem that uploads
        with DVC's ``method`` option (POST by default, as dvc-http), streams
        large objects through a spooled file, and refuses to list, delete or
        rename with one line each (a ``RemoteError``; DVC's HTTP remote
        cannot either).

Why dot-named temporaries: the run-cache and the object store already
ignore names starting with ``.`` (``runcache.py``, ``objects.py``), so a
temporary left by a killed push is never read as an entry or an object.
"""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
import uuid
from functools import cache
from typing import Any

from fsspec import AbstractFileSystem

from prefect_dvc.errors import RemoteError

_SPOOL = 8 << 20  # bytes kept in memory before a large HTTP upload spills to disk


def _temp_name(path: str) -> str:
    head, tail = posixpath.split(path)
    return posixpath.join(head, f".{tail}.tmp-{uuid.uuid4().hex[:12]}")


class _AtomicSink:
    """A write to a temporary name that becomes ``path`` only on ``commit()``."""

    def __init__(self, fs: Any, path: str) -> None:
        self._fs, self._path, self._tmp = fs, path, _temp_name(path)
        fs._ensure_dir(posixpath.dirname(path))
        self._file = fs._plain_open(self._tmp, "wb")
        self.closed = False

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.closed = True

    def commit(self) -> None:
        self.close()
        self._fs._replace(self._tmp, self._path)

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(Exception):
            self._fs.rm_file(self._tmp)

    def __enter__(self) -> _AtomicSink:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class _AtomicWrites:
    """Mixin: whole-file writes go through a temporary name and a rename."""

    def _ensure_dir(self, path: str) -> None:
        # NOTE: neither SFTP nor WebDAV (409 Conflict) creates missing parent
        # folders; each is made once per filesystem (a WebDAV MKCOL chain costs
        # several requests, and a push writes many objects per folder).
        made: set[str] = self.__dict__.setdefault("_prefect_dvc_made_dirs", set())
        if path not in made:
            self.makedirs(path, exist_ok=True)  # type: ignore[attr-defined]
            made.add(path)

    def _plain_open(self, path: str, mode: str) -> Any:
        return super().open(path, mode)  # type: ignore[misc]

    def _replace(self, tmp: str, path: str) -> None:
        # NOTE: SFTP's rename refuses an existing target; an object or entry
        # already there has the same bytes (content-addressed), so keep it.
        fs: Any = self
        try:
            fs.mv(tmp, path)
        except Exception:
            if not fs.exists(path):
                raise
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        with _AtomicSink(self, path) as sink:
            sink.write(value)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "w" in mode:
            return _AtomicSink(self, path)
        return super().open(path, mode, **kwargs)  # type: ignore[misc]


class _StrictExists:
    """Mixin: ``exists`` says False only for a missing path, and raises the rest.

    fsspec's default ``exists`` answers False for any error, so an endpoint that
    times out or refuses would look like an empty remote (webdav4 keeps that default).
    """

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.info(path)  # type: ignore[attr-defined]
        except FileNotFoundError:
            return False
        return True


@cache
def strict_exists(cls: type[AbstractFileSystem]) -> type[AbstractFileSystem]:
    """``cls`` whose ``exists`` raises what is not "no such path" (see ``_StrictExists``)."""
    return type(f"Strict{cls.__name__}", (_StrictExists, cls), {})


@cache
def atomic_writes(cls: type[AbstractFileSystem]) -> type[AbstractFileSystem]:
    """``cls`` with atomic whole-file writes (see the module docstring)."""
    return type(f"Atomic{cls.__name__}", (_AtomicWrites, cls), {})


def _refuse(what: str) -> RemoteError:
    """The one-line refusal of an operation an HTTP remote cannot do."""
    return RemoteError(
        f"an HTTP remote cannot {what} (DVC's HTTP remote cannot either)",
        hint="Use a remote kind that can list, e.g. s3://, ssh:// or webdav://",
    )


class _SpooledUpload:
    """A large HTTP upload: spooled while written, sent in one request on ``commit()``."""

    def __init__(self, fs: Any, path: str) -> None:
        self._fs, self._path = fs, path
        # NOTE: closed by commit() or discard(), which uploads.py always calls.
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
        self.closed = False

    def write(self, data: bytes) -> int:
        return self._spool.write(data)

    def close(self) -> None:
        self.closed = True

    def commit(self) -> None:
        self._spool.seek(0)
        try:
            self._fs.put_file(self._spool, self._path)
        finally:
            self._spool.close()

    def discard(self) -> None:
        self._spool.close()


def http_filesystem(method: str, **kwargs: Any) -> AbstractFileSystem:
    """fsspec's HTTP filesystem uploading with ``method`` (``POST``/``PUT``), listing nothing.

    Raises:
        ConfigError: ``method`` is neither POST nor PUT (as fsspec refuses).
    """
    from fsspec.implementations.http import HTTPFileSystem

    class _DvcHTTPFileSystem(HTTPFileSystem):  # type: ignore[misc]
        upload_method = method.lower()

        async def _put_file(self, lpath: Any, rpath: str, **kw: Any) -> None:
            kw.setdefault("method", self.upload_method)
            await super()._put_file(lpath, rpath, **kw)

        async def _pipe_file(self, path: str, value: bytes, **kw: Any) -> None:
            session = await self.set_session()
            send = getattr(session, self.upload_method)
            async with send(self.encode_url(path), data=value, **self.kwargs) as resp:
                self._raise_not_found_for_status(resp, path)

        async def _exists(self, path: str, **kw: Any) -> bool:
            # NOTE: fsspec's own answers False for a refused connection too, which
            # would make an unreachable server look like "no such object".
            session = await self.set_session()
            url = self.encode_url(path)
            async with session.head(url, allow_redirects=True, **self.kwargs) as resp:
                if resp.status in (404, 410):
                    return False
                self._raise_not_found_for_status(resp, path)
                return True

        def open(self, path: str, mode: str = "rb", **kw: Any) -> Any:
            if "w" in mode:
                return _SpooledUpload(self, path)
            # NOTE: a streaming read: plain HTTP servers need not support ranges.
            kw.setdefault("block_size", 0)
            return super().open(path, mode, **kw)

        def ls(self, path: str, detail: bool = True, **kw: Any) -> Any:
            raise _refuse("list its contents")

        def find(self, path: str, *args: Any, **kw: Any) -> Any:
            raise _refuse("list its contents")

        def rm_file(self, path: str, **kw: Any) -> None:
            raise _refuse("delete objects")

        def rm(self, path: Any, *args: Any, **kw: Any) -> None:
            raise _refuse("delete objects")

        def mv(self, path1: Any, path2: Any, *args: Any, **kw: Any) -> None:
            raise _refuse("rename objects")

    return _DvcHTTPFileSystem(**kwargs)
