"""The process's HTTP for its own calls (status reads, Event Grid posts, Azure DevOps): httpx, a pool per thread.

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
  seam (:class:`~shared.edges.http_deadline.DeadlineBackend`): every socket connect, read and
  write gets at most the time left, and none starts once it is gone. A server that drips its answer a byte at a time is
  then a :class:`TransportTimeout` at the deadline, never a held invocation;
* no automatic retries (retrying is the queue's job, with the backoff the core decides)
  except one: a *kept-alive* connection that the server closed while idle, found out only
  when the request failed before any answer came, is replaced once. The thread's pool counts
  the connections its network backend opens, which tells a reused connection from a new one.
  That applies to the Event Grid POST too: at worst the topic gets the same event twice, with
  the same ``id``, which the publish contract allows anyway;
* the response is streamed and at most ``max_body`` bytes are read; a longer body is cut
  there and its connection closed, not drained;
* no exception message ever holds a header value: httpx (h11) quotes a refused header
  value in its ``LocalProtocolError``, so that one and any encoding error are replaced by
  a fixed sentence, and every error is raised ``from None``.

One :class:`HttpxTransport` per process (built by :mod:`shared.runtime`); each thread that uses
it gets its own keep-alive pool, an ``httpx.HTTPTransport`` (httpx's public transport API) that
requests are sent through directly: a thread sends one request at a time, so a small pool per
thread keeps every connection it needs, and no thread waits on a process-wide pool lock or pays
for the others' idle connections (httpcore checks every pooled connection, with a ``poll()`` on
each idle socket, twice per request). No ``httpx.Client`` sits in front: the watcher needs none
of its redirects, cookies, auth flows or proxies, and sends the same headers itself. With
``LOG_LEVEL=DEBUG`` each exchange is one ``lro_watcher.http`` line, its URL without the query.
Tests hand the clients a fake transport (``tests/support/http.py``), the way httpx's
``MockTransport`` is used.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from shared.core.redaction import without_query
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
#: What an ``httpx.Client`` adds to every request (httpx decodes these encodings): the wire is as through one.
_CLIENT_HEADERS: Mapping[str, str] = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
#: No answer the watcher reads is this large; a longer body is cut here (and read as a failure).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Kept-alive connections of one thread's pool, across hosts (a thread sends one request at a time:
#: its status host, Event Grid, Azure DevOps; host.json lets 24 messages run at once, one per thread).
MAX_CONNECTIONS = 4
#: An idle connection is closed after this long; Azure's front ends keep idle ones about 4 minutes.
KEEPALIVE_SECONDS = 60.0
#: The whole exchange, contract §5's ``STATUS_READ_TIMEOUT_SECONDS`` default.
DEADLINE_SECONDS = 30.0
#: The failures that mean "the server had closed this kept-alive connection" when it was reused.
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_REFUSED_REQUEST = "the HTTP client refused a request header or the URL"
log = logging.getLogger("lro_watcher.http")


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


class HttpxTransport:
    """The watcher's rules over httpx's transport, one keep-alive pool per thread (see the module docstring)."""

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
        self._timeouts = httpx.Timeout(timeout_seconds, connect=self.connect_seconds, pool=deadline_seconds).as_dict()
        self._headers = httpx.Headers({**_CLIENT_HEADERS, **DEFAULT_HEADERS})
        self._local = threading.local()
        self._pools: list[DeadlineTransport] = []  # every thread's, for close()
        self._lock = threading.Lock()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *, max_body: int = MAX_BODY_BYTES
    ) -> HttpResponse:
        with self._deadline.running(self.deadline_seconds):  # one deadline for both tries
            try:
                request, pool = self._request(method, url, headers, body), self._pool()
                opened = pool.connections_opened
                try:
                    response = self._exchange(pool, request, max_body)
                except _STALE:
                    if pool.connections_opened != opened:
                        raise  # a new connection that failed: a real error, not a stale one
                    response = self._exchange(pool, request, max_body)  # one fresh try
            except httpx.TimeoutException as err:
                raise TransportTimeout(self._timed_out(err)) from None
            except httpx.LocalProtocolError:
                raise TransportError(_REFUSED_REQUEST) from None  # h11 quotes the refused header value: never repeat it
            except httpx.TransportError as err:
                raise TransportError(f"{type(err).__name__}: {err}"[:300]) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):  # UnicodeEncodeError quotes the header
                raise TransportError(_REFUSED_REQUEST) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP %s %s -> %s", method, without_query(url), response.status)
        return response

    def _request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> httpx.Request:
        """``url`` exactly, the client's and :data:`DEFAULT_HEADERS` then the caller's, the timeouts (as ``httpx.Client`` sets them)."""
        merged = self._headers.copy()
        merged.update(headers)
        return httpx.Request(method, url, headers=merged, content=body, extensions={"timeout": self._timeouts})

    @staticmethod
    def _exchange(pool: DeadlineTransport, request: httpx.Request, max_body: int) -> HttpResponse:
        response = pool.handle_request(request)
        try:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_body:
                    # Closing the stream before its end (below): httpcore closes the connection.
                    return HttpResponse(response.status_code, response.headers, bytes(data[: max_body + 1]), True)
            return HttpResponse(response.status_code, response.headers, bytes(data))
        finally:
            response.close()

    def _pool(self) -> DeadlineTransport:
        """This thread's keep-alive pool (made on its first request)."""
        pool: DeadlineTransport | None = getattr(self._local, "pool", None)
        if pool is None:
            limits = httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_SECONDS
            )
            pool = self._local.pool = DeadlineTransport(self._deadline, verify=self._tls, limits=limits)
            with self._lock:
                self._pools.append(pool)
        return pool

    def _timed_out(self, err: httpx.TimeoutException) -> str:
        if self._deadline.passed:
            return f"{type(err).__name__}: the whole exchange took longer than {self.deadline_seconds:g} s"
        return f"{type(err).__name__} (connect limit {self.connect_seconds:g} s, read limit {self.timeout_seconds:g} s)"

    def close(self) -> None:
        """Close every pooled connection, every thread's."""
        with self._lock:
            pools, self._pools = self._pools, []
        self._local = threading.local()
        for pool in pools:
            pool.close()
