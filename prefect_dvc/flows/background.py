"""The embedded default: one local Prefect server shared by every command, started on demand.

Provides:
    SERVER_MODE_ENV / IDLE_ENV: ``PREFECT_DVC_SERVER`` and ``PREFECT_DVC_SERVER_IDLE``.
    server_mode(): ``"background"`` (default), ``"temporary"`` or ``"off"``.
    idle_seconds(): how long a started server waits without use before it stops itself.
    ensure_background_server(home): the API URL of the shared server, starting
        it (once, whatever the number of commands racing) when none answers.
    mark_used(home): note that a command used the server now.

Why: without ``PREFECT_API_URL`` Prefect starts a temporary server in every
process (4-5 s, migrations, lost task runs: ``prefect-notes.md`` 0.2, 2),
which made ``exp run`` 2.3x slower than DVC's. A server that outlives one
command costs that once a day. So that nothing lingers, a server started this
way stops itself after ``PREFECT_DVC_SERVER_IDLE`` seconds (default 1800)
without a command, a running flow run or a run waiting on a work pool
(:mod:`prefect_dvc.flows.idle_watch`). One started with ``prefect-dvc server
start`` is the user's and stays until ``server stop``.

``PREFECT_DVC_SERVER=temporary`` keeps Prefect's per-process server,
``off`` refuses to run without a configured API (CI, air-gapped machines).
A configured ``PREFECT_API_URL`` (or a Prefect Cloud profile) is always used
as it is and never reaches this module. Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from prefect_dvc.errors import ConfigError
from prefect_dvc.flows import server as server_lib

SERVER_MODE_ENV = "PREFECT_DVC_SERVER"
IDLE_ENV = "PREFECT_DVC_SERVER_IDLE"
DEFAULT_IDLE = 1800.0
MODES = ("background", "temporary", "off")
LOCK_FILE = "prefect-dvc-server.lock"
USED_FILE = "prefect-dvc-server.used"
USERS_FILE = "prefect-dvc-server.users"
_held: dict[Path, IO[str]] = {}  # this process's shared locks on USERS_FILE, kept until exit


def server_mode() -> str:
    """``PREFECT_DVC_SERVER`` checked: one of :data:`MODES` (default ``background``).

    Raises:
        ConfigError: any other value, naming the variable and the choices.
    """
    value = (os.environ.get(SERVER_MODE_ENV) or "background").strip().lower()
    if value not in MODES:
        raise ConfigError(
            f"{SERVER_MODE_ENV}={value!r} is not one of {', '.join(MODES)}",
            hint=f"Unset {SERVER_MODE_ENV}, or set it to one of those",
        )
    return value


def idle_seconds() -> float:
    """``PREFECT_DVC_SERVER_IDLE`` in seconds (default 1800; ``0`` never stops).

    Raises:
        ConfigError: not a number >= 0.
    """
    raw = os.environ.get(IDLE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_IDLE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(
            f"{IDLE_ENV}={raw!r} is not a number of seconds",
            hint="Set it to the seconds a started server waits unused, or 0 to keep it",
        )
    return value


def mark_used(home: Path) -> None:
    """Note that this process uses the server, for as long as it lives.

    Touches the usage stamp and takes a shared ``flock`` on the users file,
    held until the process exits (or is killed): the idle watcher never stops
    a server while a command that found it is still alive, even one that has
    not created its flow run yet. Best effort: a read-only home is fine.
    """
    with contextlib.suppress(OSError):
        (home / USED_FILE).touch()
        if home not in _held:
            handle = (home / USERS_FILE).open("a")
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            _held[home] = handle


def in_use(home: Path) -> bool:
    """Whether a live process holds the users lock (:func:`mark_used`)."""
    try:
        with (home / USERS_FILE).open("a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def refuse_without_api() -> ConfigError:
    """The one-line error of ``PREFECT_DVC_SERVER=off`` with no API configured."""
    return ConfigError(
        f"no Prefect API is configured and {SERVER_MODE_ENV}=off",
        hint="Set PREFECT_API_URL, or start a server with 'prefect-dvc server start'",
    )


def ensure_background_server(home: Path | None = None) -> tuple[server_lib.ServerInfo, bool]:
    """The shared local server, started now if none answers; ``(info, started)``.

    Concurrent callers serialise on an ``flock`` under ``home``: the first
    starts the server, the others find it healthy once they get the lock. A
    record whose process is gone or which does not answer is replaced. The
    default port (``PREFECT_SERVER_API_PORT``, 4200) is used when free, else
    any free loopback port, so a user's own server elsewhere is never disturbed.

    Raises:
        PrefectDvcError: the server did not become healthy (its log is named).
    """
    home = home or server_lib.prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / LOCK_FILE):
        info, up = server_lib.server_status(home)
        if info is not None and up:
            mark_used(home)
            return info, False
        if info is not None:
            server_lib.stop_server(home, timeout=5)
        port = int(os.environ.get("PREFECT_SERVER_API_PORT") or server_lib.DEFAULT_PORT)
        if not server_lib._port_free(server_lib.DEFAULT_HOST, port):
            port = _free_port()
        idle = idle_seconds()
        info, _ = server_lib.start_server(home, port=port, idle=idle or None)
        mark_used(home)
        if idle:
            info = dataclasses.replace(info, watcher=_start_watcher(home, info, idle))
            server_lib.record(home, info)
        return info, True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((server_lib.DEFAULT_HOST, 0))
        return int(sock.getsockname()[1])


def _start_watcher(home: Path, info: server_lib.ServerInfo, idle: float) -> int:
    """Start the idle watcher in a session of its own (a Ctrl-C here must not reach it); its pid."""
    command = [
        sys.executable,
        "-m",
        "prefect_dvc.flows.idle_watch",
        "--home",
        str(home),
        "--pid",
        str(info.pid),
        "--idle",
        str(idle),
    ]
    with open(info.log, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def api_for_command(announce: Callable[[str], None]) -> str | None:
    """The API URL a command without ``PREFECT_API_URL`` should use; ``None``: a temporary server.

    ``temporary`` returns ``None`` (Prefect's per-process server). Otherwise
    a healthy local server (recorded under ``$PREFECT_HOME``, or on port
    4200) is used; failing that ``background`` starts the shared one and
    ``announce``\\ s it in one line with its UI address, and ``off`` raises.

    Raises:
        ConfigError: ``PREFECT_DVC_SERVER=off`` and no server, or a bad setting.
        PrefectDvcError: the background server did not start (its log named).
    """
    mode = server_mode()
    if mode == "temporary":
        return None  # NOTE: asked for by name: not even a server someone else runs
    home = server_lib.prefect_home()
    url = server_lib.find_local_server(home)
    if url:
        mark_used(home)
        return url
    if mode == "off":
        raise refuse_without_api()
    info, started = ensure_background_server(home)
    if started:
        idle = f"after {_duration(info.idle)} unused" if info.idle else "only when told"
        announce(
            f"Started a local Prefect server in the background (UI {info.ui_url}); "
            f"it stops {idle}, or now with 'prefect-dvc server stop'."
        )
    return info.api_url


def _duration(seconds: float | None) -> str:
    seconds = seconds or 0
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def keep(home: Path, info: server_lib.ServerInfo) -> server_lib.ServerInfo:
    """Make an on-demand server the user's: no idle stop (``prefect-dvc server start``)."""
    if info.watcher and server_lib._is_watcher(info.watcher):
        server_lib._terminate(info.watcher, 5.0)
    kept = dataclasses.replace(info, idle=None, watcher=None)
    server_lib.record(home, kept)
    return kept
