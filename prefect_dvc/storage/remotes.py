"""A configured remote as the object store and run-cache a command uses.

Provides:
    open_remote(rc): the ``Remote`` (name, URL, object store, run-cache) of a
        ``remote "name"`` section, of any kind in ``kinds.KINDS``.

A kind that cannot list (HTTP) gets an object store that checks existence
object by object (as DVC does for HTTP, one HEAD each) and refuses ``gc``
listings, and a run-cache that refuses in one line: a run-cache lookup needs
a folder listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect_dvc.config import RemoteConfig
from prefect_dvc.errors import RemoteError
from prefect_dvc.storage.kinds import kind_of, open_remote_location
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.remote_gate import Remote
from prefect_dvc.storage.runcache import RunCache


def _cannot_list(what: str) -> RemoteError:
    return RemoteError(
        f"an HTTP remote cannot list its contents, so it cannot {what} "
        "(DVC's HTTP remote cannot either)",
        hint="Use a remote kind that can list, e.g. s3://, ssh:// or webdav://",
    )


class UnlistedObjectStore(ObjectStore):
    """An object store on a filesystem that cannot list (HTTP)."""

    def existing(self, md5s: Iterable[str]) -> set[str]:
        """Which of ``md5s`` are present: one existence request each, 16 at a time."""
        wanted = sorted(set(md5s))
        if not wanted:
            return set()
        with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
            found = list(pool.map(self.exists, wanted))
        return {m for m, ok in zip(wanted, found) if ok}

    def all_objects(self) -> set[str]:
        raise _cannot_list("collect garbage ('gc -c')")

    def remove(self, md5s: Iterable[str]) -> None:
        raise _cannot_list("delete objects")


class UnlistedRunCache(RunCache):
    """A run-cache on a filesystem that cannot list (HTTP): every lookup is refused."""

    def lookup_all(self, entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        raise _cannot_list("look up run-cache entries")

    def entries(self) -> list[tuple[str, str]]:
        raise _cannot_list("hold a run-cache")

    def save(self, entry: Mapping[str, Any]) -> tuple[str, str]:
        raise _cannot_list("hold a run-cache")


def open_remote(rc: RemoteConfig) -> Remote:
    """The remote's stores (only ssh connects here: sshfs logs in when built).

    Raises:
        ConfigError: an unsupported kind or option (``kinds.open_remote_location``).
        RemoteError: the kind's package is missing; an ssh login fails.
    """
    location = open_remote_location(rc)
    if kind_of(rc).can_list:
        return Remote(rc.name, ObjectStore(location), RunCache(location), rc.url)
    return Remote(rc.name, UnlistedObjectStore(location), UnlistedRunCache(location), rc.url)
