"""Where a bearer token may go (contract §4).

Every URL the watcher sends a token to passes :func:`checked_url` first, and the
status client sends exactly the canonical string it returns, so the URL that
was checked is the URL that is requested. The rules are deliberately narrow:

* scheme ``https``; ``http`` only when the host is loopback (emulators, tests);
* printable ASCII only: no whitespace, control characters, backslashes or
  non-ASCII (IDN look-alikes) anywhere;
* no user information, no fragment, a numeric port if any;
* the ``host[:port]`` must be one the caller allows (ARM's host, or the
  ``STATUS_HOST_ALLOWLIST`` for devcenter);
* for URLs a producer supplies, no dot segments and no encoded ``/``, ``\\`` or
  ``.`` in the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from shared.core.errors import HostNotAllowed, InvalidRequest
from shared.core.hosts import (
    covers_shared_service_domain,
    is_ip_literal,
    is_loopback_host,
    is_loopback_url,
    is_public_suffix,
    split_netloc,
)

__all__ = ["HostAllowlist", "is_loopback_host", "is_loopback_url", "checked_url", "default_port", "is_public_suffix"]

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_ENCODED_TRICKS = ("%2f", "%5c", "%2e", "%00")
#: Any character outside printable ASCII (0x21-0x7E), or a backslash: one regex scan, not a loop per character.
_NOT_PRINTABLE_OR_BACKSLASH = re.compile(r"[^\x21-\x5b\x5d-\x7e]")
#: ``Azure-AsyncOperation: https://...`` (curl -D), ``< Location: ...`` (curl -v), ``'Operation-Location': '...'`` (a log).
_HEADER_LINE = re.compile(r"^[<\s]*(['\"]?)(?P<name>[A-Za-z][A-Za-z0-9-]*)\1\s*:\s*['\"]?https?://", re.IGNORECASE)


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class _Entry:
    host: str
    port: int | None
    wildcard: bool

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.port is None and port != 443:
            return False
        if self.wildcard:
            return host.endswith("." + self.host) and len(host) > len(self.host) + 1
        return host == self.host


@dataclass(frozen=True)
class HostAllowlist:
    """``host[:port]`` entries; ``*.example.com`` matches any subdomain (not the apex).

    An entry without a port matches only the https default port 443. ``setting`` names the app
    setting the list came from, so a refusal can say where the allowed hosts are set.
    """

    entries: tuple[_Entry, ...]
    setting: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str, setting: str | None = None) -> HostAllowlist:
        """Entries separated by commas; ``ValueError`` (the caller names the setting) for a bad one.

        Refused: text naming no entry at all (only commas and spaces). Refused as too broad: ``*``, a bare public suffix (``com``) and a wildcard directly
        over one (``*.com``, ``*.co.uk``, ``*.azurewebsites.net``), since anyone can own a
        host there. Loopback hosts (emulators) are always accepted.
        """
        entries = []
        for raw in text.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            wildcard = item.startswith("*.")
            host, _, port_text = (item[2:] if wildcard else item).partition(":")
            if item == "*" or item.startswith("*:"):
                raise ValueError(f"entry {raw.strip()!r} would send tokens to every host: name your own domain (e.g. *.devcenter.azure.com)")
            if not host or not set(host) <= _HOST_CHARS or ".." in host or host.endswith("."):
                raise ValueError(f"entry {raw.strip()!r} is not host[:port] or *.domain[:port]")
            _refuse_public_suffix(raw.strip(), host, wildcard)
            port = None
            if port_text:
                if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                    raise ValueError(f"entry {raw.strip()!r} has an invalid port")
                port = int(port_text)
            entries.append(_Entry(host, port, wildcard))
        if not entries:  # set, but only commas and spaces: a typo, not "no host at all"
            raise ValueError(f"names no host ({text!r}); leave it unset for its default, or list host[:port] entries")
        return cls(tuple(entries), setting)

    @classmethod
    def for_base_url(cls, url: str, setting: str | None = None) -> HostAllowlist:
        """Exactly the host and effective port of ``url`` (e.g. ARM_ENDPOINT)."""
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else default_port(parts.scheme.lower())
        return cls((_Entry((parts.hostname or "").lower(), port, False),), setting)

    def allows(self, host: str, port: int) -> bool:
        return any(entry.matches(host, port) for entry in self.entries)


def _refuse_public_suffix(entry: str, host: str, wildcard: bool) -> None:
    """ValueError for a public suffix, or a wildcard over one or over Azure's shared service domains."""
    if is_loopback_host(host) or is_ip_literal(host):
        return
    if is_public_suffix(host):
        if wildcard:
            why = f"matches every host under the public suffix {host!r}, where anyone can register a name"
        else:
            why = f"is the public suffix {host!r}, not a host of yours"
    elif wildcard and covers_shared_service_domain(host):
        why = f"matches every host under {host!r}, which holds Azure's shared service domains where any customer gets a host"
    else:
        return
    raise ValueError(f"entry {entry!r} {why}: name your own domain (e.g. *.devcenter.azure.com)")


def _pasted_header_line(field: str, name: str) -> InvalidRequest:
    where = (
        f"put only the URL in {field} and the header name in statusHeader"
        if field == "statusUrl"
        else f"put only the URL in {field}"
    )
    return InvalidRequest(field, f"Field '{field}' looks like a pasted header line ('{name}: https://...'); {where}.")


def _refused(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(field, f"Field '{field}' {why}.")


def checked_url(
    url: object,
    *,
    field: str,
    allowed: HostAllowlist,
    producer_supplied: bool = True,
) -> str:
    """Return the canonical form of ``url`` if a token may go there, else raise InvalidRequest(field)."""
    parts = _split(url, field)
    scheme = parts.scheme.lower()
    host, port = _host_and_port(parts.netloc, field)
    if scheme == "http" and not is_loopback_host(host):
        raise _refused(field, "must use https (http is allowed only for loopback)")
    if not allowed.allows(host, port if port is not None else default_port(scheme)):
        shown = f"{host}:{port}" if port is not None else host
        named = f" ({allowed.setting} names the hosts that are)" if allowed.setting else ""
        raise HostNotAllowed(field, f"Field '{field}' has host {shown!r}, which is not allowed to receive a token{named}.", shown)
    path = parts.path or "/"
    if producer_supplied:
        _check_path(path, field)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def _split(url: object, field: str) -> SplitResult:
    """``url`` split, if it is printable ASCII, absolute http(s), without userinfo or fragment."""
    if not isinstance(url, str) or not url:
        raise _refused(field, "must be a non-empty absolute URL")
    header = _HEADER_LINE.match(url)
    if header is not None and header.group("name").lower() not in ("http", "https"):
        raise _pasted_header_line(field, header.group("name"))
    if _NOT_PRINTABLE_OR_BACKSLASH.search(url) is not None:
        raise _refused(field, "must be printable ASCII without spaces or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _refused(field, "is not a well-formed URL") from None
    if parts.scheme.lower() not in ("https", "http") or not parts.netloc:
        raise _refused(field, "must be an absolute https URL")
    if "@" in parts.netloc:
        raise _refused(field, "must not contain user information")
    if parts.fragment or url.endswith("#"):
        raise _refused(field, "must not contain a fragment")
    return parts


def _host_and_port(netloc: str, field: str) -> tuple[str, int | None]:
    """The host (a canonical DNS name or an IPv6 literal) and port of ``netloc``; InvalidRequest(field) otherwise."""
    try:
        host, port = split_netloc(netloc)
    except ValueError as err:
        raise _refused(field, str(err)) from None
    if not host:
        raise _refused(field, "has no host")
    if ":" in host:  # an IPv6 literal, checked by split_netloc
        return host, port
    if not set(host) <= _HOST_CHARS:
        raise _refused(field, f"has host {host!r}, which is not a plain DNS name")
    if host.endswith(".") or ".." in host:
        raise _refused(field, f"has host {host!r}, which is not a canonical DNS name")
    return host, port


def _check_path(path: str, field: str) -> None:
    """A producer's path: no encoded ``/``, ``\\``, ``.`` or NUL, no dot segments."""
    lowered = path.lower()
    if any(trick in lowered for trick in _ENCODED_TRICKS):
        raise _refused(field, "must not contain encoded slashes, backslashes or dots in its path")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise _refused(field, "must not contain '.' or '..' path segments")
