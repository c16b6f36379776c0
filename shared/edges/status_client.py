"""GET a status URL with a bearer token -> :class:`StatusAnswer`. The only code that reads status over the network.

The transport (:mod:`shared.edges.http`, one per process) never follows a
redirect: a 3xx is returned as is, and the core refuses it. The URL was checked
against the token rules when the request was parsed (:mod:`shared.core.urls`); this
module sends exactly that string.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.core import arm_budget
from shared.core.interpretation import StatusAnswer
from shared.edges.http import MAX_BODY_BYTES, HttpTransport, TransportError, TransportTimeout
from shared.edges.tokens import TokenCache

__all__ = ["StatusClient", "KEPT_HEADERS"]

#: The answer headers the core reads (delay hints, error code, redirect target, auth challenge).
KEPT_HEADERS = (
    "retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-ms-error-code", "location", "www-authenticate",
    *arm_budget.HEADERS,  # ARM's read budget: remaining reads (principal and global) and the serving region
)


_KEPT = frozenset(KEPT_HEADERS)


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    """The :data:`KEPT_HEADERS` an answer has, by lower-case name, in one pass (``httpx.Headers.items()``
    already joins a repeated header with ``, ``)."""
    return {key: value for name, value in headers.items() if (key := name.lower()) in _KEPT}


class StatusClient:
    """Reads operation status; never raises for network or token trouble (that is a failed read)."""

    def __init__(self, tokens: TokenCache, http: HttpTransport) -> None:
        self._tokens = tokens
        self._http = http

    def read(self, url: str, scope: str) -> StatusAnswer:
        refreshed = False
        while True:
            try:
                token = self._tokens.token(scope)
            except Exception as err:  # azure-identity raises several types; none carries a secret
                return StatusAnswer(None, failure=f"could not get a token for {scope}: {type(err).__name__}: {err}"[:500])
            headers = {"Authorization": f"Bearer {token}", "x-ms-client-request-id": str(uuid.uuid4())}
            try:
                response = self._http.request("GET", url, headers)
            except TransportTimeout as err:
                return StatusAnswer(None, failure=f"timed out reading the status ({err})")
            except TransportError as err:
                return StatusAnswer(None, failure=f"could not read the status: {err}"[:500])
            if response.status in (401, 403) and not refreshed:
                self._tokens.refresh(scope, token)
                refreshed = True
                continue
            kept = _kept(response.headers)
            if response.truncated:
                return StatusAnswer(None, kept, failure=f"status body of more than {MAX_BODY_BYTES} bytes is too large")
            return StatusAnswer(response.status, kept, response.body)
