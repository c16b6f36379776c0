"""The process's one Watcher and FrontDoor, built from the environment on first use.

Heavy clients (azure-identity, azure-storage-queue, httpx) are imported and built here,
lazily and once, so importing ``function_app`` stays cheap (cold start) and every message
reuses the same settings, credential, HTTP connection pool and queue clients. This module
and the tools are where the environment is read: the core takes a mapping.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.core.settings import Settings, load_settings

if TYPE_CHECKING:  # pragma: no cover - typing only: the modules are imported on first use
    from shared.edges.http import HttpTransport
    from shared.edges.sinks import Sink
    from shared.edges.telemetry import WatcherMetrics
    from shared.edges.tokens import TokenCredentialLike
    from shared.http_front import FrontDoor
    from shared.watcher import Watcher

__all__ = ["check_settings", "get_watcher", "get_front_door", "build_watcher", "reset"]

_lock = threading.Lock()
_settings: Settings | None = None  # the process's settings, validated once (check_settings or the first message)
_watcher: Watcher | None = None
_front_door: FrontDoor | None = None


def check_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate every setting now (start-up); raises SettingsError naming the bad one.

    Without ``environ`` it reads the process's environment, once: later calls and
    :func:`get_watcher` reuse what it validated.
    """
    global _settings
    if environ is None and _settings is not None:
        return _settings
    settings = load_settings(os.environ if environ is None else environ)
    if settings.needs_eventgrid:
        from shared.edges import eventgrid

        eventgrid.check_settings(settings)  # the topic endpoint obeys the status URLs' token rules
    _configure_logging(settings)
    if environ is None:
        _settings = settings
    return settings


def _configure_logging(settings: Settings) -> None:
    """Redacted log lines, libraries at WARNING unless LOG_LEVEL says otherwise (:mod:`shared.edges.logs`)."""
    from shared.edges.logs import configure_logging
    from shared.edges.secrets import PROCESS_SECRETS

    configure_logging(settings.log_level, PROCESS_SECRETS)


def build_watcher(
    environ: Mapping[str, str] | None = None,
    *,
    credential: TokenCredentialLike | None = None,
    http: HttpTransport | None = None,
    metrics: WatcherMetrics | None = None,
) -> Watcher:
    """Compose a Watcher from the settings; ``credential`` (for tokens and queues), ``http`` and ``metrics`` are seams for tests.

    Credentials: :mod:`shared.edges.credentials` (the app's identity; identity-based queue storage
    shares that credential when it names the same identity). Metrics:
    :func:`shared.edges.telemetry.metrics_from_environ` (Azure Monitor only with
    ``APPLICATIONINSIGHTS_CONNECTION_STRING``; nothing is imported otherwise).
    """
    from shared.edges.azure_devops import AzureDevOpsClient
    from shared.edges.credentials import app_identity, credential_for, storage_identity
    from shared.edges.http import HttpxTransport
    from shared.edges.queues import QueueGateway
    from shared.edges.sinks import Publisher, QueueSink
    from shared.edges.status_client import StatusClient
    from shared.edges.storage import queue_service_client
    from shared.edges.telemetry import metrics_from_environ
    from shared.edges.tokens import TokenCache
    from shared.watcher import Watcher

    env = os.environ if environ is None else environ
    settings = check_settings(environ)
    deadline = settings.status_read_timeout_seconds
    assert settings.storage is not None  # load_settings requires it by default
    identity = app_identity(env)
    app = credential if credential is not None else credential_for(identity, timeout_seconds=deadline)
    storage = storage_identity(settings.storage)  # None: a connection string (it holds a key)
    queue_credential = (
        None if storage is None
        else app if credential is not None or storage == identity
        else credential_for(storage, timeout_seconds=deadline)
    )
    queues = QueueGateway(queue_service_client(settings.storage, queue_credential), settings)
    tokens = TokenCache(app)
    http = http if http is not None else HttpxTransport(deadline_seconds=deadline)  # one pool: status, Event Grid, callbacks
    sinks: list[Sink] = []
    if settings.publishes_to_queue:
        sinks.append(QueueSink(queues))
    eventgrid = None
    if settings.needs_eventgrid:
        from shared.edges.eventgrid import EventGridSink

        eventgrid = EventGridSink(settings, tokens, http)
        if settings.publishes_to_eventgrid:
            sinks.append(eventgrid)
    return Watcher(
        settings, StatusClient(tokens, http), queues, Publisher(sinks),
        progress=eventgrid if settings.publish_progress else None,
        callbacks=AzureDevOpsClient(http),  # Azure Pipelines' plan endpoints, through the same pool
        metrics=metrics if metrics is not None else metrics_from_environ(env),  # no exporter without App Insights
    )


def get_watcher() -> Watcher:
    """The process's Watcher (built on the first message, from the settings :func:`check_settings` validated)."""
    global _watcher
    if _watcher is None:
        with _lock:
            if _watcher is None:
                _watcher = build_watcher()
    return _watcher


def get_front_door() -> FrontDoor:
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
    """Forget the process's settings, Watcher and FrontDoor (tests that change the environment)."""
    global _settings, _watcher, _front_door
    with _lock:
        _settings = None
        _watcher = None
        _front_door = None
