"""The per-scope token cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.edges.tokens import TokenCache
from tests.support.fakes import CountingCredential


def test_token_is_cached_per_scope_until_near_expiry() -> None:
    credential = CountingCredential(lifetime=3600)
    clock = [credential.now]
    cache = TokenCache(credential, clock=lambda: clock[0])
    a = cache.token("arm/.default")
    assert cache.token("arm/.default") == a
    assert cache.token("dc/.default") != a
    assert credential.calls == ["arm/.default", "dc/.default"]
    clock[0] += 3600 - 299  # inside the refresh margin
    assert cache.token("arm/.default") != a
    assert credential.calls.count("arm/.default") == 2


def test_refresh_drops_only_the_stale_token() -> None:
    credential = CountingCredential()
    cache = TokenCache(credential, clock=lambda: credential.now)
    first = cache.token("s")
    cache.refresh("s", "some-other-token")
    assert cache.token("s") == first
    cache.refresh("s", first)
    assert cache.token("s") != first


def test_concurrent_callers_share_one_token_request() -> None:
    credential = CountingCredential()
    cache = TokenCache(credential, clock=lambda: credential.now)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: cache.token("s"), range(64)))
    assert len(tokens) == 1 and credential.calls == ["s"]


def test_refresh_asks_the_credential_to_bypass_its_own_cache() -> None:
    seen: list[dict] = []

    class Recording(CountingCredential):
        def get_token(self, *scopes, **kwargs):
            seen.append(kwargs)
            return super().get_token(*scopes, **kwargs)

    credential = Recording()
    cache = TokenCache(credential, clock=lambda: credential.now)
    stale = cache.token("s")
    cache.refresh("s", stale)
    cache.token("s")
    cache.token("s")
    assert "claims" not in seen[0]
    assert "claims" in seen[1]
    assert len(seen) == 2
