"""Where a store lives: an fsspec filesystem plus a root path, and its errors.

Provides:
    Location: frozen (fs, root, url) with ``join()``, ``is_local`` and ``redact()``.
    open_location(url, storage_options): build one from a URL (a local path,
        ``file://``, ``s3://bucket/prefix``, ``memory://root``).
    storage_errors(location, action): turn a filesystem/network failure into a
        one-line ``RemoteError`` (or ``StorageError`` on local disk) that names
        the URL, never a credential, and says what to check.

Shared by the object store and the run-cache so both reach a remote the same way.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from prefect_dvc.config import redact_url
from prefect_dvc.errors import PrefectDvcError, RemoteError, StorageError

# NOTE: programming errors must surface as themselves, not as "remote unreachable".
_NOT_STORAGE_ERRORS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError)
_SECRET_OPTIONS = ("secret", "key", "token", "password", "session_token")


@dataclass(frozen=True)
class Location:
    """A root folder on one fsspec filesystem.

    ``secrets`` holds credential values from the storage options so they can
    be scrubbed out of any error text that echoes them (values shorter than
    4 characters are not credentials and would garble the text).
    """

    fs: AbstractFileSystem
    root: str
    url: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _secrets(options: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            found.extend(_secrets(value))
        elif key in _SECRET_OPTIONS and isinstance(value, str) and len(value) >= 4:
            found.append(value)
    return tuple(found)


def open_location(url: str, storage_options: Mapping[str, Any] | None = None) -> Location:
    """Build the filesystem for ``url`` (a fresh instance, no shared listing cache).

    Raises:
        RemoteError: the URL's scheme has no fsspec implementation installed.
    """
    options = dict(storage_options or {})
    # NOTE: a shared or cached instance could hold stale directory listings that
    # another writer has changed; correctness must not depend on them.
    options.setdefault("skip_instance_cache", True)
    options.setdefault("use_listings_cache", False)
    try:
        fs, root = url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise RemoteError(
            f"cannot open '{redact_url(url)}': {exc}",
            path=redact_url(url),
            hint="Check the URL's scheme, and install the fsspec package for it",
        ) from None
    return Location(fs=fs, root=str(root).rstrip("/") or "/", url=url, secrets=_secrets(options))


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return " ".join(text.split())


@contextmanager
def storage_errors(location: Location, action: str) -> Iterator[None]:
    """Re-raise what fsspec, s3fs or the OS throw as one of our errors.

    ``action`` says what we were doing ("list objects", "upload ab/cd...").
    """
    try:
        yield
    except PrefectDvcError:
        raise
    except _NOT_STORAGE_ERRORS:
        raise
    except Exception as exc:
        detail = location.redact(_describe(exc))
        if location.is_local:
            hint = "Check that the folder exists, is writable and the disk is not full"
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                hint = "Free some disk space and run again"
            raise StorageError(
                f"cannot {action} in '{location.safe_url}': {detail}", hint=hint
            ) from None
        if isinstance(exc, PermissionError):
            hint = "Check the remote's credentials (.dvc/config.local) and bucket permissions"
        else:
            hint = "Check the remote's URL and endpointurl, your network, and its credentials"
        raise RemoteError(
            f"cannot {action} on remote '{location.safe_url}': {detail}", hint=hint
        ) from None
