"""Real storage servers on free loopback ports, started inside the test session.

Each ``start_*`` returns ``(base_url_or_info, stop)``. None is mocked: moto
is AWS's S3 protocol, gcp-storage-emulator GCS's JSON API, Azurite Azure's
blob API (from the npm registry, under ``.tools/azurite``), asyncssh a real
SFTP server, wsgidav a real WebDAV server, and a ``http.server`` that also
accepts PUT stands for a plain HTTP remote.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import free_port

Stop = Callable[[], None]
ROOT = Path(__file__).resolve().parents[3]
AZURITE = ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _wait(port: int, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port}")
        time.sleep(0.1)


def _popen(args: list[str], port: int, what: str, cwd: Path | None = None) -> Stop:
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=dict(os.environ)
    )
    try:
        _wait(port, proc, what)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return stop


def start_gcs(data: Path) -> tuple[str, Stop]:
    """gcp-storage-emulator (PyPI); returns its endpoint URL."""
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    if not exe.exists():
        pytest.fail("gcp-storage-emulator is not installed: run 'make test'", pytrace=False)
    port = free_port()
    args = [str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    return f"http://127.0.0.1:{port}", _popen(args, port, "gcp-storage-emulator", cwd=data)


def start_azurite(data: Path) -> tuple[str, Stop]:
    """Azurite's blob service (npm); returns a connection string for its dev account."""
    if not AZURITE.exists():
        pytest.fail("Azurite is not installed (.tools/azurite): run 'make test'", pytrace=False)
    port = free_port()
    args = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    args += ["--location", str(data), "--silent", "--skipApiVersionCheck", "--loose"]
    stop = _popen(args, port, "azurite")
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    return conn, stop


def start_webdav(data: Path, users: dict[str, str] | None = None) -> tuple[str, Stop]:
    """wsgidav on cheroot, serving ``data``; returns its http URL.

    ``users``: ``{user: password}`` required (HTTP basic auth), else anonymous.
    """
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    mapping: object = True
    if users:
        mapping = {name: {"password": password} for name, password in users.items()}
    app = WsgiDAVApp(
        {
            "provider_mapping": {"/": str(data)},
            "simple_dc": {"user_mapping": {"*": mapping}},
            "http_authenticator": {"accept_basic": True, "accept_digest": False},
            "verbose": 0,
            "logging": {"enable": False, "enable_loggers": []},
        }
    )
    port = free_port()
    server = wsgi.Server(("127.0.0.1", port), app)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()

    def stop() -> None:
        server.stop()
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


class _PutHandler(http.server.SimpleHTTPRequestHandler):
    """GET/HEAD from a folder, and PUT/POST into it (written whole, then renamed)."""

    def log_message(self, *args: object) -> None:
        pass

    def _store(self) -> None:
        target = Path(self.translate_path(self.path))
        length = int(self.headers.get("Content-Length") or 0)
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        body = self._chunked() if chunked else self.rfile.read(length)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        part.write_bytes(body)
        os.replace(part, target)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    do_PUT = _store
    do_POST = _store


def start_http(data: Path) -> tuple[str, Stop]:
    """A threaded ``http.server`` over ``data`` that also accepts PUT/POST."""
    port = free_port()
    handler = functools.partial(_PutHandler, directory=str(data))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request for ``/<status>/...`` with that status (401, 403, 404...)."""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        status = int(self.path.strip("/").split("/", 1)[0])
        body = b"" if self.command == "HEAD" else b"refused"
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="dvc"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _answer


def start_status_http() -> tuple[str, Stop]:
    """An HTTP server refusing ``/<status>/...`` with that status; returns its URL."""
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


SSH_USER, SSH_PASSWORD = "dvc", "sftp-pass-1234"


def start_sftp(data: Path) -> tuple[int, Stop]:
    """An asyncssh SFTP server (password login) rooted at ``data``; returns its port."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    port = free_port()
    loop = asyncio.new_event_loop()
    connections: list[asyncssh.SSHServerConnection] = []

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            connections.append(conn)

        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == SSH_USER and password == SSH_PASSWORD

    def sftp_factory(chan: object) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(data).encode())

    server = loop.run_until_complete(
        asyncssh.listen(
            "127.0.0.1",
            port,
            server_host_keys=[key],
            server_factory=Server,
            sftp_factory=sftp_factory,
            allow_scp=False,
        )
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def shutdown() -> None:
        server.close()
        await server.wait_closed()
        for conn in connections:
            conn.close()
            await conn.wait_closed()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    return port, stop


def http_ok(url: str) -> bool:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url, timeout=2)
        return True
    return False


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
