"""The status client, over httpx's MockTransport (no sockets)."""

from __future__ import annotations

import httpx

from shared.status_client import StatusClient, new_http_client
from shared.tokens import TokenCache

from .fakes import CountingCredential

URL = "https://management.azure.com/subscriptions/s/providers/P/locations/l/operationStatuses/o?api-version=1"


def client(handler, credential: CountingCredential | None = None) -> tuple[StatusClient, CountingCredential, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    credential = credential or CountingCredential()
    http = httpx.Client(transport=httpx.MockTransport(record), follow_redirects=False)
    return StatusClient(TokenCache(credential, clock=lambda: credential.now), http), credential, seen


def test_reads_with_a_bearer_token_and_keeps_the_hint_headers() -> None:
    status, _, seen = client(lambda r: httpx.Response(200, json={"status": "Running"}, headers={"Retry-After": "9", "X-Other": "x"}))
    read = status.read(URL, "https://management.azure.com/.default")
    assert read.http_status == 200 and b"Running" in read.body
    assert read.headers == {"retry-after": "9"}
    assert seen[0].headers["authorization"] == "Bearer token-https://management.azure.com/.default-1"
    assert seen[0].headers["x-ms-client-request-id"]
    assert str(seen[0].url) == URL


def test_one_token_refresh_on_401_then_the_answer_stands() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"status": "Succeeded"})])
    status, credential, seen = client(lambda r: next(answers))
    read = status.read(URL, "scope/.default")
    assert read.http_status == 200
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-scope/.default-1", "Bearer token-scope/.default-2"]

    status, credential, seen = client(lambda r: httpx.Response(403, json={"error": {"code": "AuthorizationFailed"}}))
    assert status.read(URL, "scope/.default").http_status == 403
    assert len(seen) == 2 and len(credential.calls) == 2


def test_redirects_are_returned_not_followed() -> None:
    status, _, seen = client(lambda r: httpx.Response(302, headers={"Location": "https://evil.example/steal"}))
    read = status.read(URL, "s/.default")
    assert read.http_status == 302 and read.headers["location"] == "https://evil.example/steal"
    assert len(seen) == 1


def test_network_and_token_trouble_are_failed_reads_not_exceptions() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    status, _, _ = client(boom)
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "ConnectError" in read.failure

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    status, _, _ = client(slow)
    assert "timed out" in status.read(URL, "s/.default").failure

    credential = CountingCredential()
    credential.fail_with = RuntimeError("no identity endpoint")
    status, _, seen = client(lambda r: httpx.Response(200), credential)
    read = status.read(URL, "s/.default")
    assert read.http_status is None and "token" in read.failure and not seen


def test_the_process_client_never_follows_redirects() -> None:
    http = new_http_client()
    assert http.follow_redirects is False
    assert http.timeout.read == 10.0
