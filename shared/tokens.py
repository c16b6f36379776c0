"""Bearer tokens: one credential per process, one cached token per scope.

azure-identity credentials cache too, but asking them still costs a lock and a
cache walk per call; this cache makes a warm status read a dictionary lookup.
A token is reused until five minutes before it expires. ``refresh`` drops it so
the next call asks the credential again (the status client does this once on
401/403).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["TokenCredentialLike", "TokenCache"]

REFRESH_MARGIN_SECONDS = 300


class TokenCredentialLike(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class TokenCache:
    """Thread-safe per-scope token cache in front of an azure-identity ``TokenCredential``."""

    def __init__(self, credential: TokenCredentialLike, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] - self._clock() > REFRESH_MARGIN_SECONDS:
            return cached[0]
        with self._lock:  # one thread refreshes; the others wait and reuse its token
            cached = self._tokens.get(scope)
            if cached is not None and cached[1] - self._clock() > REFRESH_MARGIN_SECONDS:
                return cached[0]
            access = self._credential.get_token(scope)
            self._tokens[scope] = (access.token, float(access.expires_on))
            return access.token

    def refresh(self, scope: str, stale_token: str) -> None:
        """Forget ``stale_token`` (unless another thread already replaced it)."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached[0] == stale_token:
                del self._tokens[scope]
