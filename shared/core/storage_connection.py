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
from shared.core.hosts import is_loopback_url

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
        if not _https_or_loopback(_queue_endpoint(connection_string)):
            raise SettingsError(prefix, "has a queue endpoint that is not https (http is allowed only for a loopback emulator)")
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
    if not _https_or_loopback(service_uri):
        raise SettingsError(f"{prefix}__queueServiceUri", "must be an https:// URL (http is allowed only for a loopback emulator)")
    credential_kind = (environ.get(f"{prefix}__credential") or "").strip().lower()
    if credential_kind not in ("", "managedidentity"):
        raise SettingsError(f"{prefix}__credential", "must be 'managedidentity' or unset")
    return StorageConnection(
        queue_service_uri=service_uri.rstrip("/"),
        client_id=(environ.get(f"{prefix}__clientId") or "").strip() or None,
        use_managed_identity=credential_kind == "managedidentity",
    )


def _https_or_loopback(uri: str | None) -> bool:
    """https, or http to a loopback host by the one rule of :func:`shared.core.hosts.is_loopback_url`."""
    if uri is None or uri.lower().startswith("https://"):
        return True
    return uri.lower().startswith("http://") and is_loopback_url(uri)


def _queue_endpoint(connection_string: str) -> str | None:
    """The queue URL a connection string names the way azure-storage-queue reads it, or None (the SDK's defaults).

    ``QueueEndpoint``, else ``{DefaultEndpointsProtocol}://{AccountName}.queue.{EndpointSuffix}``;
    keys in any case. A malformed string is left to the SDK, whose error names it.
    """
    pairs = [item.split("=", 1) for item in connection_string.rstrip(";").split(";")]
    if any(len(pair) != 2 for pair in pairs):
        return None
    values = {key.strip().upper(): value.strip() for key, value in pairs}
    if values.get("USEDEVELOPMENTSTORAGE") == "true":
        return None  # Azurite's fixed http://127.0.0.1:10001
    if "QUEUEENDPOINT" in values:
        return values["QUEUEENDPOINT"]
    protocol = values.get("DEFAULTENDPOINTSPROTOCOL")
    if protocol and "ACCOUNTNAME" in values and "ENDPOINTSUFFIX" in values:
        return f"{protocol}://{values['ACCOUNTNAME']}.queue.{values['ENDPOINTSUFFIX']}"
    return None
