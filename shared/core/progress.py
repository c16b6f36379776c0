"""Progress events (``PUBLISH_PROGRESS``, contract §3): what a read shows while the operation runs.

Pure: :func:`progress_data` decides whether a read deserves an event (its ``status`` or
``percentComplete`` changed since the previous read) and builds the event's ``data``;
:func:`progress_event` wraps it in the CloudEvents 1.0 envelope. Published to Event Grid
only, best effort (``shared.watcher``); the results queue keeps one message per outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared.core.poll_state import PollState, WatchedRequest, rfc3339
from shared.core.result import EVENT_ID_NAMESPACE, request_key
from shared.core.schedule import Progress

__all__ = ["PROGRESS_EVENT_TYPE", "ProgressUpdate", "progress_id", "progress_data", "progress_event"]

PROGRESS_EVENT_TYPE = "LroWatcher.Operation.Progress"


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress event to publish: its CloudEvent ``id`` and ``data``."""

    event_id: str
    data: dict[str, Any]


def progress_id(request: WatchedRequest, polls: int) -> str:
    """The same (operation, poll) -> the same id: a re-delivered message republishes the same event.

    The operation is named as for its eventId (:func:`shared.core.result.request_key`).
    """
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{request_key(request)}|progress|{polls}"))


def progress_data(
    request: WatchedRequest,
    before: PollState,
    after: PollState,
    body: Mapping[str, Any] | None,
    progress: Progress,
    now: datetime,
    expected_end: datetime | None,
) -> ProgressUpdate | None:
    """The event when this read changed ``status`` or ``percentComplete``; None otherwise."""
    if after.last_status == before.last_status and after.last_percent_complete == before.last_percent_complete:
        return None
    start = body.get("startTime") if isinstance(body, Mapping) else None
    percent = body.get("percentComplete") if isinstance(body, Mapping) and progress.percent is not None else None
    return ProgressUpdate(progress_id(request, after.polls), {
        "source": request.source.name,
        "operationId": request.operation_id,
        "statusUrl": request.poll_url,
        "correlationId": request.correlation_id,
        "context": request.context,
        "status": after.last_status,
        "percentComplete": percent,  # as the provider sent it (progress.percent is the clamped float)
        "startTime": start if isinstance(start, str) else None,
        "polls": after.polls,
        "expectedEndAt": rfc3339(expected_end) if expected_end is not None else None,
        "observedAt": rfc3339(now),
    })


def progress_event(event_id: str, data: Mapping[str, Any], event_source: str) -> dict[str, Any]:
    """The CloudEvents 1.0 envelope of a progress event (``subject`` and ``source`` as for outcomes)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": event_source,
        "type": PROGRESS_EVENT_TYPE,
        "subject": urlsplit(data["statusUrl"]).path,
        "time": data["observedAt"],
        "datacontenttype": "application/json",
        "data": data,
    }
