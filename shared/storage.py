"""Queue storage connection: one place that turns ``AzureWebJobsStorage`` into clients.

The Functions host accepts two forms of the ``AzureWebJobsStorage`` connection and
so do we:

* a connection string (``AzureWebJobsStorage``), e.g. Azurite's devstoreaccount1;
* identity-based settings (``AzureWebJobsStorage__queueServiceUri`` and optionally
  ``AzureWebJobsStorage__credential`` = ``managedidentity`` and
  ``AzureWebJobsStorage__clientId``), the keyless form used in Azure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import SettingsError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from azure.storage.queue import QueueServiceClient

__all__ = ["StorageConnection", "storage_connection_from_environ", "queue_service_client"]

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


def queue_service_client(connection: StorageConnection, credential: Any | None = None) -> QueueServiceClient:
    """Build the one QueueServiceClient of a process.

    Messages are raw UTF-8 text (no base64): that is what host.json's
    ``messageEncoding: none`` tells the trigger to read, and the SDK's default.
    ``credential`` is used for identity-based connections; when it is ``None`` a
    managed identity / DefaultAzureCredential is built here.
    """
    from azure.storage.queue import ExponentialRetry, QueueServiceClient

    # The SDK's default back-off starts at 15 s; an invocation stalled that long holds its message
    # past the host's lease. Short retries here; the host's redelivery covers a longer outage.
    retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3)
    if connection.connection_string:
        return QueueServiceClient.from_connection_string(connection.connection_string, retry_policy=retry)
    if credential is None:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if connection.use_managed_identity:
            credential = ManagedIdentityCredential(client_id=connection.client_id)
        else:
            credential = DefaultAzureCredential(managed_identity_client_id=connection.client_id)
    return QueueServiceClient(account_url=connection.queue_service_uri, credential=credential, retry_policy=retry)
