"""A loopback TCP relay in front of a real server, that a test can make fail.

The relay passes bytes both ways between its clients and the server; the
test makes the server fail as a network does: :meth:`Relay.fail_next`
answers the next ``n`` connections' first request ``500`` and closes them
(a gateway whose server is restarting; a status Prefect's client does not
retry, so each one reaches the caller), :meth:`Relay.refuse` closes the
listening socket (connection refused from then on). Everything runs in
daemon threads of the test process; :meth:`Relay.close` ends them all.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Relay:
    """``url`` (``http://127.0.0.1:<port>/api``) reaches ``target`` (host, port) till told not to.

    ``failed`` counts the requests answered by :meth:`fail_next`.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api"
        self.failed = 0
        self._to_fail = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` connections ``500 Internal Server Error``, then close them."""
        with self._lock:
            self._to_fail = count

    def refuse(self) -> None:
        """Stop listening: every later connection is refused."""
        self.close()

    def close(self) -> None:
        """Close the listener and every relayed connection."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                fail = self._to_fail > 0
                if fail:
                    self._to_fail -= 1
                    self.failed += 1
            if fail:
                _answer_500(client)
                continue
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()


def _answer_500(client: socket.socket) -> None:
    """Read one request (head and ``Content-Length`` body), answer 500, close."""
    data = b""
    with suppress(OSError):
        while b"\r\n\r\n" not in data and (chunk := client.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(ln.split(b":", 1)[1])
                for ln in head.split(b"\r\n")
                if ln.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length and (chunk := client.recv(65536)):
            body += chunk
        client.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            b'Content-Length: 25\r\nConnection: close\r\n\r\n{"detail": "relay: 500"}\n'
        )
    client.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until either side closes."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def relay_to(api_url: str) -> Iterator[Relay]:
    """A :class:`Relay` to the server of ``api_url`` (``http://host:port/api``), closed after."""
    host, port = api_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    relay = Relay((host, int(port)))
    try:
        yield relay
    finally:
        relay.close()
