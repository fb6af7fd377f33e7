"""The embedded default: one local Prefect server shared by every command, started on demand.

Provides:
    SERVER_MODE_ENV / IDLE_ENV: ``PREFECT_DVC_SERVER`` and ``PREFECT_DVC_SERVER_IDLE``.
    server_mode(): ``"background"`` (default), ``"temporary"`` or ``"off"``.
    idle_seconds(): how long a started server waits without use before it stops itself.
    ensure_background_server(home): the API URL of the shared server, starting
        it (once, whatever the number of commands racing) when none answers.
    mark_used(home): note that a command used the server now.
    start_early(): spawn that server without waiting, before Prefect is imported.

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

import atexit
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
    A server :func:`start_early` spawned in this process is waited for here.

    Raises:
        PrefectDvcError: the server did not become healthy (its log is named).
    """
    home = home or server_lib.prefect_home()
    pending = _pending.pop(home, None)
    if pending is not None:
        return _finish(home, pending), True
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / LOCK_FILE):
        info, up = server_lib.server_status(home)
        if info is not None and up:
            mark_used(home)
            return info, False
        proc, info = _spawn(home, stale=info is not None)
        return _finish(home, _Pending(proc, info, None)), True


@dataclasses.dataclass(frozen=True)
class _Pending:
    """A server spawned under the start lock (``lock``: its held handle, or ``None``
    when the caller's ``with`` holds it), not yet known to be healthy."""

    proc: subprocess.Popen[bytes]
    info: server_lib.ServerInfo
    lock: IO[str] | None


_pending: dict[Path, _Pending] = {}  # PREFECT_HOME -> the server start_early spawned


def _spawn(home: Path, *, stale: bool) -> tuple[subprocess.Popen[bytes], server_lib.ServerInfo]:
    """Replace a stale record and spawn the server (start lock held); no wait."""
    if stale:
        server_lib.stop_server(home, timeout=5)
    port = int(os.environ.get("PREFECT_SERVER_API_PORT") or server_lib.DEFAULT_PORT)
    if not server_lib._port_free(server_lib.DEFAULT_HOST, port):
        port = _free_port()
    return server_lib.spawn_server(home, port=port, idle=idle_seconds() or None)


def _finish(home: Path, pending: _Pending) -> server_lib.ServerInfo:
    """Wait for a spawned server, mark it used, start its idle watcher, release the lock."""
    try:
        info = pending.info
        server_lib.wait_healthy(pending.proc, info, home)
        mark_used(home)
        if info.idle:
            info = dataclasses.replace(info, watcher=_start_watcher(home, info, info.idle))
            server_lib.record(home, info)
        return info
    finally:
        if pending.lock is not None:
            pending.lock.close()  # NOTE: closing the handle releases its flock


def start_early() -> None:
    """Spawn the shared server now, without waiting, when a command will surely need it.

    Called by ``repro``/``exp run`` once they know a stage will run and
    before they import Prefect (~1.7 s): the server's own start-up (imports,
    migrations check, uvicorn: several seconds on 2 cores) then runs in
    parallel, and :func:`api_for_command` waits for it later. Does nothing
    unless the ``background`` mode would start a server anyway: no server
    answers, Prefect's SQLite database already exists (a first start runs
    migrations, which are not cut short), no API, profile or database is
    configured anywhere this module can see cheaply, and no other command
    holds the start lock (that one starts the server; we wait for it later).
    A spawned server this process never uses is stopped at exit.

    Raises:
        ConfigError: a bad ``PREFECT_DVC_SERVER`` / ``PREFECT_DVC_SERVER_IDLE``.
    """
    home = server_lib.prefect_home()
    if server_mode() != "background" or home in _pending or _maybe_configured(home):
        return
    if not (home / "prefect.db").exists() or server_lib.find_local_server(home):
        return
    lock = _try_lock(home / LOCK_FILE)
    if lock is None:
        return
    try:
        info, up = server_lib.server_status(home)
        if info is not None and up:
            lock.close()
            return
        proc, info = _spawn(home, stale=info is not None)
    except BaseException:
        lock.close()
        raise
    _pending[home] = _Pending(proc, info, lock)
    atexit.register(_abandon, home)


# Where Prefect may read an API URL, a profile or a database from besides the
# environment (Prefect 3 settings sources): any mention and we do not guess.
_ENV_KEYS = (
    "PREFECT_API_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
)
_PROFILE_WORDS = ("PREFECT_API_URL", "PREFECT_HOME", "DATABASE", "PREFECT_SERVER_API_PORT")


def _maybe_configured(home: Path) -> bool:
    """Whether an API URL, home or database may be set outside ``os.environ``."""
    if any(os.environ.get(key) for key in _ENV_KEYS):
        return True
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    cwd = Path.cwd()
    if (cwd / "prefect.toml").exists():
        return True
    for path, words in (
        (profiles, _PROFILE_WORDS),
        (cwd / ".env", ("PREFECT_",)),
        (cwd / "pyproject.toml", ("tool.prefect",)),
    ):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if any(word in text for word in words):
            return True
    return False


def _try_lock(path: Path) -> IO[str] | None:
    """The start lock's handle, held; ``None`` when another process holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _abandon(home: Path) -> None:
    """At exit: stop a server :func:`start_early` spawned that this process never used."""
    pending = _pending.pop(home, None)
    if pending is None:
        return
    server_lib._terminate(pending.info.pid, 5.0)
    server_lib._forget(home)
    if pending.lock is not None:
        pending.lock.close()


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
    url = None if home in _pending else server_lib.find_local_server(home)
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
