"""Contract §4: where a token may go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.errors import InvalidRequest, SettingsError
from shared.core.urls import HostAllowlist, checked_url, is_loopback_host

DEVCENTER = HostAllowlist.parse("*.devcenter.azure.com, 127.0.0.1:8080")
ARM = HostAllowlist.for_base_url("https://management.azure.com")


def check(url: str, allowed: HostAllowlist = DEVCENTER) -> str:
    return checked_url(url, field="endpoint", allowed=allowed)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://t-dc.westus.devcenter.azure.com", "https://t-dc.westus.devcenter.azure.com/"),
        ("HTTPS://T-DC.WestUS.DevCenter.Azure.com/", "https://t-dc.westus.devcenter.azure.com/"),
        ("https://a.b.devcenter.azure.com:443/x", "https://a.b.devcenter.azure.com:443/x"),
        ("http://127.0.0.1:8080/projects", "http://127.0.0.1:8080/projects"),
    ],
)
def test_allowed_urls_come_back_canonical(url: str, canonical: str) -> None:
    assert check(url) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "https://devcenter.azure.com",  # the apex is not a subdomain
        "https://evildevcenter.azure.com",
        "https://devcenter.azure.com.evil.com",
        "https://x.devcenter.azure.com.",  # trailing dot
        "https://x.devcenter.azure.com:8443",  # port confusion
        "http://x.devcenter.azure.com",  # http off loopback
        "https://user@x.devcenter.azure.com",
        "https://x.devcenter.azure.com@evil.com",
        "https://evil.com#@x.devcenter.azure.com",
        "https://evil.com\\@x.devcenter.azure.com",
        "https://x.devcenter.azure.com/a/../b",
        "https://x.devcenter.azure.com/a/%2e%2e/b",
        "https://x.devcenter.azure.com/a%2Fb",
        "https://x.devcenter.azure.com/a%5cb",
        "https://x.devcenter.azure.com/a#frag",
        "https://x.devcenter.azure.com /a",
        "https://x.devcenter.azure.com\t/a",
        "https://x.dеvcenter.azure.com",  # Cyrillic e
        "https://127.0.0.1:8081",
        "http://2130706433:8080",
        "http://0x7f000001:8080",
        "http://0177.0.0.1:8080",
        "http://[::1]:8080",
        "ftp://x.devcenter.azure.com",
        "//x.devcenter.azure.com",
        "x.devcenter.azure.com",
        "https://x.devcenter.azure.com:abc",
        "https://x.devcenter.azure.com:99999",
        "",
    ],
)
def test_hostile_urls_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check(url)
    assert caught.value.field == "endpoint"
    assert "'endpoint'" in caught.value.reason


def test_arm_allowlist_is_exactly_the_arm_host_and_port() -> None:
    assert checked_url("https://management.azure.com/x?api-version=1", field="statusUrl", allowed=ARM)
    for url in ["https://management.azure.com:444/x", "https://management.azure.com.evil/x", "https://x.management.azure.com/x"]:
        with pytest.raises(InvalidRequest):
            checked_url(url, field="statusUrl", allowed=ARM)
    local = HostAllowlist.for_base_url("http://127.0.0.1:5000")
    assert checked_url("http://127.0.0.1:5000/a", field="statusUrl", allowed=local)
    with pytest.raises(InvalidRequest):
        checked_url("http://127.0.0.1:5001/a", field="statusUrl", allowed=local)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.1.2.3", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True),
        ("0:0:0:0:0:0:0:1", True), ("localhost", True), ("LOCALHOST", True), ("LocalHost", True),
        ("LOCALHOST.", False), ("localhost.", False), ("127.0.0.1.", False),  # trailing dots: not canonical
        ("127.evil.example.com", False), ("127.0.0.1.evil.com", False), ("localhost.evil.com", False),
        ("evil-localhost", False), ("0x7f.1", False), ("0x7f.0.0.1", False), ("2130706433", False),
        ("0177.0.0.1", False), ("127.000.0.1", False), ("127.1", False), ("0.0.0.0", False), ("::", False),
        ("::ffff:127.0.0.1", False), ("::1%lo", False), ("[::1%25lo]", False), ("[127.0.0.1]", False),
        ("[localhost]", False), ("[::1", False), ("::1]", False), ("[[::1]]", False), (" 127.0.0.1", False), ("", False),
    ],
)
def test_one_rule_decides_loopback_for_urls_and_storage(host: str, loopback: bool) -> None:
    from shared.core.storage_connection import storage_connection_from_environ

    assert is_loopback_host(host) is loopback
    # the storage connection asks the same function: http is allowed exactly for loopback hosts
    netloc = host if host.startswith("[") or ":" not in host else f"[{host}]"
    uri = f"http://{netloc}:10001/devstoreaccount1"
    for env in ({"AzureWebJobsStorage__queueServiceUri": uri},
                {"AzureWebJobsStorage": f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;QueueEndpoint={uri};"}):
        if loopback:
            storage_connection_from_environ(env)
        else:
            with pytest.raises(SettingsError):
                storage_connection_from_environ(env)


@pytest.mark.parametrize(
    "url",
    ["http://[::1]x:8080/a", "http://[::1]x/a", "http://[::1]]:8080/a", "http://[::1]:8080x/a", "http://[::1]@:8080/a",
     "http://[::1]:0/a"],
)
def test_garbage_after_an_ipv6_literal_is_refused_not_dropped(url: str) -> None:
    allowed = HostAllowlist.for_base_url("http://[::1]:8080")
    assert checked_url("http://[::1]:8080/a", field="statusUrl", allowed=allowed) == "http://[::1]:8080/a"
    with pytest.raises(InvalidRequest) as caught:
        checked_url(url, field="statusUrl", allowed=allowed)
    assert caught.value.field == "statusUrl"


@pytest.mark.parametrize("port", ["0", "65536", "99999", "-1", "+443", "0x1bb"])
def test_a_port_outside_1_to_65535_in_ascii_digits_is_an_invalid_port(port: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid port"):
        check(f"https://x.devcenter.azure.com:{port}/a")


@pytest.mark.parametrize("text", ["bad host!", "*.", "a..b", "x.com:0", "x.com:http", "x.com."])
def test_bad_allowlist_entries_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        HostAllowlist.parse(text)


def test_wildcard_needs_a_label_before_the_suffix() -> None:
    allow = HostAllowlist.parse("*.example.com")
    assert allow.allows("a.example.com", 443)
    assert not allow.allows("example.com", 443)
    assert not allow.allows(".example.com", 443)
    assert not allow.allows("a.example.com", 80)


@given(st.text(max_size=80))
def test_any_text_is_refused_or_lands_on_an_allowed_host(text: str) -> None:
    try:
        url = check(text)
    except InvalidRequest:
        return
    import httpx

    parsed = httpx.URL(url)
    assert parsed.host.endswith(".devcenter.azure.com") or (parsed.host, parsed.port) == ("127.0.0.1", 8080)


@given(st.sampled_from(["https://", "http://", "HTTPS://"]), st.text(alphabet="abc.-:@/\\%2e5cf#?0123456789[]x", max_size=40))
def test_url_shaped_text_never_escapes_the_allowlist(scheme: str, rest: str) -> None:
    try:
        url = check(f"{scheme}x.devcenter.azure.com{rest}")
    except InvalidRequest:
        return
    import httpx

    assert httpx.URL(url).host.endswith(".devcenter.azure.com")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("*", "every host"),
        ("*:443", "every host"),
        ("*.com", "every host under the public suffix 'com'"),
        ("*.co.uk", "every host under the public suffix 'co.uk'"),
        ("*.azurewebsites.net", "every host under the public suffix 'azurewebsites.net'"),  # the PSL's private section
        ("com", "is the public suffix 'com'"),
        ("contoso.example.com, *.co.uk:8443", "'*.co.uk:8443'"),
    ],
)
def test_allowlists_refuse_a_public_suffix_or_a_wildcard_directly_over_one(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="name your own domain") as caught:
        HostAllowlist.parse(text)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["*.devcenter.azure.com", "contoso-dc.westus.devcenter.azure.com", "*.contoso.com", "*.contoso.co.uk",
     "localhost:10001", "127.0.0.1:8080", "*.localhost:9000"],
)
def test_allowlists_accept_own_domains_and_loopback(text: str) -> None:
    assert HostAllowlist.parse(text).entries


def test_the_vetted_default_domain_is_not_a_public_suffix_by_the_list_itself() -> None:
    from publicsuffixlist import PublicSuffixList

    from shared.core import hosts

    psl = PublicSuffixList()
    assert hosts._VETTED_DOMAINS, "the shortcut must name what it skips"
    for domain in hosts._VETTED_DOMAINS:
        assert not psl.is_public(domain)


@pytest.mark.parametrize(
    ("domain", "public"),
    [("com", True), ("co.uk", True), ("azurewebsites.net", True), ("kawasaki.jp", True), ("city.kawasaki.jp", False),
     ("contoso.com", False), ("dev.contoso.co.uk", False), ("internal", True), ("xn--p1ai", True)],
)
def test_public_suffixes_come_from_the_shipped_list(domain: str, public: bool) -> None:
    from shared.core import hosts

    assert hosts.is_public_suffix(domain) is public  # wildcard (*.kawasaki.jp) and exception (!city...) rules included


@given(st.text(alphabet="127.0x:[]%lochstevi@f-", max_size=24))
def test_whatever_counts_as_loopback_is_loopback_to_the_http_client(netloc: str) -> None:
    """What the one rule calls loopback, httpx (which sends the request) reads as the same loopback host."""
    import ipaddress

    import httpx

    from shared.core.hosts import is_loopback_url

    url = f"http://{netloc}/x"
    if not is_loopback_url(url):
        return
    host = httpx.URL(url).host
    assert host == "localhost" or ipaddress.ip_address(host).is_loopback
