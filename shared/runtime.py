"""The process's one Watcher, built from the environment on first use.

Heavy clients (azure-identity, azure-storage-queue) are imported and built
here, lazily and once, so importing ``function_app`` stays cheap (cold start) and
every message reuses the same credential, HTTP connection pool and queue clients.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from shared.core.settings import Settings, load_settings

__all__ = ["check_settings", "get_watcher", "get_front_door", "build_watcher", "build_credential", "reset"]

_lock = threading.Lock()
_watcher: Any = None
_front_door: Any = None


def check_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate every setting now (start-up); raises SettingsError naming the bad one. Then set up logging."""
    settings = load_settings(os.environ if environ is None else environ)
    if settings.needs_eventgrid:
        from shared.edges import eventgrid

        eventgrid.check_settings(settings)  # the topic endpoint obeys the status URLs' token rules
    _configure_logging(settings)
    return settings


def _configure_logging(settings: Settings) -> None:
    """Redacted log lines, libraries at WARNING unless LOG_LEVEL says otherwise (:mod:`shared.edges.logs`)."""
    from shared.edges.logs import configure_logging
    from shared.edges.secrets import PROCESS_SECRETS

    configure_logging(settings.log_level, PROCESS_SECRETS)


def build_credential(environ: Mapping[str, str], *, read_timeout_seconds: float = 30.0) -> Any:
    """Managed identity where the platform provides one (IDENTITY_ENDPOINT), else DefaultAzureCredential.

    The token request gets ``STATUS_READ_TIMEOUT_SECONDS`` through azure-core's transport options:
    connect and per-read timeouts capped by it, and the retry policy's ``timeout`` (its budget for
    all tries) set to it. azure-core's requests transport has no deadline on a whole answer, so a
    token endpoint dripping its answer is bounded per read, not as a whole.
    """
    client_id = (environ.get("AZURE_CLIENT_ID") or "").strip() or None
    connect, read = min(5.0, read_timeout_seconds), min(10.0, read_timeout_seconds)
    if environ.get("IDENTITY_ENDPOINT") or environ.get("MSI_ENDPOINT"):
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(
            client_id=client_id, connection_timeout=connect, read_timeout=read, timeout=read_timeout_seconds,
        )
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(
        managed_identity_client_id=client_id, connection_timeout=connect, read_timeout=read, timeout=read_timeout_seconds,
        process_timeout=read_timeout_seconds,  # az login's CLI and the other developer tools: a whole deadline
    )


def build_watcher(
    environ: Mapping[str, str] | None = None, *, credential: Any = None, http: Any = None, metrics: Any = None,
) -> Any:
    """Compose a Watcher from settings; ``credential``, ``http`` and ``metrics`` are seams for tests.

    Metrics: :func:`shared.edges.telemetry.metrics_from_environ` (Azure Monitor only with
    ``APPLICATIONINSIGHTS_CONNECTION_STRING``; nothing is imported otherwise).
    """
    from shared.edges.azure_devops import AzureDevOpsClient
    from shared.edges.http import HttpxTransport
    from shared.edges.queues import QueueGateway
    from shared.edges.sinks import Publisher, QueueSink
    from shared.edges.status_client import StatusClient
    from shared.edges.storage import queue_service_client
    from shared.edges.telemetry import metrics_from_environ
    from shared.edges.tokens import TokenCache
    from shared.watcher import Watcher

    env = os.environ if environ is None else environ
    settings = load_settings(env)
    _configure_logging(settings)
    deadline = settings.status_read_timeout_seconds
    credential = credential if credential is not None else build_credential(env, read_timeout_seconds=deadline)
    assert settings.storage is not None
    storage_credential = credential if settings.storage.queue_service_uri else None
    queues = QueueGateway(queue_service_client(settings.storage, storage_credential), settings)
    tokens = TokenCache(credential)
    http = http if http is not None else HttpxTransport(deadline_seconds=deadline)  # one pool: status, Event Grid, callbacks
    sinks: list[Any] = []
    if settings.publishes_to_queue:
        sinks.append(QueueSink(queues))
    eventgrid = None
    if settings.needs_eventgrid:
        from shared.edges.eventgrid import EventGridSink

        eventgrid = EventGridSink(settings, tokens, http)
    if settings.publishes_to_eventgrid:
        sinks.append(eventgrid)
    status = StatusClient(tokens, http)
    return Watcher(
        settings, status, queues, Publisher(sinks),
        progress=eventgrid if settings.publish_progress else None,
        callbacks=AzureDevOpsClient(http),  # Azure Pipelines' plan endpoints, through the same pool
        metrics=metrics if metrics is not None else metrics_from_environ(env),  # no exporter without App Insights
    )


def get_watcher() -> Any:
    global _watcher
    if _watcher is None:
        with _lock:
            if _watcher is None:
                _watcher = build_watcher()
    return _watcher


def get_front_door() -> Any:
    """The ``watch`` HTTP function's FrontDoor, enqueueing through the Watcher's own queue clients."""
    global _front_door
    if _front_door is None:
        watcher = get_watcher()
        with _lock:
            if _front_door is None:
                from shared.http_front import FrontDoor

                _front_door = FrontDoor(watcher.settings, watcher.queues)
    return _front_door


def reset() -> None:
    """Forget the process's Watcher and FrontDoor (tests that change the environment)."""
    global _watcher, _front_door
    with _lock:
        _watcher = None
        _front_door = None
