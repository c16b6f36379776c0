"""A whole-exchange deadline (``STATUS_READ_TIMEOUT_SECONDS``, contract §2.5) against loopback servers that drip.

Each server answers one byte at a time, a fraction of a second apart, and counts the bytes
it sent. A read that obeys the deadline ends as a timeout while the server has sent only a
part of its answer: that count is the proof, not a clock.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing

import pytest

from shared.core.azure_devops import AzureDevOpsCallback
from shared.core.errors import PublishError
from shared.edges.azure_devops import AzureDevOpsClient, FeedFailed
from shared.edges.credentials import app_credential
from shared.edges.eventgrid import EventGridSink
from shared.edges.http import HttpxTransport, TransportTimeout
from shared.edges.status_client import StatusClient
from shared.edges.tokens import TokenCache
from tests.support.builders import settings
from tests.support.fakes import CountingCredential

DEADLINE = 1.0
DRIP = 0.05  # seconds between two bytes: the answers below take 10 s or more to drip whole
BODY = json.dumps({"status": "Succeeded", "pad": "x" * 200}).encode()


def answer(body: bytes = BODY) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class DripServer:
    """Reads one request, then sends ``head`` at once and ``drip`` one byte every ``pace`` seconds."""

    def __init__(self, head: bytes, drip: bytes, pace: float = DRIP) -> None:
        self.head, self.drip, self.pace = head, drip, pace
        self.total = len(head) + len(drip)
        self.sent = 0
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        self.requests += 1
        try:
            conn.sendall(self.head)
            self.sent += len(self.head)
            for byte in self.drip:
                if self._stop.wait(self.pace):  # the hostile pace; also how the test stops it
                    return
                conn.sendall(bytes([byte]))
                self.sent += 1
        except OSError:  # the client gave up and closed: what the test wants
            return

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def drip() -> Iterator[Callable[..., DripServer]]:
    servers: list[DripServer] = []

    def start(head: bytes, dripped: bytes, pace: float = DRIP) -> DripServer:
        servers.append(DripServer(head, dripped, pace))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def http() -> Iterator[HttpxTransport]:
    with closing(HttpxTransport(timeout_seconds=5, deadline_seconds=DEADLINE)) as transport:
        yield transport


def test_a_dripping_body_is_a_timeout_at_the_deadline(drip, http) -> None:
    full = answer()
    head_end = full.index(b"\r\n\r\n") + 4
    server = drip(full[:head_end], full[head_end:])
    with pytest.raises(TransportTimeout) as caught:
        http.request("GET", f"{server.base}/op", {})
    assert "took longer than 1 s" in str(caught.value)
    assert server.sent < server.total  # ended well before the drip would have finished


def test_dripping_headers_are_a_timeout_at_the_deadline(drip, http) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 20) for i in range(20))
    server = drip(b"", head + b"Content-Length: 2\r\n\r\n{}")
    with pytest.raises(TransportTimeout):
        http.request("GET", f"{server.base}/op", {})
    assert server.sent < server.total


def test_the_deadline_is_per_request_and_an_answer_within_it_is_read(drip) -> None:
    server = drip(answer(b"{}"), b"")
    with closing(HttpxTransport(timeout_seconds=5, deadline_seconds=DEADLINE)) as transport:
        for _ in range(3):  # three reads, each within its own deadline, on one kept-alive connection
            assert transport.request("GET", f"{server.base}/op", {}).body == b"{}"


def test_a_dripping_status_endpoint_is_a_transient_failed_read(drip, http) -> None:
    full = answer()
    server = drip(b"", full)
    credential = CountingCredential()
    status = StatusClient(TokenCache(credential, clock=lambda: credential.now), http)
    read = status.read(f"{server.base}/op", "https://management.azure.com/.default")
    assert read.http_status is None and read.failure is not None and "timed out" in read.failure
    assert server.sent < server.total


def test_a_dripping_event_grid_topic_is_a_failed_publish(drip, http) -> None:
    server = drip(b"", answer(b""))
    config = settings(RESULT_SINK="eventgrid", EVENTGRID_TOPIC_ENDPOINT=f"{server.base}/api/events", EVENTGRID_TOPIC_KEY="k" * 44)
    sink = EventGridSink(config, TokenCache(CountingCredential()), http)
    with pytest.raises(PublishError) as caught:
        sink.publish_progress("e-1", {"status": "Running", "statusUrl": f"{server.base}/op", "observedAt": "2026-01-01T00:00:00Z"})
    assert "timed out" in str(caught.value) and server.sent < server.total


def test_dripping_azure_devops_callbacks_fail_as_retried_or_best_effort(drip, http) -> None:
    server = drip(b"", answer(b"{}"))
    callback = AzureDevOpsCallback(
        plan_url=f"{server.base}/", project_id="p", hub_name="build", plan_id="pl", job_id="j", timeline_id="t",
        task_instance_id="ti", auth_token="a" * 40,
    )
    client = AzureDevOpsClient(http)
    with pytest.raises(FeedFailed):
        client.append_feed(callback, "12:00:00 Running")
    with pytest.raises(PublishError):
        client.task_completed(callback, "Succeeded")
    assert server.requests == 2 and server.sent < 2 * server.total


def test_a_stalling_token_endpoint_fails_within_the_read_timeout(drip, monkeypatch: pytest.MonkeyPatch) -> None:
    # azure-identity's transport (requests) has per-read timeouts only: the token request gets
    # STATUS_READ_TIMEOUT_SECONDS as its connect and read limits and as its retry budget.
    server = drip(b"", b"HTTP/1.1 400 X\r\nContent-Length: 0\r\n\r\n", 0.6)  # a byte every 0.6 s: past the 0.3 s limit
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{server.base}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "header")
    credential = app_credential({"IDENTITY_ENDPOINT": f"{server.base}/msi/token"}, timeout_seconds=0.3)
    with pytest.raises(Exception) as caught:
        credential.get_token("https://management.azure.com/.default")
    assert "timeout" in str(caught.value).lower()
    assert server.sent < server.total and server.requests == 1  # gave up on the first answer; no retry past the budget
