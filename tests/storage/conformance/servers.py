"""Real storage servers on free loopback ports, started inside the test session.

Each ``start_*`` returns ``(base_url_or_info, stop)``. None is mocked: moto
is AWS's S3 protocol, gcp-storage-emulator GCS's JSON API, Azurite Azure's
blob API (from the npm registry, under ``.tools/azurite``), asyncssh a real
SFTP server, wsgidav a real WebDAV server, a ``http.server`` that also
accepts PUT stands for a plain HTTP remote, and a small ``http.server``
speaking the WebHDFS REST calls (two-step CREATE/APPEND through a 307, OPEN,
LISTSTATUS, GETFILESTATUS, MKDIRS, RENAME, DELETE) stands for a namenode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _serve_http(port: int, handler: Callable[..., Any]) -> Stop:
    """Serve ``handler`` on ``127.0.0.1:port`` from a daemon thread; returns its stop."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return stop


def start_http(data: Path) -> tuple[str, Stop]:
    """A threaded ``http.server`` over ``data`` that also accepts PUT/POST."""
    port = free_port()
    handler = functools.partial(_PutHandler, directory=str(data))
    return f"http://127.0.0.1:{port}", _serve_http(port, handler)


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
    return f"http://127.0.0.1:{port}", _serve_http(port, _StatusHandler)


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


class _WebHdfsHandler(http.server.BaseHTTPRequestHandler):
    """The WebHDFS REST calls fsspec's ``WebHDFS`` makes, over a local folder.

    As a namenode does: ``CREATE``/``APPEND`` answer 307 with the datanode
    URL to send the bytes to (here ``?op=...&data=true`` on this server),
    ``OPEN`` is served directly, errors are ``RemoteException`` JSON, and
    ``RENAME`` onto an existing path answers ``{"boolean": false}``.
    """

    root: Path

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _missing(self, path: str) -> None:
        self._json(
            404, {"RemoteException": {"exception": "FileNotFoundException", "message": path}}
        )

    def _target(self) -> tuple[str, Path, dict[str, str]]:
        split = urllib.parse.urlsplit(self.path)
        hdfs_path = urllib.parse.unquote(split.path.removeprefix("/webhdfs/v1")) or "/"
        query = dict(urllib.parse.parse_qsl(split.query))
        return hdfs_path, self.root / hdfs_path.lstrip("/"), query

    def _status(self, path: Path) -> dict[str, object]:
        stat = path.stat()
        kind = "DIRECTORY" if path.is_dir() else "FILE"
        return {
            "pathSuffix": path.name,
            "type": kind,
            "length": 0 if path.is_dir() else stat.st_size,
            "modificationTime": int(stat.st_mtime * 1000),
            "permission": "755",
            "replication": 1,
            "blockSize": 134217728,
        }

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        hdfs_path, path, query = self._target()
        if not path.exists():
            return self._missing(hdfs_path)
        op = query.get("op")
        if op == "GETFILESTATUS":
            return self._json(200, {"FileStatus": self._status(path)})
        if op == "LISTSTATUS":
            entries = [self._status(p) for p in sorted(path.iterdir())] if path.is_dir() else []
            return self._json(200, {"FileStatuses": {"FileStatus": entries}})
        assert op == "OPEN", op
        data = path.read_bytes()
        offset = int(query.get("offset", 0))
        length = int(query.get("length", len(data)))
        chunk = data[offset : offset + length]
        self.send_response(200)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)

    def _redirect(self) -> None:
        location = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}&data=true"
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        _, path, query = self._target()
        op = query.get("op")
        if op == "CREATE":
            if "data" not in query:
                return self._redirect()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self._body())
            return self._json(201, {})
        if op == "MKDIRS":
            path.mkdir(parents=True, exist_ok=True)
            return self._json(200, {"boolean": True})
        assert op == "RENAME", op
        dest = self.root / urllib.parse.unquote(query["destination"]).lstrip("/")
        if not path.exists() or dest.exists() or not dest.parent.is_dir():
            return self._json(200, {"boolean": False})
        os.rename(path, dest)
        return self._json(200, {"boolean": True})

    def do_POST(self) -> None:
        hdfs_path, path, query = self._target()
        assert query.get("op") == "APPEND", query
        if not path.is_file():
            return self._missing(hdfs_path)
        if "data" not in query:
            return self._redirect()
        with open(path, "ab") as fobj:
            fobj.write(self._body())
        return self._json(200, {})

    def do_DELETE(self) -> None:
        _, path, query = self._target()
        if not path.exists():
            return self._json(200, {"boolean": False})
        if path.is_dir():
            if query.get("recursive") != "true" and any(path.iterdir()):
                return self._json(
                    403, {"RemoteException": {"exception": "IOException", "message": "not empty"}}
                )
            shutil.rmtree(path)
        else:
            path.unlink()
        return self._json(200, {"boolean": True})


def start_webhdfs(data: Path) -> tuple[str, Stop]:
    """A WebHDFS namenode+datanode over ``data``; returns ``host:port``."""
    port = free_port()
    handler = type("Handler", (_WebHdfsHandler,), {"root": data})
    return f"127.0.0.1:{port}", _serve_http(port, handler)
