"""The process's HTTP for its own calls (status reads, Event Grid posts), behind a one-method seam.

Storage and Entra go through their SDKs; everything else the watcher sends goes
through :meth:`HttpTransport.request`, and the rules live here, once:

* redirects are never followed: a 3xx comes back as a response, and the callers refuse it;
* no proxies or certificates from the environment; TLS is verified (hostname and chain)
  against certifi's CA bundle, as the Azure SDKs do;
* a connect timeout, then a timeout on each read (not on the whole answer); no automatic
  retries (retrying is the queue's job, with the backoff the core decides) except one: a
  kept-alive connection the server closed while idle is replaced once, when it failed
  before any answer came. That applies to the Event Grid POST too: at worst the topic gets
  the same event twice, with the same ``id``, which the publish contract allows anyway;
* at most ``max_body`` bytes of a body are read; a longer one is cut there and its
  connection dropped, not drained.

:class:`HttpClientTransport` is the standard library's ``http.client`` with keep-alive
connections per thread and host. The status read is the hot path: ``make bench`` (P2)
measured a GET through httpx's client at about 3.4× the CPU of this transport and
through urllib3's ``PoolManager`` at about 1.8×, and the watcher needs none of what those
layers add (redirects, proxies, cookies, retries, decoding). Tests hand the clients a
fake transport (``tests/support/http.py``), the way httpx's ``MockTransport`` is used.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

__all__ = [
    "HttpResponse",
    "HttpTransport",
    "HttpClientTransport",
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
#: Connections kept per thread; beyond this the least recently opened host's is closed.
_HOSTS_PER_THREAD = 16
#: What a server's close of an idle kept-alive connection looks like on the next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


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


class HttpClientTransport:
    """``http.client`` connections, kept alive per thread and ``scheme://host:port`` (no locks on the hot path)."""

    def __init__(self, timeout_seconds: float = 10.0, *, connect_seconds: float = 5.0) -> None:
        import certifi

        self.timeout_seconds = timeout_seconds
        self.connect_seconds = min(connect_seconds, timeout_seconds)
        self._tls = ssl.create_default_context(cafile=certifi.where())  # verifies the chain and the hostname
        self._local = threading.local()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *, max_body: int = MAX_BODY_BYTES
    ) -> HttpResponse:
        scheme, netloc, path, query, _ = urlsplit(url)
        target = f"{path or '/'}?{query}" if query else (path or "/")
        sent = {**DEFAULT_HEADERS, **headers}
        key = (scheme, netloc)
        try:
            conn, reused = self._connection(key)
            try:
                return self._exchange(key, conn, method, target, sent, body, max_body)
            except _STALE:
                self._drop(key)
                if not reused:
                    raise
            conn, _ = self._connection(key)  # the server closed the idle connection: one fresh try
            return self._exchange(key, conn, method, target, sent, body, max_body)
        except TimeoutError as err:
            self._drop(key)
            limits = f"connect limit {self.connect_seconds:g} s, read limit {self.timeout_seconds:g} s"
            raise TransportTimeout(f"{type(err).__name__} ({limits})") from None
        except (OSError, http.client.HTTPException) as err:
            # ``from None``: the chained exception is never logged; no header value reaches the message.
            self._drop(key)
            raise TransportError(f"{type(err).__name__}: {err}"[:300]) from None
        except ValueError:
            # http.client quotes a refused header value (a token, a key) in its ValueError: never repeat it.
            self._drop(key)
            raise TransportError("the HTTP client refused a request header or the URL") from None

    def close(self) -> None:
        """Close this thread's connections (other threads' close when the threads end)."""
        for conn in self._pool().values():
            conn.close()
        self._pool().clear()

    def _pool(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        try:
            return self._local.pool
        except AttributeError:
            self._local.pool = {}
            return self._local.pool

    def _connection(self, key: tuple[str, str]) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._pool()
        conn = pool.get(key)
        if conn is not None:
            return conn, True
        if len(pool) >= _HOSTS_PER_THREAD:
            pool.pop(next(iter(pool))).close()
        scheme, netloc = key
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=self.connect_seconds, context=self._tls)
        else:  # the URL rules allow http for loopback hosts only
            conn = http.client.HTTPConnection(netloc, timeout=self.connect_seconds)
        conn.connect()
        conn.sock.settimeout(self.timeout_seconds)
        pool[key] = conn
        return conn, False

    def _drop(self, key: tuple[str, str]) -> None:
        conn = self._pool().pop(key, None)
        if conn is not None:
            conn.close()

    def _exchange(
        self, key: tuple[str, str], conn: http.client.HTTPConnection, method: str, target: str, headers: dict[str, str],
        body: bytes | None, max_body: int,
    ) -> HttpResponse:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(max_body + 1)
        truncated = len(data) > max_body
        if truncated or response.will_close:
            self._drop(key)  # a new connection on the next request; a cut body is never drained
        return HttpResponse(response.status, response.headers, data, truncated)
