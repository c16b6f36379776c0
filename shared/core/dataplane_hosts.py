"""``DATAPLANE_HOSTS``: which data-plane hosts ``dataplane`` requests may name, and the token scope of each.

The setting is ``pattern=scope`` entries separated by ``;``, for example::

    *.devcenter.azure.com=https://devcenter.azure.com/.default;*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default

A pattern is one ``STATUS_HOST_ALLOWLIST`` entry (``host[:port]``, a leading ``*.`` for
subdomains), parsed by :meth:`HostAllowlist.parse` so both settings follow one rule set.
A host gets the scope of the FIRST pattern it matches, and no other: a token for one
service's audience never goes to another service's host.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core.urls import HostAllowlist

__all__ = ["DataplaneHost", "DataplaneHosts", "DEFAULT_DATAPLANE_HOSTS"]

DEFAULT_DATAPLANE_HOSTS = "*.devcenter.azure.com=https://devcenter.azure.com/.default"


@dataclass(frozen=True)
class DataplaneHost:
    """One ``pattern=scope`` entry."""

    pattern: str
    hosts: HostAllowlist
    scope: str


@dataclass(frozen=True)
class DataplaneHosts:
    """The parsed setting, in the order written."""

    entries: tuple[DataplaneHost, ...]

    @classmethod
    def parse(cls, text: str) -> DataplaneHosts:
        """Raises ValueError with a sentence naming the bad entry."""
        entries = []
        for raw in text.split(";"):
            item = raw.strip()
            if not item:
                continue
            pattern, sep, scope = (part.strip() for part in item.partition("="))
            if not sep or not pattern or not scope:
                raise ValueError(f"entry {item!r} is not pattern=scope")
            if "," in pattern:
                raise ValueError(f"entry {item!r} has more than one host pattern; write one pattern=scope entry per host")
            hosts = HostAllowlist.parse(pattern)  # ValueError names the pattern
            if not hosts.entries:
                raise ValueError(f"entry {item!r} has no host pattern")
            if not scope.endswith("/.default") or any(c.isspace() for c in scope) or "://" not in scope:
                raise ValueError(f"entry {item!r} has scope {scope!r}; a scope is an absolute URI ending in '/.default'")
            entries.append(DataplaneHost(pattern.lower(), hosts, scope))
        if not entries:  # set, but only separators and spaces: a typo, not "no data-plane host"
            raise ValueError(f"names no data-plane host ({text!r}); leave it unset for its default, or give pattern=scope entries")
        return cls(tuple(entries))

    @property
    def allowlist(self) -> HostAllowlist:
        """Every pattern as one allowlist (the host check of contract section 4)."""
        return HostAllowlist(tuple(entry for item in self.entries for entry in item.hosts.entries), "DATAPLANE_HOSTS")

    def scope_for(self, host: str, port: int) -> str | None:
        """The scope of the first pattern ``host:port`` matches, or None."""
        return next((item.scope for item in self.entries if item.hosts.allows(host, port)), None)
