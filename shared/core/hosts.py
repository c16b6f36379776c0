"""What a host name is, without IO: loopback or not, ``host[:port]`` read strictly, a public suffix, Azure's shared domains.

One function per question, asked by the token URL rules (:mod:`shared.core.urls`), the settings
and the storage connection alike, so they never disagree (contract sections 4 and 5).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover - typing only
    from publicsuffixlist import PublicSuffixList

__all__ = [
    "is_loopback_host", "is_loopback_url", "split_netloc", "is_ip_literal", "is_public_suffix",
    "SHARED_SERVICE_DOMAINS", "covers_shared_service_domain",
]

#: ``host[:port]``: a bracketed IPv6 literal or a name without ``[]:@``, then at most one ``:port``.
_NETLOC = re.compile(r"^(?P<host>\[[^\[\]@]*\]|[^\[\]:@]*)(?::(?P<port>[^:]*))?$")


@lru_cache(maxsize=256)  # asked twice per request parsed, for the few hosts a process polls; pure
def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (bare or in brackets), written canonically.

    The one loopback rule (contract section 4) for token URLs, settings and the storage
    connection alike. Not loopback: a trailing dot, a name that merely starts with ``127.``
    or ``localhost``, decimal/hex/octal/short IPv4 forms, IPv4-mapped IPv6, a zone id.
    """
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        return _is_ipv6_loopback(host[1:-1])
    if host == "localhost":
        return True
    if ":" in host:
        return _is_ipv6_loopback(host)
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


def _is_ipv6_loopback(text: str) -> bool:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return address.scope_id is None and address == ipaddress.IPv6Address("::1")


def is_loopback_url(url: str) -> bool:
    """True if ``url``'s host is loopback by :func:`is_loopback_host`, read strictly (no userinfo, nothing after ``]``)."""
    try:
        netloc = urlsplit(url).netloc
        host, _ = split_netloc(netloc)
    except ValueError:
        return False
    return is_loopback_host(host)


def split_netloc(netloc: str) -> tuple[str, int | None]:
    """``host`` (IPv6 without its brackets, lower-cased) and port of ``host[:port]``; ValueError saying why not.

    Stricter than :func:`urllib.parse.urlsplit`, which reads ``[::1]x:80`` as ``::1`` port 80: after
    an IPv6 literal's ``]`` only ``:port`` may follow. The port is 1-65535 in ASCII digits.
    """
    match = _NETLOC.match(netloc)
    if match is None:
        raise ValueError("is not host[:port]")
    host, port_text = match.group("host").lower(), match.group("port")
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"has {host!r} in brackets, which is not an IPv6 address") from None
    port = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ValueError("has an invalid port")
        port = int(port_text)
    return host, port


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address literal (not a DNS name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


#: Domains already checked against the full Public Suffix List (tests/shared/test_urls.py), so the
#: default allowlist reads no list at cold start.
_VETTED_DOMAINS = frozenset({"devcenter.azure.com", "dev.azure.com", "visualstudio.com"})


@lru_cache(maxsize=1)
def _public_suffix_list() -> PublicSuffixList:
    """The Public Suffix List that publicsuffixlist ships (nothing is fetched), built once.

    Building it costs about a tenth of a second, so it is built only when a setting names a
    domain outside :data:`_VETTED_DOMAINS`, at start-up, never per message.
    """
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def is_public_suffix(domain: str) -> bool:
    """True if anyone may register names directly under ``domain`` (``com``, ``co.uk``, ``azurewebsites.net``).

    The Public Suffix List (ICANN and private sections) decides; a name the list does
    not know as a registrable domain, such as a bare unknown TLD, counts as public.
    """
    if domain in _VETTED_DOMAINS:
        return False
    return _public_suffix_list().is_public(domain)


#: Azure's shared multi-tenant parents: any customer gets a host somewhere under each (a web app, a
#: VM's DNS label, a storage account's static website, a container app), so a wildcard over one, or
#: over a parent of one, would send tokens to hosts strangers run. The Public Suffix List names some
#: children (``blob.core.windows.net``, ``azurewebsites.net``) but not these parents, which is how
#: ``*.core.windows.net`` passed while ``*.blob.core.windows.net`` was refused. A wildcard over one
#: service's own domain (``*.devcenter.azure.com``, ``*.vault.azure.net``) stays allowed.
SHARED_SERVICE_DOMAINS = frozenset({
    # Azure (public cloud)
    "azure.com", "azure.net", "windows.net", "core.windows.net", "cloudapp.azure.com", "cloudapp.net",
    "azurewebsites.net", "azurecontainer.io", "azurecontainerapps.io", "azurehdinsight.net",
    # Azure Government, Azure operated by 21Vianet (China), the former Azure Germany
    "usgovcloudapi.net", "core.usgovcloudapi.net", "usgovcloudapp.net", "azure.us",
    "chinacloudapi.cn", "core.chinacloudapi.cn", "chinacloudapp.cn", "chinacloudsites.cn", "azure.cn",
    "cloudapi.de", "core.cloudapi.de", "microsoftazure.de",
})


def covers_shared_service_domain(domain: str) -> bool:
    """True if ``*.domain`` matches hosts under one of :data:`SHARED_SERVICE_DOMAINS` (it is one, or a parent of one)."""
    return any(shared == domain or shared.endswith("." + domain) for shared in SHARED_SERVICE_DOMAINS)
