"""The watcher's transport seam over other HTTP stacks, for P2's comparison only (never used by the watcher).

Each class is a :class:`shared.transport.HttpTransport` with the production rules the
library can express (no redirects, no proxies from the environment, the same timeouts,
the body cap), so P2 shows what the same status read costs over httpx and urllib3 in
the same run as the watcher's own ``http.client`` transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.transport import (
    DEFAULT_HEADERS,
    MAX_BODY_BYTES,
    HttpResponse,
    TransportError,
)


class HttpxTransport:
    """One ``httpx.Client`` (the watcher's transport until P2 measured it)."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.Client(
            follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *,
                max_body: int = MAX_BODY_BYTES) -> HttpResponse:
        try:
            response = self._client.request(method, url, headers={**DEFAULT_HEADERS, **headers}, content=body)
        except self._httpx.HTTPError as err:
            raise TransportError(type(err).__name__) from None
        data = response.content
        return HttpResponse(response.status_code, response.headers, data[: max_body + 1], len(data) > max_body)

    def close(self) -> None:
        self._client.close()


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
ALTERNATIVES = {"httpx": HttpxTransport, "urllib3": Urllib3Transport}
