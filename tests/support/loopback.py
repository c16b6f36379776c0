"""A loopback HTTP/1.1 server over a raw socket, for tests that assert what reached the wire.

Each connection is served by a thread; ``responder`` answers each request (or closes the
connection when it returns None), and every connection and request is recorded.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Responder", "Server", "http_response"]

#: One HTTP/1.1 exchange: (request head + body) -> the raw bytes to answer, or None to close without answering.
Responder = Callable[[bytes], bytes | None]


def http_response(status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, close: bool = False) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Server:
    """A loopback HTTP/1.1 server: ``responder`` answers each request; every connection and request is recorded."""

    responder: Responder
    close_after_each: bool = False
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    handshake_failures: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                with self._lock:
                    self.handshake_failures += 1
                conn.close()
                return
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                request, buffer = head + b"\r\n\r\n" + buffer[:length], buffer[length:]
                with self._lock:
                    self.requests.append(request)
                answer = self.responder(request)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close_after_each:
                    return

    def close(self) -> None:
        self._sock.close()
