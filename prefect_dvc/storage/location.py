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

import contextlib
import errno
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from prefect_dvc.config import redact_url
from prefect_dvc.errors import PrefectDvcError, RemoteError, StorageError
from prefect_dvc.storage import remote_errors

# NOTE: programming errors must surface as themselves, not as "remote unreachable".
_NOT_STORAGE_ERRORS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError)
_SECRET_OPTIONS = ("secret", "key", "token", "password", "session_token")
# NOTE: DVC 3.67.1 `LocalHashFileDB.__init__` with `shared`: folders 0o2775,
# files 0o664 (objects are then protected to 0o444 as always).
SHARED_DIR_MODE = 0o2775
SHARED_FILE_MODE = 0o664


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
    shared: bool = False

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def make_dirs(self, path: str | Path) -> None:
        """Create the local folder ``path`` and its missing parents.

        With ``shared`` (``cache.shared = group``) every folder created, and
        ``path`` itself, gets mode ``2775`` (group-writable, set-group-ID), as
        DVC 3.67.1's ``LocalHashFileDB.makedirs`` does; else the umask's mode.
        A chmod refused on a teammate's folder is not an error (DVC neither).
        """
        folder = Path(path)
        if not self.shared:
            folder.mkdir(parents=True, exist_ok=True)
            return
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for item in reversed(missing):
            # NOTE: another writer may make it first
            with contextlib.suppress(FileExistsError):
                item.mkdir(SHARED_DIR_MODE)
        for item in {*missing, folder}:
            with contextlib.suppress(OSError):
                os.chmod(item, SHARED_DIR_MODE)

    def settle_file(self, path: str | Path) -> None:
        """Give a new local non-object file (a run-cache entry) its shared mode ``0664``.

        Without ``shared`` it keeps the umask's mode, as DVC leaves it.
        """
        if self.shared:
            with contextlib.suppress(OSError):
                os.chmod(path, SHARED_FILE_MODE)

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


def open_location(
    url: str, storage_options: Mapping[str, Any] | None = None, *, shared: bool = False
) -> Location:
    """Build the filesystem for ``url`` (a fresh instance, no shared listing cache).

    ``shared``: ``cache.shared = group`` for a local cache (:meth:`Location.make_dirs`).

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
    if hasattr(fs, "call_s3"):
        # NOTE: s3fs retries a timed-out call 5 times on top of botocore's own
        # retries (config_kwargs): a never-answering endpoint would block minutes.
        fs.retries = 1
    return Location(
        fs=fs,
        root=str(root).rstrip("/") or "/",
        url=url,
        secrets=_secrets(options),
        shared=shared,
    )


def probe(location: Location) -> None:
    """One request that proves the remote is there and ours to use.

    On S3 it lists at most one key of the bucket, so a missing bucket, a wrong
    region, missing or rejected credentials and a denied access each fail here
    with their own message, instead of looking like "no objects" later (s3fs
    reports a missing bucket as a missing file). Other filesystems are asked
    whether the root exists and, when it does not, whether its bucket or
    container does (gcsfs and adlfs report a missing one as a missing path).

    Raises:
        RemoteError: one line naming the remote's URL (and bucket) and the problem.
    """
    if location.is_local:
        return
    fs: Any = location.fs
    if hasattr(fs, "call_s3"):
        with storage_errors(location, "list the bucket"):
            fs.call_s3("list_objects_v2", Bucket=location.root.split("/", 1)[0], MaxKeys=1)
    else:
        with storage_errors(location, "look up the root"):
            found = fs.exists(location.root)
        scheme = location.url.split("://", 1)[0].lower()
        missing = None if found else remote_errors.missing_container(fs, scheme, location.root)
        if missing is not None:
            raise RemoteError(
                f"cannot use remote '{location.safe_url}': {missing}",
                hint="Create it, or fix the remote's url",
            )


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
        known = remote_problem(location, exc)
        scheme = location.url.split("://", 1)[0].lower()
        if known is not None:
            detail, hint = known
        elif isinstance(exc, PermissionError):
            hint = "Check the remote's credentials (.dvc/config.local) and its permissions"
        else:
            where = remote_errors.address_options(scheme)
            hint = f"Check the remote's {where}, your network, and its credentials"
        raise RemoteError(
            f"cannot {action} on remote '{location.safe_url}': {detail}", hint=hint
        ) from None


def remote_problem(location: Location, exc: BaseException) -> tuple[str, str] | None:
    """``(what is wrong, what to do)`` for a remote's failure, else ``None``.

    The classification, per kind, is ``remote_errors.remote_problem``.
    """
    scheme = location.url.split("://", 1)[0].lower() if "://" in location.url else "file"
    detail = location.redact(_describe(exc))
    return remote_errors.remote_problem(scheme, location.root, exc, detail)
