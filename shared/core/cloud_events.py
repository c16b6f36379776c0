"""The CloudEvents 1.0 envelope (contract section 3) of every event the watcher publishes: outcomes and progress.

One envelope for both: ``id`` (the eventId, or a progress event's id: :mod:`shared.core.result`
derives both from the same operation key), ``source`` = EVENT_SOURCE, ``type`` =
``LroWatcher.Operation.<outcome>`` or ``LroWatcher.Operation.Progress``, ``subject`` = the path
of ``statusUrl`` (no query), ``time`` = ``completedAt`` or ``observedAt``, ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["EVENT_TYPE_PREFIX", "PROGRESS_EVENT_TYPE", "outcome_event", "progress_event"]

EVENT_TYPE_PREFIX = "LroWatcher.Operation."
PROGRESS_EVENT_TYPE = EVENT_TYPE_PREFIX + "Progress"


def _envelope(event_id: str, event_type: str, time: str, status_url: str, source: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": urlsplit(status_url).path,
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    }


def outcome_event(result: Mapping[str, Any], source: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The envelope of ``result``; ``data`` replaces the result as payload (a trimmed copy of it)."""
    return _envelope(result["eventId"], EVENT_TYPE_PREFIX + result["outcome"], result["completedAt"], result["statusUrl"],
                     source, result if data is None else data)


def progress_event(event_id: str, data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The envelope of a progress event (:func:`shared.core.progress.progress_data` builds ``data``)."""
    return _envelope(event_id, PROGRESS_EVENT_TYPE, data["observedAt"], data["statusUrl"], source, data)
