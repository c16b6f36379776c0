"""Bearer tokens issued by the simulator's managed-identity endpoint.

Tokens are HS256 JWTs signed with a per-simulator random key, so they are
opaque to clients, carry their audience (``aud``) and a counter (``sim_n``),
and are only valid on the simulator that issued them. ``revoke_all`` turns
every token issued so far into an invalid one (to exercise refresh paths).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from urllib.parse import urlsplit

ARM_AUDIENCE = "https://management.azure.com"
ARM_LEGACY_AUDIENCE = "https://management.core.windows.net"
DEVCENTER_AUDIENCE = "https://devcenter.azure.com"
#: The generic Operation-Location data-plane route's audience (an Azure AI services account's).
DATAPLANE_AUDIENCE = "https://cognitiveservices.azure.com"
EVENTGRID_AUDIENCE = "https://eventgrid.azure.net"
SYSTEM_ASSIGNED_CLIENT_ID = "00000000-0000-0000-0000-0000000051d0"

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class TokenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalise_audience(audience: str) -> str:
    """Compare audiences the way Entra does in practice: no trailing '/.default' or '/', case-insensitive."""
    aud = audience.strip()
    if aud.lower().endswith("/.default"):
        aud = aud[: -len("/.default")]
    return aud.rstrip("/").lower()


def is_own_loopback_audience(audience: str, port: int) -> bool:
    """True for http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT (the simulator itself)."""
    try:
        parts = urlsplit(normalise_audience(audience))
        return (
            parts.scheme in ("http", "https")
            and parts.hostname in _LOOPBACK_HOSTS
            and parts.port == port
            and parts.path in ("", "/")
        )
    except ValueError:
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


class TokenIssuer:
    def __init__(self, issuer: str, lifetime_seconds: int = 3600) -> None:
        self._key = secrets.token_bytes(32)
        self._issuer = issuer
        self._lifetime = int(lifetime_seconds)
        self._counter = itertools.count(1)
        self._epoch = 0
        self._lock = threading.Lock()
        self._issued: list[dict[str, str]] = []

    def issued(self) -> list[dict[str, str]]:
        """``{audience, token}`` of every token issued so far, oldest first."""
        with self._lock:
            return list(self._issued)

    def issue(self, audience: str, client_id: str | None) -> tuple[str, int]:
        now = int(time.time())
        expires_on = now + self._lifetime
        with self._lock:
            claims = {
                "aud": audience,
                "iss": self._issuer,
                "iat": now,
                "nbf": now,
                "exp": expires_on,
                "appid": client_id or SYSTEM_ASSIGNED_CLIENT_ID,
                "sim_n": next(self._counter),
                "sim_epoch": self._epoch,
            }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{_HEADER}.{payload}"
        token = f"{signing_input}.{self._sign(signing_input)}"
        with self._lock:
            self._issued.append({"audience": audience, "token": token})
        return token, expires_on

    def verify(self, token: str) -> dict:
        """Claims of a token this issuer signed and has not revoked; raises TokenError otherwise."""
        parts = token.strip().split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.") from None
        if claims.get("sim_epoch") != self._epoch:
            raise TokenError("InvalidAuthenticationToken", "The access token has been revoked.")
        if int(claims.get("exp", 0)) <= time.time():
            raise TokenError("ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
        return claims

    def revoke_all(self) -> None:
        with self._lock:
            self._epoch += 1

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest())
