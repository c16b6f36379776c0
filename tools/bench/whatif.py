"""What-if for P2: the watcher's status read over the standard library's ``http.client``.

Not used by the watcher. It has the contract of :class:`shared.status_client.StatusClient`
(cached bearer token, one GET of exactly the checked URL, redirects never followed, one
token refresh on 401/403, timeouts, a 4 MiB body cap, the hint headers kept, failures as
``StatusRead(None, failure=...)``) and keep-alive connections per thread and host, so P2 can
show what the status read costs without httpx's client layers. ``make bench`` reports it
beside P2 as ``stdlib_whatif``; whether to adopt it is a design decision (see the README's
"Dependencies and why"), not something the benchmark decides.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import uuid
from urllib.parse import urlsplit

from shared.decide import StatusRead
from shared.status_client import MAX_BODY_BYTES, USER_AGENT
from shared.tokens import TokenCache

_KEPT = ("retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-ms-error-code", "location", "www-authenticate")


class StdlibStatusClient:
    def __init__(self, tokens: TokenCache, timeout_seconds: float = 10.0) -> None:
        self._tokens = tokens
        self._timeout = timeout_seconds
        self._local = threading.local()
        self._tls = ssl.create_default_context()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self._timeout, context=self._tls)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self._timeout)
            pool[(scheme, netloc)] = conn
        return conn

    def read(self, url: str, scope: str) -> StatusRead:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        refreshed = False
        while True:
            try:
                token = self._tokens.token(scope)
            except Exception as err:  # noqa: BLE001
                return StatusRead(None, failure=f"could not get a token for {scope}: {type(err).__name__}: {err}"[:500])
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("GET", target, headers={
                    "User-Agent": USER_AGENT, "Accept": "application/json", "Authorization": f"Bearer {token}",
                    "x-ms-client-request-id": str(uuid.uuid4()),
                })
                response = conn.getresponse()
                body = response.read(MAX_BODY_BYTES + 1)
                if response.will_close or len(body) > MAX_BODY_BYTES:
                    conn.close()
            except TimeoutError:
                conn.close()
                return StatusRead(None, failure="timed out reading the status (TimeoutError)")
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                return StatusRead(None, failure=f"could not read the status: {type(err).__name__}: {err}"[:500])
            if response.status in (401, 403) and not refreshed:
                self._tokens.refresh(scope, token)
                refreshed = True
                continue
            headers = {}
            for name in _KEPT:
                value = response.getheader(name)
                if value is not None:
                    headers[name] = value
            if len(body) > MAX_BODY_BYTES:
                return StatusRead(None, headers, failure=f"status body of more than {MAX_BODY_BYTES} bytes is too large")
            return StatusRead(response.status, headers, body)
