"""Which Entra credential a process uses: one rule, for the app's tokens and for identity-based queue storage.

An :class:`Identity` says which identity to be (a user-assigned client id, or None) and whether
to ask the platform's managed identity endpoint directly. The app reads it from azure-identity's
own settings (``AZURE_CLIENT_ID``; ``IDENTITY_ENDPOINT``/``MSI_ENDPOINT``, set where the
platform provides a managed identity); queue storage from ``AzureWebJobsStorage__credential``
and ``__clientId``, as the Functions host does. :func:`credential_for` turns either into the
credential, and is the only code here that imports azure-identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.core.storage_connection import StorageConnection

if TYPE_CHECKING:  # pragma: no cover - typing only
    from azure.core.credentials import TokenCredential

__all__ = ["Identity", "app_identity", "storage_identity", "credential_for", "app_credential"]


@dataclass(frozen=True)
class Identity:
    """Which identity to be: ``client_id`` of a user-assigned one (None: the default), ``managed``: the platform's endpoint."""

    client_id: str | None
    managed: bool


def app_identity(environ: Mapping[str, str]) -> Identity:
    """The app's identity: ``AZURE_CLIENT_ID``; managed where the platform sets IDENTITY_ENDPOINT or MSI_ENDPOINT."""
    client_id = (environ.get("AZURE_CLIENT_ID") or "").strip() or None
    return Identity(client_id, bool(environ.get("IDENTITY_ENDPOINT") or environ.get("MSI_ENDPOINT")))


def storage_identity(connection: StorageConnection) -> Identity | None:
    """The identity of an identity-based ``AzureWebJobsStorage``; None for a connection string (it holds a key)."""
    if connection.connection_string:
        return None
    return Identity(connection.client_id, connection.use_managed_identity)


def credential_for(identity: Identity, *, timeout_seconds: float = 30.0) -> TokenCredential:
    """ManagedIdentityCredential when ``identity.managed``, else DefaultAzureCredential (developer sign-ins too).

    The token request gets ``timeout_seconds`` (``STATUS_READ_TIMEOUT_SECONDS``) through azure-core's
    transport options: connect and per-read timeouts capped by it, and the retry policy's ``timeout``
    (its budget for all tries) set to it. azure-core's requests transport has no deadline on a whole
    answer, so a token endpoint dripping its answer is bounded per read, not as a whole.
    """
    connect, read = min(5.0, timeout_seconds), min(10.0, timeout_seconds)
    if identity.managed:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(
            client_id=identity.client_id, connection_timeout=connect, read_timeout=read, timeout=timeout_seconds,
        )
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(
        managed_identity_client_id=identity.client_id, connection_timeout=connect, read_timeout=read, timeout=timeout_seconds,
        process_timeout=timeout_seconds,  # az login's CLI and the other developer tools: a whole deadline
    )


def app_credential(environ: Mapping[str, str], *, timeout_seconds: float = 30.0) -> TokenCredential:
    """The app's credential: :func:`credential_for` of :func:`app_identity`."""
    return credential_for(app_identity(environ), timeout_seconds=timeout_seconds)
