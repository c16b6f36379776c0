"""The fields that name an operation in every log line about its message (text and ``extra=``).

Application Insights (or any handler) can filter on the record attributes; the same values
close the text of the line, so a plain log shows them too. A value is written on one line, and
quoted when it could be misread, so a correlationId cannot forge log lines or fields.
"""

from __future__ import annotations

import json
from typing import Any

from shared.core.errors import InvalidRequest
from shared.core.message_text import decode_message_text
from shared.core.poll_state import WatchedRequest

__all__ = ["LOG_FIELDS", "operation_fields", "fields_text"]


#: Characters that would let a value end early or look like another field in the text of a line.
_AMBIGUOUS = frozenset(' []="\\\'')

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
    """``[source=apim operationId=op-1 ...]``: the fields in the line itself, '-' where not known.

    A value that could be read as more than one value (a space, ``[``, ``]``, ``=``, a quote, a
    backslash, anything unprintable, or ``-`` itself) is written as a JSON string with ``=``
    escaped (``\\u003d``): ``correlationId="x] operationId\\u003dVICTIM"`` names no other field,
    not even to a grep. The ``extra=`` record attributes keep the raw values.
    """
    return "[" + " ".join(f"{name}={_one_value(fields[name])}" for name in LOG_FIELDS) + "]"


def _one_value(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    if text and text != "-" and text.isprintable() and not _AMBIGUOUS.intersection(text):
        return text
    return json.dumps(text, ensure_ascii=True).replace("=", "\\u003d")  # ASCII: no look-alikes, no lone surrogates
