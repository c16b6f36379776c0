"""The status client, over the fake transport of tests/support/http.py (no sockets)."""

from __future__ import annotations

from collections.abc import Callable

from shared.edges.http import MAX_BODY_BYTES, HttpResponse, HttpxTransport, TransportError, TransportTimeout
from shared.edges.status_client import KEPT_HEADERS, StatusClient
from shared.edges.tokens import TokenCache
from tests.support.fakes import CountingCredential
from tests.support.http import FakeTransport, SentRequest, answer

URL = "https://management.azure.com/subscriptions/s/providers/P/locations/l/operationStatuses/o?api-version=1"
Handler = Callable[[SentRequest], HttpResponse]


def client(handler: Handler, credential: CountingCredential | None = None) -> tuple[StatusClient, CountingCredential, list[SentRequest]]:
    credential = credential or CountingCredential()
    http = FakeTransport(handler)
    return StatusClient(TokenCache(credential, clock=lambda: credential.now), http), credential, http.seen


def test_reads_with_a_bearer_token_and_keeps_the_hint_headers() -> None:
    status, _, seen = client(lambda r: answer(200, {"status": "Running"}, headers={"Retry-After": "9", "X-Other": "x"}))
    read = status.read(URL, "https://management.azure.com/.default")
    assert read.http_status == 200 and b"Running" in read.body
    assert read.headers == {"retry-after": "9"}
    assert seen[0].method == "GET" and seen[0].body is None and seen[0].max_body == MAX_BODY_BYTES
    assert seen[0].headers["authorization"] == "Bearer token-https://management.azure.com/.default-1"
    assert seen[0].headers["x-ms-client-request-id"]
    assert seen[0].url == URL


def test_one_token_refresh_on_401_then_the_answer_stands() -> None:
    answers = iter([answer(401), answer(200, {"status": "Succeeded"})])
    status, credential, seen = client(lambda r: next(answers))
    read = status.read(URL, "scope/.default")
    assert read.http_status == 200
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-scope/.default-1", "Bearer token-scope/.default-2"]

    status, credential, seen = client(lambda r: answer(403, {"error": {"code": "AuthorizationFailed"}}))
    assert status.read(URL, "scope/.default").http_status == 403
    assert len(seen) == 2 and len(credential.calls) == 2


def test_redirects_are_returned_not_followed() -> None:
    status, _, seen = client(lambda r: answer(302, headers={"Location": "https://evil.example/steal"}))
    read = status.read(URL, "s/.default")
    assert read.http_status == 302 and read.headers["location"] == "https://evil.example/steal"
    assert len(seen) == 1


def test_network_and_token_trouble_are_failed_reads_not_exceptions() -> None:
    def boom(request: SentRequest) -> HttpResponse:
        raise TransportError("ConnectionRefusedError: [Errno 111] Connection refused")

    status, _, _ = client(boom)
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "ConnectionRefusedError" in read.failure

    def slow(request: SentRequest) -> HttpResponse:
        raise TransportTimeout("TimeoutError after 10 s")

    status, _, _ = client(slow)
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "timed out" in read.failure

    credential = CountingCredential()
    credential.fail_with = RuntimeError("no identity endpoint")
    status, _, seen = client(lambda r: answer(200), credential)
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "token" in read.failure and not seen


def test_the_process_transport_defaults() -> None:
    # Real redirect, proxy and TLS behaviour over sockets: tests/integration/test_transport.py.
    http = HttpxTransport()
    try:
        assert http.timeout_seconds == 10.0
        assert http.connect_seconds == 5.0
        assert HttpxTransport(timeout_seconds=2).connect_seconds == 2  # connecting never outlasts the timeout
    finally:
        http.close()


def test_a_body_over_the_limit_is_a_failed_read_that_keeps_the_hint_headers() -> None:
    hints = {"Retry-After": "30", "x-ms-error-code": "TooBig", "X-Other": "x"}
    status, _, seen = client(lambda r: answer(200, headers=hints, body=b"x" * (r.max_body + 1), max_body=r.max_body))
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "too large" in read.failure
    assert read.headers == {"retry-after": "30", "x-ms-error-code": "TooBig"}
    assert set(read.headers) <= set(KEPT_HEADERS)
    assert len(seen) == 1 and seen[0].max_body == MAX_BODY_BYTES

    status, _, _ = client(lambda r: answer(200, headers=hints, body=b"x" * r.max_body, max_body=r.max_body))
    read = status.read(URL, "s/.default")  # exactly at the limit: still a body
    assert read.http_status == 200 and read.failure is None and len(read.body) == MAX_BODY_BYTES
