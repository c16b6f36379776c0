"""GET a status URL with a bearer token -> :class:`StatusRead`. The only code that reads status over the network.

One ``httpx.Client`` per process (connection pooling, keep-alive). Redirects
are never followed: a 3xx is returned as is, and the core refuses it. The URL
was checked against the token rules when the request was parsed
(:mod:`shared.urls`); this module sends exactly that string.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .decide import StatusRead
from .tokens import TokenCache

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["StatusClient", "new_http_client", "USER_AGENT", "MAX_BODY_BYTES"]

USER_AGENT = "lro-watcher/1.0"
#: A status body larger than this is not a status body; it is read as a failure.
MAX_BODY_BYTES = 4 * 1024 * 1024
_KEPT_HEADERS = ("retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-ms-error-code", "location", "www-authenticate")


def new_http_client(timeout_seconds: float = 10.0, max_connections: int = 64) -> httpx.Client:
    """The process's HTTP client: no redirects, no proxies from the environment, bounded timeouts."""
    import httpx

    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


class StatusClient:
    """Reads operation status; never raises for network or token trouble (that is a failed read)."""

    def __init__(self, tokens: TokenCache, http: httpx.Client) -> None:
        self._tokens = tokens
        self._http = http

    def read(self, url: str, scope: str) -> StatusRead:
        import httpx

        refreshed = False
        while True:
            try:
                token = self._tokens.token(scope)
            except Exception as err:  # azure-identity raises several types; none carries a secret
                return StatusRead(None, failure=f"could not get a token for {scope}: {type(err).__name__}: {err}"[:500])
            try:
                response = self._http.get(
                    url,
                    headers={"Authorization": f"Bearer {token}", "x-ms-client-request-id": str(uuid.uuid4())},
                )
            except httpx.TimeoutException as err:
                return StatusRead(None, failure=f"timed out reading the status ({type(err).__name__})")
            except httpx.HTTPError as err:
                return StatusRead(None, failure=f"could not read the status: {type(err).__name__}: {err}"[:500])
            if response.status_code in (401, 403) and not refreshed:
                self._tokens.refresh(scope, token)
                refreshed = True
                continue
            body = response.content
            get = response.headers.get  # one lookup per kept header (``in`` then ``[]`` was two)
            headers = {name: value for name in _KEPT_HEADERS if (value := get(name)) is not None}
            if len(body) > MAX_BODY_BYTES:
                return StatusRead(None, headers, failure=f"status body of {len(body)} bytes is too large")
            return StatusRead(response.status_code, headers, body)
