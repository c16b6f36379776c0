"""HTTP plumbing: a quiet ThreadingHTTPServer and a keep-alive handler that delegates to the Simulator."""
from __future__ import annotations

import json
import selectors
import socket
import struct
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=utf-8"
MAX_REQUEST_BODY = 64 * 1024 * 1024
#: A dripped body (``Resp.drip``) is written in this many chunks at most: short gaps, a long whole.
DRIP_CHUNKS = 40


@dataclass
class Resp:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0      # sleep this long before answering (the "slow" fault)
    reset: bool = False     # close the connection without any response
    drip: float = 0.0       # trickle the body over this many seconds (tools/dev/sim/hostile.py)


def json_response(status: int, obj: Any, headers: dict | None = None) -> Resp:
    return Resp(status, json.dumps(obj, separators=(",", ":")).encode("utf-8"), dict(headers or {}), JSON_TYPE)


class _BadRequestBody(Exception):
    pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple, sim: Any) -> None:
        self.sim = sim   # the Simulator: _register/_unregister/_new_record/_serve/_control/_finish_record/_stopping
        # Made before binding: a failed bind calls server_close(), which closes them.
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, _Handler)
        self._closing = False

    def serve(self) -> None:
        """Accept loop that sleeps until a connection or close_listener(): no polling, instant stop."""
        with selectors.DefaultSelector() as sel:
            sel.register(self, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._closing:
                for key, _ in sel.select():
                    if key.fileobj is self and not self._closing:
                        self._handle_request_noblock()

    def close_listener(self) -> None:
        """Stop serve() (call from another thread), then close the listening socket."""
        self._closing = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):   # client went away, reset fault, stop(): not news
            return
        super().handle_error(request, client_address)


class Server6(Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lro-watcher-simulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120   # idle keep-alive connections

    server: Server

    def setup(self) -> None:
        super().setup()
        if not self.server.sim._register(self.connection):
            self.close_connection = True
            self.rfile.close()

    def finish(self) -> None:
        self.server.sim._unregister(self.connection)
        super().finish()

    def handle(self) -> None:
        if not self.rfile.closed:
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: never log
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequestBody("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY:
                    raise _BadRequestBody("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadRequestBody("bad Content-Length") from None
        if length < 0 or length > MAX_REQUEST_BODY:
            raise _BadRequestBody("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        sim = self.server.sim
        raw_path, _, raw_query = self.path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        try:
            body = self._read_body()
        except _BadRequestBody as exc:
            self.close_connection = True
            self._write(json_response(400, {"error": {"code": "BadRequest", "message": str(exc)}}))
            return
        if raw_path == "/_sim" or raw_path.startswith("/_sim/"):
            try:
                resp = sim._control(self.command, raw_path, query, body)
            except Exception as exc:  # a simulator bug: answer 500 rather than drop the connection
                resp = json_response(500, {"error": {"code": "SimulatorError", "message": repr(exc)}})
            self._write(resp)
            return
        rec = sim._new_record(self.command, raw_path, raw_query, query, self.headers.get("Host"))
        try:
            resp = sim._serve(self.command, raw_path, query, self.headers, body, rec)
        except Exception as exc:  # a simulator bug: answer 500 rather than hang the client
            resp = json_response(500, {"error": {"code": "SimulatorError", "message": repr(exc)}})
        if resp.delay > 0 and sim._stopping.wait(resp.delay):
            resp = Resp(reset=True)
        if resp.reset:
            sim._finish_record(rec, None)
            self._abort()
            return
        sim._finish_record(rec, resp.status)
        self._write(resp)

    def _write(self, resp: Resp) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if resp.body and self.command != "HEAD":
            if resp.drip > 0:
                self._drip(resp)
            else:
                self.wfile.write(resp.body)

    def _drip(self, resp: Resp) -> None:
        """The body in small chunks spread over ``resp.drip`` seconds; stops when the client goes or the simulator stops."""
        size = max(1, -(-len(resp.body) // DRIP_CHUNKS))
        chunks: list[bytes] = [resp.body[i:i + size] for i in range(0, len(resp.body), size)]
        gap = resp.drip / len(chunks)
        for i, chunk in enumerate(chunks):
            if i and self.server.sim._stopping.wait(gap):
                self.close_connection = True
                return
            self.wfile.write(chunk)

    def _abort(self) -> None:
        """Close with a TCP RST and no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()   # the descriptor really closes when rfile does, in finish()
