"""Bearer tokens: one credential per process, one cached token per scope.

azure-identity credentials cache too, but asking them still costs a lock and a
cache walk per call; this cache makes a warm status read a dictionary lookup.
A token is reused until five minutes before it expires. ``refresh`` drops it so
the next call asks the credential for a *new* one (the status client and the
Event Grid sink do this once on 401/403): that call passes ``claims``, which is
how azure-identity (MSAL) is told to skip its own cache, as after a claims
challenge. A credential that refuses ``claims`` is asked again without them.

Each token it gets is handed to the process's :class:`~shared.edges.secrets.SecretKeeper`, so
every output redacts it (contract §3).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared.edges.secrets import PROCESS_SECRETS, SecretKeeper

__all__ = ["TokenCredentialLike", "TokenCache"]

REFRESH_MARGIN_SECONDS = 300


class TokenCredentialLike(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class TokenCache:
    """Thread-safe per-scope token cache in front of an azure-identity ``TokenCredential``."""

    def __init__(
        self, credential: TokenCredentialLike, clock: Callable[[], float] = time.time, *, secrets: SecretKeeper = PROCESS_SECRETS,
    ) -> None:
        self._credential = credential
        self._secrets = secrets
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._stale: set[str] = set()  # scopes whose next fetch must bypass the credential's cache
        self._lock = threading.Lock()

    def token(self, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] - self._clock() > REFRESH_MARGIN_SECONDS:
            return cached[0]
        with self._lock:  # one thread refreshes; the others wait and reuse its token
            cached = self._tokens.get(scope)
            if cached is not None and cached[1] - self._clock() > REFRESH_MARGIN_SECONDS:
                return cached[0]
            access = self._fetch(scope, bypass_cache=scope in self._stale)
            self._stale.discard(scope)
            self._secrets.hold(f"token {scope}", access.token)
            self._tokens[scope] = (access.token, float(access.expires_on))
            return access.token

    def _fetch(self, scope: str, *, bypass_cache: bool) -> Any:
        if bypass_cache:
            # A claims request any token satisfies; its presence alone makes MSAL skip its cache.
            claims = json.dumps({"access_token": {"nbf": {"essential": True, "value": str(int(self._clock()))}}})
            try:
                return self._credential.get_token(scope, claims=claims)
            except Exception:  # noqa: BLE001 - a credential without claims support: ask normally
                pass
        return self._credential.get_token(scope)

    def refresh(self, scope: str, stale_token: str) -> None:
        """Forget ``stale_token`` (unless another thread already replaced it)."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached[0] == stale_token:
                del self._tokens[scope]
                self._stale.add(scope)
