"""The fields that name an operation in every log line about its message (text and ``extra=``).

Application Insights (or any handler) can filter on the record attributes; the same values
close the text of the line, so a plain log shows them too. A value is written on one line,
escaped when not printable, so a correlationId cannot forge log lines.
"""

from __future__ import annotations

from typing import Any

from shared.core import jsonio
from shared.core.errors import InvalidRequest
from shared.core.message_text import decode_message_text
from shared.core.poll_state import WatchedRequest

__all__ = ["LOG_FIELDS", "operation_fields", "fields_text"]


#: The fields every log line about a message carries, in its text and as ``extra=`` record attributes.
LOG_FIELDS = ("source", "operationId", "correlationId", "messageId", "dequeueCount", "eventId")


def operation_fields(
    request: WatchedRequest | None,
    *,
    message_id: str | None,
    dequeue_count: int,
    event_id: str | None = None,
    raw: str | bytes | None = None,
) -> dict[str, Any]:
    """The log fields of one message: which operation (from the request, or read from ``raw`` for a rejection)."""
    if request is not None:
        source: Any = request.source.name
        operation: Any = request.operation_id
        correlation: Any = request.correlation_id
    else:
        source, operation, correlation = _ids_of(raw)
    return {
        "source": source, "operationId": operation, "correlationId": correlation,
        "messageId": message_id, "dequeueCount": dequeue_count, "eventId": event_id,
    }


def _ids_of(raw: str | bytes | None) -> tuple[Any, Any, Any]:
    """source, operationId, correlationId of a message that failed validation, as far as they can be read."""
    try:
        body = decode_message_text(raw) if raw is not None else {}
    except InvalidRequest:
        return None, None, None
    shown = [value if isinstance(value, str) and value.isprintable() else None for value in
             (body.get("source"), body.get("operationId"), body.get("correlationId"))]
    return shown[0], shown[1][:128] if shown[1] else None, shown[2]


def fields_text(fields: dict[str, Any]) -> str:
    """``[source=apim operationId=op-1 ...]``: the fields in the line itself, '-' where not known."""
    return "[" + " ".join(f"{name}={_one_line(fields[name])}" for name in LOG_FIELDS) + "]"


def _one_line(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if text.isprintable() else jsonio.dumps(text)[1:-1]  # no forged log lines from a correlationId
