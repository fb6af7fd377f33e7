"""Reaching a Dask scheduler before a run starts, and Dask's logs kept quiet.

Provides:
    CONNECT_SECONDS: how long the scheduler is given to answer (TCP and Dask handshake).
    check_scheduler(address): a TCP connect to ``address``; one line if it fails.
    unreachable(address, exc): the one-line :class:`ConfigError` for a failed connect.
    quiet_dask(verbose): Dask's loggers at WARNING here and in new local workers.
    connect(runner, address, describe): a DaskTaskRunner's client now, or one line.

Why a plain TCP connect first: distributed's ``Client`` retries a refused
connection until its timeout (30 s by default) and logs a traceback per
attempt; a socket says "connection refused" or "unknown host" at once.
No Prefect import here: the CLI calls :func:`check_scheduler` before the flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from prefect_dvc.errors import ConfigError

CONNECT_SECONDS = 5.0
DEFAULT_PORT = 8786  # NOTE: distributed's default scheduler port for tcp:// without one
_TCP_SCHEMES = ("tcp", "tls", "ws", "wss")
_HINT = "Start the scheduler ('dask scheduler') or fix the address; or use --cluster dask:N"
_LOGGERS = ("distributed", "bokeh", "tornado")
_ENV = "DASK_LOGGING__DISTRIBUTED"


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a TCP-based address, ``None`` for inproc:// and ucx://.

    Raises:
        ConfigError: the port is not a number from 1 to 65535.
    """
    parts = urlsplit(address)
    if parts.scheme not in _TCP_SCHEMES:
        return None
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = 0
    if not parts.hostname or not 0 < port < 65536:
        raise ConfigError(
            f"--cluster '{address}' has no valid host:port",
            hint="Use e.g. --cluster tcp://scheduler:8786",
        )
    return parts.hostname, port


def unreachable(address: str, exc: BaseException) -> ConfigError:
    """One line naming ``address`` and why it could not be reached (refused, DNS, timeout)."""
    if isinstance(exc, socket.gaierror):
        why = f"its host name does not resolve (DNS: {exc.strerror or exc})"
    elif isinstance(exc, ConnectionRefusedError):
        why = "connection refused (nothing listens on that port)"
    elif isinstance(exc, TimeoutError | socket.timeout) or "timed out" in str(exc).lower():
        why = f"no answer within {CONNECT_SECONDS:g} s"
    elif isinstance(exc, OSError) and exc.strerror:
        why = exc.strerror
    else:
        why = " ".join(str(exc).split()) or type(exc).__name__
    return ConfigError(f"cannot reach the Dask scheduler at {address}: {why}", hint=_HINT)


def check_scheduler(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Open and close a TCP connection to the scheduler at ``address``.

    Args:
        address: ``tcp://host:port`` (also tls/ws/wss; inproc and ucx are not checked).
        seconds: how long to wait for the connection.

    Raises:
        ConfigError: refused, unknown host, no answer within ``seconds``, a bad port.
    """
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=seconds):
            pass
    except OSError as exc:
        raise unreachable(address, exc) from None
    if address.startswith("tcp://"):
        _handshake(address, seconds)


def _handshake(address: str, seconds: float) -> None:
    """distributed's comm handshake with the scheduler, bounded by ``seconds``.

    A port that accepts TCP but never speaks Dask (a wrong service, a hung
    scheduler) would leave ``Client()`` waiting past its own timeout.
    """
    import distributed.comm  # NOTE: only with --cluster tcp://…; costs ~1 s

    async def probe() -> None:
        comm = await asyncio.wait_for(distributed.comm.connect(address, timeout=seconds), seconds)
        await comm.close()

    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # NOTE: a failed connect logs a traceback
    try:
        asyncio.run(probe())
    except (Exception, asyncio.CancelledError) as exc:
        raise unreachable(address, exc) from None
    finally:
        quiet.setLevel(level)


@contextlib.contextmanager
def quiet_dask(verbose: bool) -> Iterator[None]:
    """Dask's loggers at WARNING in this process and in local workers started in the block.

    distributed logs ~40 INFO lines per run (scheduler, nanny, worker start and
    stop); ``-v`` (``verbose``) keeps them. New worker processes import
    distributed afresh and read ``DASK_LOGGING__DISTRIBUTED`` from the
    environment they inherit, so it is set for the block and restored after.
    """
    if verbose:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    before = os.environ.get(_ENV)
    os.environ[_ENV] = "warning"
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = before
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def connect(runner: Any, address: str | None, describe: str) -> None:
    """Start a ``DaskTaskRunner``'s client (and its LocalCluster) now, or say why in one line.

    Args:
        runner: an entered ``DaskTaskRunner`` (its ``client`` property connects).
        address: the scheduler's address, ``None`` for a new LocalCluster.
        describe: the cluster in words (``ClusterSpec.describe()``).

    Raises:
        ConfigError: the scheduler cannot be reached (refused, DNS, no answer
            within ``CONNECT_SECONDS``), or the local cluster does not start.
    """
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # NOTE: its connect retries log a traceback each
    try:
        runner.client  # noqa: B018 -- the property connects
    except (Exception, asyncio.CancelledError) as exc:
        if address:
            raise unreachable(address, exc) from None
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(
            f"cannot start {describe}: {why}",
            hint="Run with -v to see Dask's logs; or use --cluster tcp://host:port",
        ) from None
    finally:
        quiet.setLevel(level)
