"""Which hosts a status URL may name and which token scope it gets (contract section 4), for every source.

One place decides whether a URL may be polled and with which token scope: :meth:`StatusUrlRules.allowed`
and :meth:`~StatusUrlRules.scope` serve every source (templates, ``resourceId``, full URLs);
:meth:`~StatusUrlRules.check` reads a full status URL (``statusUrl``); :meth:`~StatusUrlRules.moved`
a URL the operation moved to (a 202's ``Location``, read by the decision core, or the same URL
carried back in ``poll.statusUrl``, read by the request parser). So a URL the watcher switches to
obeys exactly the rules of the URL it replaces, keeps its token scope, and a tampered message
cannot send a token anywhere a producer could not. :func:`shown_url` is how a URL appears in a
message: never its user information or query.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from shared.core.arm_paths import ArmPathError, operation_status_path
from shared.core.errors import InvalidRequest
from shared.core.settings import Settings
from shared.core.sources import Source
from shared.core.urls import HostAllowlist, checked_url, default_port

__all__ = ["StatusUrlRules", "with_api_version", "require_operation_path", "shown_url"]


class StatusUrlRules:
    """The token rules of contract section 4 over the settings' allowlists; built once per parser."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._arm_hosts = HostAllowlist.for_base_url(settings.arm_endpoint, "ARM_ENDPOINT")
        self._dataplane_hosts = settings.dataplane_hosts.allowlist

    def allowed(self, source: Source) -> HostAllowlist:
        """The hosts a token for ``source`` may go to."""
        if source.audience == "arm":
            return self._arm_hosts
        if source.audience == "dataplane":
            return self._dataplane_hosts
        return self._settings.status_host_allowlist

    def scope(self, source: Source, url: str) -> str:
        """The token scope for a URL that passed :meth:`check` (or the source's fixed scope)."""
        if source.audience == "arm":
            return self._settings.arm_scope
        if source.audience == "devcenter":
            return self._settings.devcenter_scope
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else default_port(parts.scheme)
        scope = self._settings.dataplane_hosts.scope_for((parts.hostname or "").lower(), port)
        assert scope is not None  # check() passed, so some pattern matches
        return scope

    def check(self, source: Source, url: object, *, field: str, api_version: str | None) -> tuple[str, str]:
        """``(canonical URL, token scope)`` for ``url``, or InvalidRequest naming ``field``."""
        allowed = self.allowed(source)
        base = checked_url(url, field=field, allowed=allowed)
        if source.audience == "arm":
            require_operation_path(base, field)
        canonical = checked_url(with_api_version(base, api_version, field), field=field, allowed=allowed, producer_supplied=False)
        return canonical, self.scope(source, canonical)

    def moved(self, source: Source, url: str, *, scope: str, field: str, api_version: str | None) -> str:
        """The canonical URL an operation moved to, or InvalidRequest naming ``field``.

        The URL obeys :meth:`check`, as the one it replaces did, and must get the same token
        ``scope``: a move never turns the operation's token into another service's.
        """
        canonical, moved_scope = self.check(source, url, field=field, api_version=api_version)
        if moved_scope != scope:
            raise InvalidRequest(
                field, f"Field '{field}' names host {shown_url(canonical, host_only=True)!r}, whose token scope differs "
                "from the operation's",
            )
        return canonical


def require_operation_path(url: str, field: str) -> None:
    """An ``arm`` statusUrl must name an async-operation resource, not any ARM resource (contract §2b).

    The path is read with ARM's grammar (:mod:`shared.core.arm_paths`): its last type must
    name an operation (``operations``, ``operationStatuses``, ``…OperationResults``,
    ``…AzureAsyncOperation``, …) followed by exactly one id. Without this, a producer could
    have the watcher read (and publish) any ARM resource its identity may read.
    """
    try:
        operation_status_path(urlsplit(url).path)
    except ArmPathError as err:
        raise InvalidRequest(
            field,
            f"Field '{field}' must be an ARM async-operation status URL (its path ending '.../operations/{{id}}', "
            f"'.../operationStatuses/{{id}}', '.../operationResults/{{id}}' or similar): {err}.",
        ) from None


def with_api_version(url: str, api_version: str | None, field: str) -> str:
    """``url`` with ``api_version`` as its api-version (or its own, which must then exist)."""
    head, _, query = url.partition("?")
    params = [part for part in query.split("&") if part]
    has_own = any(part.split("=", 1)[0].lower() == "api-version" for part in params)
    if api_version is None:
        if not has_own:
            raise InvalidRequest(field, f"Field '{field}' has no api-version query parameter; add one or set 'apiVersion'.")
        return url
    params = [part for part in params if part.split("=", 1)[0].lower() != "api-version"]
    params.append(f"api-version={quote(api_version, safe='')}")
    return f"{head}?{'&'.join(params)}"


def shown_url(value: str, *, host_only: bool = False) -> str:
    """``scheme://host[:port]/path`` of ``value`` (or ``host[:port]``) for a message: never user information or query."""
    try:
        parts = urlsplit(value.strip())
        host = (parts.hostname or "")[:200]
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(unparseable URL)"
    if host_only:
        return host + port
    shown = f"{parts.scheme}://{host}{port}{parts.path}" if host else parts.path
    return shown[:200]
