"""A cheap loopback status endpoint for P2, run in its own process so its CPU is not counted.

``python -m tools.measure.bench.statusd`` listens on a free 127.0.0.1 port (asyncio, HTTP/1.1
keep-alive, no threads, no logging) and prints one JSON line ``{"port": N}``. Routes:

* ``POST /start/{id}?polls=N`` -> ``202`` with ``Azure-AsyncOperation: http://127.0.0.1:PORT/status/{id}?polls=N``
  and an empty body (the initial response of an ARM long-running operation);
* ``GET /{anything}/{id}?...polls=N...`` -> ``200`` with an ARM operation-status body:
  ``{"id": ..., "name": id, "status": "InProgress"}`` for the first ``N - 1`` reads of
  ``id`` and ``"Succeeded"`` from the N-th on (``polls`` absent: always ``InProgress``).

The answers carry no ``Retry-After``, so neither client waits between reads.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from urllib.parse import parse_qsl

_RUNNING = b'{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Bench/locations/westus/operationStatuses/%s","name":"%s","status":"InProgress","startTime":"2026-01-01T00:00:00Z"}'
_DONE = b'{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Bench/locations/westus/operationStatuses/%s","name":"%s","status":"Succeeded","startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-01T00:01:00Z"}'


class _Status(asyncio.Protocol):
    counts: dict[bytes, int] = {}
    port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.split(b"\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            self.buffer = self.buffer[length:]  # request bodies are ignored
            method, target, _ = lines[0].split(b" ", 2)
            self._answer(method, target)

    def _answer(self, method: bytes, target: bytes) -> None:
        path, _, query = target.partition(b"?")
        op = path.rstrip(b"/").rsplit(b"/", 1)[-1]
        params = dict(parse_qsl(query.decode("latin-1")))
        polls = int(params.get("polls", "0") or 0)
        if method == b"POST" and path.startswith(b"/start/"):
            location = b"http://127.0.0.1:%d/status/%s?polls=%d" % (self.port, op, polls)
            self._send(b"202 Accepted", b"", b"Azure-AsyncOperation: " + location + b"\r\n")
            return
        count = self.counts.get(op, 0) + 1
        self.counts[op] = count
        body = (_DONE if polls and count >= polls else _RUNNING) % (op, op)
        self._send(b"200 OK", body, b"Content-Type: application/json; charset=utf-8\r\n")

    def _send(self, status: bytes, body: bytes, headers: bytes) -> None:
        self.transport.write(  # type: ignore[attr-defined]
            b"HTTP/1.1 " + status + b"\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Status, "127.0.0.1", 0, backlog=256)
    _Status.port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": _Status.port}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
