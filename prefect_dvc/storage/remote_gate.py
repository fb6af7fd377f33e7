"""The one way a command reaches its remote: opened lazily, probed once, failures said once.

Provides:
    Remote: a configured remote's name, URL, object store and run-cache.
    RemoteGate: hands out the remote on first use, after one probe request.
        Required (push, pull, fetch, ``gc -c``, ``repro --pull``): a failure
        raises one ``RemoteError`` line. Consulted (``repro``/``exp run``
        asking the remote run-cache): a failure, an unsupported kind or a
        failure remembered from the last minute (``reachability``) is one
        warning line, and the command goes on without the remote.

Why lazy: a command that turns out not to need the remote (every stage up to
date, every object local) never connects, so an offline laptop pays nothing.
Why one probe: a missing bucket, a wrong region or bad credentials would
otherwise look like "no objects" (s3fs reports a missing bucket as a missing
file), and a never-answering endpoint would be waited for once per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import ConfigError, RemoteError
from prefect_dvc.storage.location import probe
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.reachability import forget_failure, remember_failure, remembered_failure
from prefect_dvc.storage.runcache import RunCache

logger = logging.getLogger(__name__)


@dataclass
class Remote:
    """A configured remote's object store and run-cache."""

    name: str
    objects: ObjectStore
    runs: RunCache
    url: str = ""


class RemoteGate:
    """The remote of one command, probed on first use.

    Args:
        remote: the opened remote, or ``None`` when it could not be opened.
        name: the remote's name, for messages.
        problem: why it could not be opened (consult mode: said once on first use).
        consult: the folder remembering failures (``.dvc/tmp/prefect-dvc``)
            when the remote is only consulted; ``None`` when it is required.
        probed: the caller vouches for ``remote``; no probe request.
        opener: builds the remote on first use instead (``remote`` is then
            ``None``, ``name`` and ``url`` name it); an ``ssh://`` remote logs
            in when built, so a command that never needs it never connects.
        url: the remote's URL (with ``opener``), for remembered failures.
    """

    def __init__(
        self,
        remote: Remote | None,
        *,
        name: str = "",
        problem: str | None = None,
        consult: Path | None = None,
        probed: bool = False,
        opener: Callable[[], Remote] | None = None,
        url: str = "",
    ) -> None:
        self._remote = remote
        self._opener = opener
        self._url = remote.url if remote is not None else url
        self._name = remote.name if remote is not None else name
        self._problem = problem
        self._consult = consult
        self._checked = probed
        self._lock = threading.Lock()

    @property
    def consulted(self) -> bool:
        return self._consult is not None

    def get(self) -> Remote | None:
        """The remote, once proven usable; ``None`` when consulted and unusable.

        Raises:
            RemoteError: a required remote fails its probe.
        """
        with self._lock:
            if not self._checked:
                self._check()
            return self._remote

    def _check(self) -> None:
        tmp = self._consult
        if tmp is not None and self._url:
            reason = remembered_failure(tmp, self._url)
            if reason is not None:
                self._problem = f"{reason} (less than a minute ago)"
                self._remote, self._opener = None, None
        remote = self._open()
        if remote is not None:
            try:
                probe(remote.objects.location)
            except RemoteError as exc:
                if tmp is None:
                    raise
                remember_failure(tmp, remote.url, exc.msg)
                self._problem, self._remote = exc.msg, None
            else:
                if tmp is not None:
                    forget_failure(tmp, remote.url)
        self._checked = True
        if self._problem is not None:
            logger.warning("%s; running without remote '%s'", self._problem, self._name)

    def _open(self) -> Remote | None:
        """The remote, built now if an opener was given; consulted: ``None`` on failure."""
        if self._opener is None:
            return self._remote
        opener, self._opener = self._opener, None
        try:
            self._remote = opener()
        except (ConfigError, RemoteError) as exc:
            if self._consult is None:
                self._opener = opener  # NOTE: a later get() fails the same way
                raise
            if isinstance(exc, RemoteError):
                remember_failure(self._consult, self._url, exc.msg)
            self._problem = exc.msg
        return self._remote

    def fail(self, exc: RemoteError) -> None:
        """A request to the remote failed after the probe: re-raise, or (consulted) drop it.

        Raises:
            RemoteError: ``exc`` itself when the remote is required.
        """
        if self._consult is None:
            raise exc
        with self._lock:
            remote, self._remote = self._remote, None
            self._checked = True
        if remote is None:
            return  # another stage already said it
        remember_failure(self._consult, remote.url, exc.msg)
        logger.warning("%s; running without remote '%s'", exc.msg, remote.name)
