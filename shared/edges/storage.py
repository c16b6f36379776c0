"""Queue storage clients: one ``QueueServiceClient`` per process, from a :class:`StorageConnection`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.core.errors import SettingsError
from shared.core.storage_connection import CONNECTION_SETTING, StorageConnection, storage_connection_from_environ

if TYPE_CHECKING:  # pragma: no cover - typing only
    from azure.storage.queue import QueueServiceClient

__all__ = ["queue_service_client", "StorageConnection", "storage_connection_from_environ", "CONNECTION_SETTING"]


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
        try:
            return QueueServiceClient.from_connection_string(connection.connection_string, retry_policy=retry)
        except ValueError as error:  # the SDK's "Connection string is either blank or malformed."
            raise SettingsError(
                CONNECTION_SETTING,
                f"is not a storage connection string ({error}); expected 'UseDevelopmentStorage=true' or "
                "'DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;...'",
            ) from None
    assert connection.queue_service_uri is not None  # storage_connection_from_environ sets one of the two
    if credential is None:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if connection.use_managed_identity:
            credential = ManagedIdentityCredential(client_id=connection.client_id)
        else:
            credential = DefaultAzureCredential(managed_identity_client_id=connection.client_id)
    try:
        return QueueServiceClient(account_url=connection.queue_service_uri, credential=credential, retry_policy=retry)
    except ValueError as error:  # the SDK's "Token credential is only supported with HTTPS." (an http Azurite URL)
        raise SettingsError(
            f"{CONNECTION_SETTING}__queueServiceUri",
            f"{connection.queue_service_uri!r} cannot be used with a token ({error}): identity-based access needs "
            "https; for Azurite (http) set AzureWebJobsStorage to a connection string instead "
            "('UseDevelopmentStorage=true', or the one `make stack` writes)",
        ) from None
