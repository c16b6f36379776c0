"""The process's HTTP for its own calls (status reads, Event Grid posts): one ``httpx.Client``.

Storage and Entra go through their SDKs; everything else the watcher sends goes
through :meth:`HttpTransport.request`, and the rules live here, once:

* redirects are never followed (``follow_redirects=False``): a 3xx comes back as a
  response, and the callers refuse it;
* ``trust_env=False``: no proxies, ``SSL_CERT_FILE`` or ``.netrc`` from the environment;
  TLS is verified (hostname and chain) against certifi's CA bundle, as the Azure SDKs do;
* a connect timeout, a timeout on each read (httpx's ``read`` timeout: per chunk), and a
  deadline on the whole exchange (``deadline_seconds``, ``STATUS_READ_TIMEOUT_SECONDS``:
  waiting for a pooled connection, connecting, TLS, sending, headers and body together). httpx
  has per-phase timeouts only, so the deadline lives in httpcore's documented network-backend
  seam (:class:`_DeadlineBackend`): every socket connect, read and write gets at most the time
  left, and none starts once it is gone. A server that drips its answer a byte at a time is
  then a :class:`TransportTimeout` at the deadline, never a held invocation;
* no automatic retries (retrying is the queue's job, with the backoff the core decides)
  except one: a *kept-alive* connection that the server closed while idle, found out only
  when the request failed before any answer came, is replaced once. httpx's own trace
  hook tells a reused connection from a new one. That applies to the Event Grid POST too:
  at worst the topic gets the same event twice, with the same ``id``, which the publish
  contract allows anyway;
* the response is streamed and at most ``max_body`` bytes are read; a longer body is cut
  there and its connection closed, not drained;
* no exception message ever holds a header value: httpx (h11) quotes a refused header
  value in its ``LocalProtocolError``, so that one and any encoding error are replaced by
  a fixed sentence, and every error is raised ``from None``.

One client per process (built by :mod:`shared.runtime`) holds the keep-alive pool for
every thread. Tests hand the clients a fake transport (``tests/support/http.py``), the
way httpx's ``MockTransport`` is used.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shared.edges.http_deadline import Deadline, DeadlineTransport

__all__ = [
    "HttpResponse",
    "HttpTransport",
    "HttpxTransport",
    "TransportError",
    "TransportTimeout",
    "USER_AGENT",
    "DEFAULT_HEADERS",
    "MAX_BODY_BYTES",
]

USER_AGENT = "lro-watcher/1.0"
#: Sent with every request; the caller's headers come after and may replace them.
DEFAULT_HEADERS: Mapping[str, str] = {"User-Agent": USER_AGENT, "Accept": "application/json"}
#: No answer the watcher reads is this large; a longer body is cut here (and read as a failure).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Kept-alive connections across all threads and hosts (host.json lets 24 messages run at once).
MAX_CONNECTIONS = 64
#: An idle connection is closed after this long; Azure's front ends keep idle ones about 4 minutes.
KEEPALIVE_SECONDS = 60.0
#: The whole exchange, contract §5's ``STATUS_READ_TIMEOUT_SECONDS`` default.
DEADLINE_SECONDS = 30.0
#: The failures that mean "the server had closed this kept-alive connection" when it was reused.
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_REFUSED_REQUEST = "the HTTP client refused a request header or the URL"


class TransportError(Exception):
    """No HTTP response: refused, reset, TLS failure, protocol error. The message holds no header value."""


class TransportTimeout(TransportError):
    """Connecting or reading took longer than the transport's timeout."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer: status, headers (``get`` is case-insensitive in the real transport), body bytes."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The body went on past ``max_body``: ``body`` holds only its first ``max_body + 1`` bytes.
    truncated: bool = False


class HttpTransport(Protocol):
    """The seam the status client and the Event Grid sink are given."""

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *, max_body: int = MAX_BODY_BYTES
    ) -> HttpResponse:
        """Send one request to exactly ``url``; raise :class:`TransportError` when no answer came."""
        ...  # pragma: no cover


class _ConnectionWatch:
    """httpx's ``trace`` extension: did this request open a new connection (or reuse a kept-alive one)?"""

    __slots__ = ("opened",)

    def __init__(self) -> None:
        self.opened = False

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.opened = True


class HttpxTransport:
    """The watcher's rules over one thread-safe ``httpx.Client`` (see the module docstring)."""

    def __init__(
        self, timeout_seconds: float = 10.0, *, connect_seconds: float = 5.0, deadline_seconds: float | None = DEADLINE_SECONDS,
    ) -> None:
        """``timeout_seconds`` per read, ``connect_seconds`` to connect, ``deadline_seconds`` for everything (None: no deadline)."""
        import certifi

        self.timeout_seconds = timeout_seconds
        self.connect_seconds = min(connect_seconds, timeout_seconds)
        self.deadline_seconds = deadline_seconds
        self._deadline = Deadline()
        self._tls = ssl.create_default_context(cafile=certifi.where())  # verifies the chain and the hostname
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_SECONDS
        )
        self._client = httpx.Client(
            headers=dict(DEFAULT_HEADERS),
            transport=DeadlineTransport(self._deadline, verify=self._tls, limits=limits),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout_seconds, connect=self.connect_seconds, pool=deadline_seconds),
        )

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *, max_body: int = MAX_BODY_BYTES
    ) -> HttpResponse:
        with self._deadline.running(self.deadline_seconds):  # one deadline for both tries
            try:
                try:
                    return self._exchange(method, url, headers, body, max_body, watch := _ConnectionWatch())
                except _STALE:
                    if watch.opened:
                        raise  # a new connection that failed: a real error, not a stale one
                return self._exchange(method, url, headers, body, max_body, _ConnectionWatch())  # one fresh try
            except httpx.TimeoutException as err:
                raise TransportTimeout(self._timed_out(err)) from None
            except httpx.LocalProtocolError:
                raise TransportError(_REFUSED_REQUEST) from None  # h11 quotes the refused header value: never repeat it
            except httpx.TransportError as err:
                raise TransportError(f"{type(err).__name__}: {err}"[:300]) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):  # UnicodeEncodeError quotes the header
                raise TransportError(_REFUSED_REQUEST) from None

    def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, max_body: int, watch: _ConnectionWatch
    ) -> HttpResponse:
        with self._client.stream(method, url, headers=headers, content=body, extensions={"trace": watch}) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_body:
                    # Leaving the block closes the stream before its end: httpcore closes the connection.
                    return HttpResponse(response.status_code, response.headers, bytes(data[: max_body + 1]), True)
            return HttpResponse(response.status_code, response.headers, bytes(data))

    def _timed_out(self, err: httpx.TimeoutException) -> str:
        if self._deadline.passed:
            return f"{type(err).__name__}: the whole exchange took longer than {self.deadline_seconds:g} s"
        return f"{type(err).__name__} (connect limit {self.connect_seconds:g} s, read limit {self.timeout_seconds:g} s)"

    def close(self) -> None:
        """Close every pooled connection."""
        self._client.close()
