"""A fake :class:`shared.edges.http.HttpTransport` for unit tests: no sockets, every request recorded.

``FakeTransport(handler)`` calls ``handler(SentRequest)`` for each request; the handler
returns an :class:`HttpResponse` (``answer(...)`` builds one) or raises
:class:`~shared.edges.http.TransportError` / :class:`~shared.edges.http.TransportTimeout`.
Response headers are an ``email.message.Message``, as ``http.client`` gives them, so
header lookups are case-insensitive exactly as in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from shared.edges.http import DEFAULT_HEADERS, MAX_BODY_BYTES, HttpResponse

__all__ = ["SentRequest", "FakeTransport", "answer"]


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes | None
    max_body: int

    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


def answer(status: int, json_body: Any = None, *, headers: Mapping[str, str] | None = None, body: bytes | None = None,
           max_body: int = MAX_BODY_BYTES) -> HttpResponse:
    """An :class:`HttpResponse` as the real transport would hand it over (body cut at ``max_body + 1``)."""
    message = Message()
    for name, value in (headers or {}).items():
        message[name] = value
    data = body if body is not None else (b"" if json_body is None else json.dumps(json_body).encode())
    if json_body is not None and "content-type" not in message:
        message["Content-Type"] = "application/json"
    return HttpResponse(status, message, data[: max_body + 1], truncated=len(data) > max_body)


class FakeTransport:
    """Records each request and answers with ``handler`` (``200`` and no body by default)."""

    def __init__(self, handler: Callable[[SentRequest], HttpResponse] | None = None) -> None:
        self.handler = handler or (lambda request: answer(200))
        self.seen: list[SentRequest] = []

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *,
                max_body: int = MAX_BODY_BYTES) -> HttpResponse:
        sent = {k.lower(): v for k, v in {**DEFAULT_HEADERS, **headers}.items()}
        request = SentRequest(method, url, sent, body, max_body)
        self.seen.append(request)
        return self.handler(request)
