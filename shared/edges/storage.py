"""Queue storage clients: one ``QueueServiceClient`` per process, from a :class:`StorageConnection`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.core.errors import SettingsError
from shared.core.storage_connection import CONNECTION_SETTING, StorageConnection
from shared.edges.credentials import credential_for, storage_identity

if TYPE_CHECKING:  # pragma: no cover - typing only
    from azure.storage.queue import QueueServiceClient

    from shared.edges.tokens import TokenCredentialLike

__all__ = ["queue_service_client"]


def queue_service_client(connection: StorageConnection, credential: TokenCredentialLike | None = None) -> QueueServiceClient:
    """Build the one QueueServiceClient of a process.

    Messages are raw UTF-8 text (no base64): that is what host.json's
    ``messageEncoding: none`` tells the trigger to read, and the SDK's default.
    ``credential`` is used for identity-based connections; when it is ``None``, the one
    :func:`shared.edges.credentials.credential_for` the connection's identity names.
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
    identity = storage_identity(connection)
    assert connection.queue_service_uri is not None and identity is not None  # one of the two is set
    if credential is None:
        credential = credential_for(identity)
    try:
        return QueueServiceClient(account_url=connection.queue_service_uri, credential=credential, retry_policy=retry)
    except ValueError as error:  # the SDK's "Token credential is only supported with HTTPS." (an http Azurite URL)
        raise SettingsError(
            f"{CONNECTION_SETTING}__queueServiceUri",
            f"{connection.queue_service_uri!r} cannot be used with a token ({error}): identity-based access needs "
            "https; for Azurite (http) set AzureWebJobsStorage to a connection string instead "
            "('UseDevelopmentStorage=true', or the one `make stack` writes)",
        ) from None
