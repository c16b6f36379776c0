"""The process transport (``shared.edges.http.HttpxTransport``) against loopback servers, over real sockets.

Each server is a raw socket loop in a thread that records what it receives, so a test
can assert what reached the wire: how many connections, which requests, which headers.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.edges.http import (
    USER_AGENT,
    HttpxTransport,
    TransportError,
    TransportTimeout,
)
from tests.support.loopback import Responder, Server, http_response


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(responder: Responder, **options: object) -> Server:
        servers.append(Server(responder, **options))  # type: ignore[arg-type]
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def transport() -> Iterator[HttpxTransport]:
    http = HttpxTransport(timeout_seconds=5)
    yield http
    http.close()


def header(request: bytes, name: str) -> str | None:
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return None


def test_a_get_sends_exactly_the_url_and_headers_and_reads_the_answer(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b'{"status":"InProgress"}', {"Retry-After": "7"}))
    response = transport.request("GET", f"{server.base}/subscriptions/s/operations/o?api-version=1&x=%2A", {"Authorization": "Bearer t"})
    assert response.status == 200 and response.body == b'{"status":"InProgress"}' and not response.truncated
    assert response.headers.get("retry-after") == "7" == response.headers.get("RETRY-AFTER")  # case-insensitive
    [request] = server.requests
    assert request.startswith(b"GET /subscriptions/s/operations/o?api-version=1&x=%2A HTTP/1.1\r\n")
    assert header(request, "authorization") == "Bearer t"
    assert header(request, "user-agent") == USER_AGENT and header(request, "accept") == "application/json"
    assert header(request, "host") == f"127.0.0.1:{server.port}"
    assert header(request, "accept-encoding") == "gzip, deflate"  # what an httpx.Client sent: httpx decodes these


def test_connections_are_kept_alive_and_reused(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"{}"))
    for _ in range(5):
        assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert len(server.requests) == 5 and server.connections == 1


def test_each_thread_keeps_its_own_connection(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"{}"))
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def work() -> None:
        barrier.wait()
        statuses.extend(transport.request("GET", f"{server.base}/s", {}).status for _ in range(3))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 9 and server.connections == 3


def test_a_cookie_an_answer_sets_is_never_sent_back(serve, transport) -> None:
    # A status endpoint (or anything on its host) must not plant state in the process's later requests.
    server = serve(lambda request: http_response(200, b"{}", {"Set-Cookie": "session=planted; Path=/"}))
    for _ in range(2):
        assert transport.request("GET", f"{server.base}/s", {"Authorization": "Bearer t"}).status == 200
    assert [header(request, "cookie") for request in server.requests] == [None, None]


def test_threads_share_no_pool_and_close_closes_every_threads(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"{}"))
    worker = threading.Thread(target=lambda: transport.request("GET", f"{server.base}/s", {}))
    worker.start()
    worker.join()
    assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert server.connections == 2  # the other thread's idle connection is not this thread's
    transport.close()
    assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert server.connections == 3  # closed, then a new pool and connection


def test_a_post_sends_the_body_with_its_length(serve, transport) -> None:
    server = serve(lambda request: http_response(200))
    body = b'[{"id":"e-1"}]'
    assert transport.request("POST", f"{server.base}/api/events", {"Content-Type": "application/json"}, body).status == 200
    [request] = server.requests
    assert request.startswith(b"POST /api/events HTTP/1.1") and request.endswith(b"\r\n\r\n" + body)
    assert header(request, "content-length") == str(len(body))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_answered_not_followed(serve, transport, status: int) -> None:
    server = serve(lambda request: http_response(status, headers={"Location": "/elsewhere"}))
    response = transport.request("GET", f"{server.base}/start", {"Authorization": "Bearer t"})
    assert response.status == status and response.headers.get("location") == "/elsewhere"
    assert len(server.requests) == 1


def test_a_body_over_the_cap_is_cut_and_its_connection_dropped(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"x" * 5000) if b"/big" in request else http_response(200, b"ok"))
    response = transport.request("GET", f"{server.base}/big", {}, max_body=1000)
    assert response.truncated and len(response.body) == 1001
    assert transport.request("GET", f"{server.base}/small", {}, max_body=1000).body == b"ok"
    assert server.connections == 2  # the half-read connection was not reused


def test_a_body_at_the_cap_is_whole(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"y" * 1000))
    response = transport.request("GET", f"{server.base}/s", {}, max_body=1000)
    assert not response.truncated and response.body == b"y" * 1000


def test_connection_close_answers_get_a_new_connection_next_time(serve, transport) -> None:
    server = serve(lambda request: http_response(200, b"{}", close=True), close_after_each=True)
    for _ in range(3):
        assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert server.connections == 3


def test_an_idle_connection_the_server_closed_is_replaced_once(serve, transport) -> None:
    # Keep-alive is announced, but the server closes after each answer (as a load balancer does
    # with idle connections): the next request on the old connection fails before any answer.
    server = serve(lambda request: http_response(200, b"{}"), close_after_each=True)
    for _ in range(3):
        assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert len(server.requests) == 3 and server.connections == 3


def test_a_kept_alive_connection_closed_as_the_request_arrives_is_replaced_once(serve, transport) -> None:
    # The race the idle check cannot see: the connection looked alive, the server closed it on
    # receiving the second request. That request goes once more, on a new connection.
    answers = iter([http_response(200, b"1"), None, http_response(200, b"2"), None, None])
    server = serve(lambda request: next(answers))
    assert transport.request("GET", f"{server.base}/s", {}).body == b"1"
    assert transport.request("GET", f"{server.base}/s", {}).body == b"2"
    assert len(server.requests) == 3 and server.connections == 2
    with pytest.raises(TransportError):  # reused fails, retried on a new one that fails too: no third try
        transport.request("GET", f"{server.base}/s", {})
    assert len(server.requests) == 5 and server.connections == 3


def test_a_server_that_never_answers_on_a_new_connection_is_one_error_not_a_retry(serve, transport) -> None:
    server = serve(lambda request: None)
    with pytest.raises(TransportError) as caught:
        transport.request("GET", f"{server.base}/s", {"Authorization": "Bearer secret-token"})
    assert "Server disconnected" in str(caught.value) and "secret-token" not in str(caught.value)
    assert len(server.requests) == 1


def test_a_silent_server_times_out(serve) -> None:
    answered = threading.Event()
    server = serve(lambda request: None if answered.wait(30) else None)
    http = HttpxTransport(timeout_seconds=0.3)
    try:
        with pytest.raises(TransportTimeout):
            http.request("GET", f"{server.base}/s", {})
    finally:
        answered.set()
        http.close()


def test_a_refused_connection_is_a_transport_error(transport) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        transport.request("GET", f"http://127.0.0.1:{port}/s", {})
    assert "Connection refused" in str(caught.value) and not isinstance(caught.value, TransportTimeout)


def test_a_refused_header_value_is_not_repeated(serve, transport) -> None:
    server = serve(lambda request: http_response(200))
    with pytest.raises(TransportError) as caught:
        transport.request("GET", f"{server.base}/s", {"Authorization": "Bearer sec\r\nX-Injected: ret"})
    assert "sec" not in str(caught.value) and "ret" not in str(caught.value) and caught.value.__cause__ is None
    assert server.requests == []


def test_proxy_variables_are_ignored(serve, transport, monkeypatch: pytest.MonkeyPatch) -> None:
    trap = serve(lambda request: http_response(599))
    server = serve(lambda request: http_response(200))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, trap.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert transport.request("GET", f"{server.base}/s", {}).status == 200
    assert trap.connections == 0 and len(server.requests) == 1


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_https_verifies_the_certificate_before_any_header_is_sent(serve, transport, tmp_path: Path) -> None:
    server = serve(lambda request: http_response(200), tls=self_signed(tmp_path))
    with pytest.raises(TransportError) as caught:
        transport.request("GET", f"{server.base}/s", {"Authorization": "Bearer secret-token"})
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) and "secret-token" not in str(caught.value)
    assert server.requests == []


def test_https_to_a_trusted_certificate_works(serve, tmp_path: Path) -> None:
    server = serve(lambda request: http_response(200, b"{}"), tls=self_signed(tmp_path))
    http = HttpxTransport(timeout_seconds=5)
    http._tls.load_verify_locations(tmp_path / "cert.pem")  # trust this one self-signed certificate, for this test only
    try:
        assert http.request("GET", f"{server.base}/s", {"Authorization": "Bearer t"}).status == 200
        assert header(server.requests[0], "authorization") == "Bearer t"
    finally:
        http.close()
