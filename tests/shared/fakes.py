"""Tiny fakes for unit tests: a TokenCredential that counts its calls."""

from __future__ import annotations

import threading
from typing import Any

from azure.core.credentials import AccessToken


class CountingCredential:
    """A TokenCredential handing out ``token-<scope>-<n>``; can be told to fail."""

    def __init__(self, lifetime: float = 3600, now: float = 1_000_000.0) -> None:
        self.calls: list[str] = []
        self.lifetime = lifetime
        self.now = now
        self.fail_with: Exception | None = None
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._lock:
            if self.fail_with is not None:
                raise self.fail_with
            self.calls.append(scopes[0])
            return AccessToken(f"token-{scopes[0]}-{len(self.calls)}", int(self.now + self.lifetime))
