"""A local Prefect server in the background, and finding it again cheaply.

Provides:
    ServerInfo: where a server started by ``prefect-dvc server start`` listens
        (API URL, pid, log file), as recorded under ``$PREFECT_HOME``.
    prefect_home(): ``$PREFECT_HOME`` (default ``~/.prefect``), as Prefect resolves it.
    healthy(api_url): one ``GET /api/health`` with a short timeout.
    find_local_server(): the API URL of a running local server, or ``None``.
    start_server(...), stop_server(...), server_status(...): the CLI's library side.
    spawn_server(...), wait_healthy(...): the two halves of ``start_server``.

Why: without ``PREFECT_API_URL`` every process that runs a flow spawns a
temporary server (4-5 s, migrations included) and loses task runs when it
exits (``prefect-notes.md`` 0.2). A server started once and found again by
the CLI takes both away. Nothing here imports Prefect: the check runs on
every ``exp run`` and must cost one loopback request, not a second of imports.

The server is ``python -m prefect server start`` in its own session, so
``stop`` can end it and its children together; its pid also goes to
Prefect's own ``server.pid`` so ``prefect server stop`` works as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect_dvc.errors import ConfigError, PrefectDvcError

STATE_FILE = "prefect-dvc-server.json"
PREFECT_PID_FILE = "server.pid"
LOG_FILE = "prefect-dvc-server.log"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
# NOTE: a fresh database needs ~11 s of migrations on a busy 2-core box.
START_TIMEOUT = 120.0

# Loopback only: never send the health check through a configured HTTP proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class ServerInfo:
    """A server we started: its API URL (``http://host:port/api``), pid and log.

    ``idle`` is set for a server started on demand by a command: it stops
    itself after that many seconds unused (:mod:`prefect_dvc.flows.background`).
    ``None``: started with ``prefect-dvc server start``, it stays until stopped.
    ``watcher`` is the pid of its idle watcher, stopped together with it.
    """

    api_url: str
    pid: int
    log: str
    idle: float | None = None
    watcher: int | None = None

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def prefect_home() -> Path:
    """``$PREFECT_HOME`` or ``~/.prefect``: where Prefect keeps its DB and profiles."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def healthy(api_url: str, timeout: float = 0.5) -> bool:
    """Whether ``<api_url>/health`` answers ``true`` within ``timeout`` seconds."""
    try:
        with _OPENER.open(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200 and resp.read().strip() == b"true"
    except (OSError, ValueError):
        return False


def read_info(home: Path) -> ServerInfo | None:
    """The server recorded under ``home``, if the record is readable."""
    try:
        data = json.loads((home / STATE_FILE).read_text())
        idle, watcher = data.get("idle"), data.get("watcher")
        return ServerInfo(
            str(data["api_url"]),
            int(data["pid"]),
            str(data["log"]),
            float(idle) if idle is not None else None,
            int(watcher) if watcher is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def find_local_server(home: Path | None = None, timeout: float = 0.3) -> str | None:
    """The API URL of a healthy local server: the recorded one, else the default port.

    One health request: the recorded server's URL if ``server start`` left a
    record, otherwise ``127.0.0.1:$PREFECT_SERVER_API_PORT`` (4200), where
    ``prefect server start`` listens by default, if that server keeps its
    database under ``home`` (:func:`_serves_home`). A refused loopback
    connection fails at once, so the common "no server" case costs ~1 ms.
    """
    home = home or prefect_home()
    info = read_info(home)
    if info:
        return info.api_url if healthy(info.api_url, timeout) else None
    port = int(os.environ.get("PREFECT_SERVER_API_PORT") or DEFAULT_PORT)
    url = f"http://{DEFAULT_HOST}:{port}/api"
    if not healthy(url, timeout) or not _serves_home(port, home):
        return None
    return url


def _serves_home(port: int, home: Path) -> bool:
    """Whether the unrecorded server on loopback ``port`` keeps its database under ``home``.

    A server someone started by hand with ``prefect server start`` is ours to
    use only if it is this ``PREFECT_HOME``'s: with another home its flow
    runs, logs and artifacts would land in a stranger's database, unseen in
    the UI the user expects. The listening process's environment says its
    home; when it cannot be read (another user's process), only the default
    home (``~/.prefect``, where a plain ``prefect server start`` keeps its
    database) is taken to match.
    """
    import psutil  # NOTE: only on this rare path: a healthy server nobody recorded

    ours = home.expanduser().resolve()
    default = Path("~/.prefect").expanduser().resolve()
    try:
        listeners = [
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        ]
    except (psutil.Error, OSError):
        listeners = []
    for pid in listeners:
        if pid is None:
            continue
        try:
            env = psutil.Process(pid).environ()
        except (psutil.Error, OSError):
            continue
        theirs = env.get("PREFECT_HOME") or str(Path(env.get("HOME", "~")) / ".prefect")
        return Path(theirs).expanduser().resolve() == ours
    return ours == default


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and is a Prefect server (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return b"prefect" in cmdline


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def server_status(home: Path | None = None) -> tuple[ServerInfo | None, bool]:
    """(the recorded server, whether it answers); (None, False) when none was started."""
    info = read_info(home or prefect_home())
    if info is None:
        return None, False
    return info, _pid_alive(info.pid) and healthy(info.api_url, timeout=2)


def start_server(
    home: Path | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    timeout: float = START_TIMEOUT,
    idle: float | None = None,
) -> tuple[ServerInfo, bool]:
    """Start a Prefect server (with its UI) in the background and wait until it is healthy.

    ``idle`` is recorded for a server started on demand (see :class:`ServerInfo`).

    Returns:
        The server, and ``False`` if it was already running (nothing started).

    Raises:
        ConfigError: the port is taken by something else.
        PrefectDvcError: the server exited or did not become healthy in ``timeout`` s.
    """
    home = home or prefect_home()
    info, up = server_status(home)
    if info is not None and up:
        return info, False
    proc, info = spawn_server(home, host=host, port=port, idle=idle)
    wait_healthy(proc, info, home, timeout)
    return info, True


def spawn_server(
    home: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, idle: float | None = None
) -> tuple[subprocess.Popen[bytes], ServerInfo]:
    """Start ``prefect server start`` in its own session and record it, without waiting.

    The caller waits with :func:`wait_healthy` when it needs the API, so its
    own work (importing Prefect, building the flow) overlaps the server's
    start-up (imports, migrations check, uvicorn: several seconds).

    Returns:
        The server process and its record (``idle`` as in :class:`ServerInfo`).

    Raises:
        ConfigError: the port is taken by something else.
    """
    if not _port_free(host, port):
        raise ConfigError(
            f"port {port} on {host} is already in use",
            hint="Pick another one with --port, or stop what listens there",
        )
    home.mkdir(parents=True, exist_ok=True)
    log = home / LOG_FILE
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.pop("PREFECT_API_URL", None)
    # NOTE: the UI asks its API at PREFECT_UI_API_URL, which otherwise says :4200
    # whatever --port is; the browser then shows "Can't connect to Server API".
    env.setdefault("PREFECT_UI_API_URL", f"http://{host}:{port}/api")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    info = ServerInfo(f"http://{host}:{port}/api", proc.pid, str(log), idle)
    record(home, info)
    (home / PREFECT_PID_FILE).write_text(str(proc.pid))
    return proc, info


def wait_healthy(
    proc: subprocess.Popen[bytes], info: ServerInfo, home: Path, timeout: float = START_TIMEOUT
) -> None:
    """Wait until the server :func:`spawn_server` started answers ``/api/health``.

    Raises:
        PrefectDvcError: it exited or did not answer within ``timeout`` seconds;
            it is stopped and its record removed, the error names its log.
    """
    deadline = time.monotonic() + timeout
    while not healthy(info.api_url, timeout=1):
        if proc.poll() is not None or time.monotonic() > deadline:
            why = "exited" if proc.poll() is not None else f"was not healthy after {timeout:.0f} s"
            _terminate(proc.pid)
            _forget(home)
            raise PrefectDvcError(
                f"the Prefect server on {info.ui_url} {why}",
                path=info.log,
                hint="Read the log for the reason; 'prefect server start' shows it in the terminal",
            )
        time.sleep(0.05)  # NOTE: each poll is one loopback request; a late answer costs the command


def record(home: Path, info: ServerInfo) -> None:
    """Write ``info`` as the server recorded under ``home`` (atomically: the idle
    watcher reads it at any moment, and a half-written record reads as none)."""
    tmp = home / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(asdict(info)) + "\n")
    os.replace(tmp, home / STATE_FILE)


def stop_server(home: Path | None = None, timeout: float = 20.0) -> ServerInfo | None:
    """Stop the server ``start_server`` recorded, and its idle watcher.

    Returns the server, or ``None`` if there was none. The calling process
    is never signalled (the idle watcher stops the server it watches).
    """
    home = home or prefect_home()
    info = read_info(home)
    if info is None:
        return None
    if _pid_alive(info.pid):
        _terminate(info.pid, timeout)
    if info.watcher and info.watcher != os.getpid() and _is_watcher(info.watcher):
        _terminate(info.watcher, 5.0)
    _forget(home)
    return info


def _is_watcher(pid: int) -> bool:
    try:
        return b"idle_watch" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except OSError:
            break
        _reap(pid)
        time.sleep(0.1)
    else:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _forget(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)
    (home / PREFECT_PID_FILE).unlink(missing_ok=True)
