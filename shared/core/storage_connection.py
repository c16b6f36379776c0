"""Queue storage connection settings: where ``AzureWebJobsStorage`` points and how to authenticate (pure).

The clients are built from a :class:`StorageConnection` by :mod:`shared.edges.storage`.

The Functions host accepts two forms of the ``AzureWebJobsStorage`` connection and
so do we:

* a connection string (``AzureWebJobsStorage``), e.g. Azurite's devstoreaccount1;
* identity-based settings (``AzureWebJobsStorage__queueServiceUri`` and optionally
  ``AzureWebJobsStorage__credential`` = ``managedidentity`` and
  ``AzureWebJobsStorage__clientId``), the keyless form used in Azure.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.core.errors import SettingsError

__all__ = ["StorageConnection", "storage_connection_from_environ", "CONNECTION_SETTING"]

CONNECTION_SETTING = "AzureWebJobsStorage"


class StorageConnection:
    """Where queue storage is and how to authenticate to it (no clients built yet)."""

    __slots__ = ("connection_string", "queue_service_uri", "client_id", "use_managed_identity")

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        queue_service_uri: str | None = None,
        client_id: str | None = None,
        use_managed_identity: bool = False,
    ) -> None:
        self.connection_string = connection_string
        self.queue_service_uri = queue_service_uri
        self.client_id = client_id
        self.use_managed_identity = use_managed_identity

    def __repr__(self) -> str:  # never print the account key
        where = self.queue_service_uri or "connection string"
        return f"StorageConnection({where})"


def storage_connection_from_environ(environ: Mapping[str, str], prefix: str = CONNECTION_SETTING) -> StorageConnection:
    """Read the connection the way the Functions host does; the error names the setting."""
    connection_string = (environ.get(prefix) or "").strip()
    if connection_string:
        return StorageConnection(connection_string=connection_string)
    service_uri = (environ.get(f"{prefix}__queueServiceUri") or "").strip()
    if not service_uri:
        account = (environ.get(f"{prefix}__accountName") or "").strip()
        if account:
            service_uri = f"https://{account}.queue.core.windows.net"
    if not service_uri:
        raise SettingsError(
            prefix,
            f"set {prefix} to a storage connection string, or {prefix}__queueServiceUri "
            f"(with {prefix}__credential=managedidentity) for identity-based access",
        )
    if not service_uri.lower().startswith("https://") and not _is_loopback_uri(service_uri):
        raise SettingsError(f"{prefix}__queueServiceUri", "must be an https:// URL")
    credential_kind = (environ.get(f"{prefix}__credential") or "").strip().lower()
    if credential_kind not in ("", "managedidentity"):
        raise SettingsError(f"{prefix}__credential", "must be 'managedidentity' or unset")
    return StorageConnection(
        queue_service_uri=service_uri.rstrip("/"),
        client_id=(environ.get(f"{prefix}__clientId") or "").strip() or None,
        use_managed_identity=credential_kind == "managedidentity",
    )


def _is_loopback_uri(uri: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(uri).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
