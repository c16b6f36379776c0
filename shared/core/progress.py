"""Progress events (``PUBLISH_PROGRESS``, contract §3): what a read shows while the operation runs.

Pure: :func:`progress_data` decides whether a read deserves an event (its ``status`` or
``percentComplete`` changed since the previous read) and builds the event's ``data`` and id
(:func:`shared.core.result.progress_event_id`); :func:`shared.core.cloud_events.progress_event`
wraps it in the envelope every event shares. Published to Event Grid only, best effort
(``shared.watcher``); the results queue keeps one message per outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.poll_state import PollState, WatchedRequest, rfc3339
from shared.core.result import progress_event_id
from shared.core.schedule import Progress

__all__ = ["ProgressUpdate", "progress_data"]


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress event to publish: its CloudEvent ``id`` and ``data``."""

    event_id: str
    data: dict[str, Any]


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
    return ProgressUpdate(progress_event_id(request, after.polls), {
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
