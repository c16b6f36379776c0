"""The result object (contract §3), its deterministic ``eventId`` and the progress events' ids (one rule for both)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from shared.core.poll_state import PollState, WatchedRequest, rfc3339
from shared.core.sources import Source

if TYPE_CHECKING:  # pragma: no cover - typing only: the model imports pydantic, the hot path does not
    from shared.core.result_model import Result, ResultError

__all__ = [
    "OUTCOMES", "EVENT_ID_NAMESPACE", "operation_key", "request_key", "event_id", "event_id_for", "progress_event_id", "build_result",
]

OUTCOMES = ("Succeeded", "Failed", "Canceled", "TimedOut", "PollingFailed")
#: Namespace of every eventId (uuid5), fixed forever so ids stay stable across versions.
EVENT_ID_NAMESPACE = uuid.UUID("8a3c1f0e-6a57-4f43-9d7e-3b1f3c0b7d21")


def operation_key(source: Source, url: str, watch: str | None = None) -> str:
    """What names one operation in every id the watcher derives (eventId, progress ids): one rule.

    ``source|url`` with the query dropped (an api-version or ``monitor=true`` in any order, a moved
    Location's own query) and a trailing ``/`` dropped; for ARM (case-insensitive paths, contract
    section 2b) the path lower-cased too. ``watch`` tells apart watches of one resource.
    """
    path = url.split("?", 1)[0].rstrip("/")
    if source.audience == "arm":
        path = path.lower()
    key = f"{source.name}|{path}"
    return key if watch is None else f"{key}|{watch}"


def request_key(request: WatchedRequest) -> str:
    """:func:`operation_key` of a request: the producer's status URL (however often it moved).

    A resource is watched many times (every redeploy of a deployment named 'main', a create and
    then a delete): what it waits for and the producer's correlationId tell those watches apart.
    """
    resource = request.resource
    watch = None if resource is None else f"{resource.wait_for}|{request.correlation_id or ''}"
    return operation_key(request.source, request.operation_url, watch)


def event_id(request: WatchedRequest, outcome: str) -> str:
    """Same operation + same outcome -> same id, whichever copy of the request decided it."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{request_key(request)}|{outcome}"))


def event_id_for(source: Source, url: str, outcome: str, watch: str | None = None) -> str:
    """:func:`event_id` from a result's own fields (``source``, the producer's ``statusUrl``): for checkers such as the soak's judge."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{operation_key(source, url, watch)}|{outcome}"))


def progress_event_id(request: WatchedRequest, polls: int) -> str:
    """Same operation + same poll -> same id: a re-delivered message republishes the same progress event."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{request_key(request)}|progress|{polls}"))


def _field(body: Any, name: str, kinds: tuple[type, ...]) -> Any:
    if not isinstance(body, dict):
        return None
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return None
    return value


def build_result(
    request: WatchedRequest,
    outcome: str,
    poll: PollState,
    now: datetime,
    *,
    body: dict[str, Any] | None,
    error: Mapping[str, Any] | None,
    status_in_body: bool = True,
) -> Result:
    """The result published for ``request``; ``body`` is the last status body, if the last read returned one.

    ``status_in_body`` is False for a Location read, whose body is the action's result, not a status
    body: its ``status``, ``percentComplete``, ``startTime`` and ``endTime`` are not the operation's.
    """
    if request.resource is not None and body is None:  # a watched resource always shows which (never its body)
        body = request.resource.projection(poll.last_status)
    status_body = body if status_in_body else None
    status = _field(status_body, "status", (str,))
    return {
        "eventId": event_id(request, outcome),
        "outcome": outcome,
        "status": status if status is not None else poll.last_status,
        "source": request.source.name,
        "operationId": request.operation_id,
        "statusUrl": request.poll_url,
        "correlationId": request.correlation_id,
        "context": request.context,
        "percentComplete": _field(status_body, "percentComplete", (int, float)),
        "startTime": _field(status_body, "startTime", (str,)),
        "endTime": _field(status_body, "endTime", (str,)),
        "error": cast("ResultError | None", error),  # normalised by shared.core.provider_errors or the watcher's own
        "operation": body,
        "polls": poll.polls,
        "enqueuedAt": rfc3339(poll.first_seen_at),
        "completedAt": rfc3339(now),
    }
