"""The watcher's transport seam over other HTTP stacks, for P2's comparison only (never used by the watcher).

Each class is a :class:`shared.edges.http.HttpTransport` with the production rules the
library can express (no redirects, no proxies from the environment, the same timeouts,
the body cap), so P2 shows what the same status read costs over http.client and urllib3 in
the same run as the watcher's own transport (httpx, :mod:`shared.edges.http`).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.edges.http import (
    DEFAULT_HEADERS,
    MAX_BODY_BYTES,
    HttpResponse,
    TransportError,
    TransportTimeout,
)

#: Connections kept per thread; beyond this the least recently opened host's is closed.
_HOSTS_PER_THREAD = 16
#: What a server's close of an idle kept-alive connection looks like on the next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class StdlibTransport:
    """``http.client`` connections kept alive per thread and host: the hand-written transport the watcher used
    before it went back to httpx (issue 11); kept here so P2 shows what the library costs."""

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


class Urllib3Transport:
    """One ``urllib3.PoolManager`` (what the Azure SDKs' requests transport sits on)."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._pools = urllib3.PoolManager(
            maxsize=64, block=False, retries=False, timeout=urllib3.Timeout(connect=5.0, read=timeout_seconds)
        )

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *,
                max_body: int = MAX_BODY_BYTES) -> HttpResponse:
        try:
            response: Any = self._pools.urlopen(
                method, url, body=body, headers={**DEFAULT_HEADERS, **headers}, redirect=False, retries=False,
                preload_content=False, decode_content=False,
            )
        except self._urllib3.exceptions.HTTPError as err:
            raise TransportError(type(err).__name__) from None
        data = response.read(max_body + 1)
        if len(data) > max_body:
            response.close()
        response.release_conn()
        return HttpResponse(response.status, response.headers, data, len(data) > max_body)

    def close(self) -> None:
        self._pools.clear()


#: name -> transport class, in the order P2 reports them.
ALTERNATIVES = {"http.client": StdlibTransport, "urllib3": Urllib3Transport}
