"""One queue message, start to end: parse, read the status, decide, act.

Every message ends in exactly one of: re-enqueued for its next poll, an outcome
published to the sinks, or a poison entry with a reason. If acting fails (a
queue or sink is down) the exception propagates, the host retries the message,
and the status is read again: the decision is the same, and so is the eventId.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.core import jsonio
from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.message_text import decode_message_text
from shared.core.poll_state import WatchedRequest, rfc3339
from shared.core.request_parser import RequestParser
from shared.core.settings import Settings
from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES
from shared.edges.queues import QueueGateway
from shared.edges.sinks import Publisher
from shared.edges.status_client import StatusClient

__all__ = ["Watcher", "Handled", "utc_now", "operation_fields", "LOG_FIELDS"]

log = logging.getLogger("lro_watcher")
#: A re-enqueued copy lives this long past its deadline, so a backlog cannot expire it.
TTL_MARGIN_SECONDS = 7 * 24 * 3600


def utc_now() -> datetime:
    return datetime.now(UTC)


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


def _text(fields: dict[str, Any]) -> str:
    """``[source=apim operationId=op-1 ...]``: the fields in the line itself, '-' where not known."""
    return "[" + " ".join(f"{name}={_one_line(fields[name])}" for name in LOG_FIELDS) + "]"


def _one_line(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if text.isprintable() else jsonio.dumps(text)[1:-1]  # no forged log lines from a correlationId


@dataclass(frozen=True)
class Handled:
    """What happened to one message (for callers and tests)."""

    action: str  # "reenqueued", "published" or "poisoned"
    outcome: str | None = None
    delay_seconds: int | None = None


class Watcher:
    """Handles request messages; built once per process by :mod:`shared.runtime`."""

    def __init__(
        self,
        settings: Settings,
        status: StatusClient,
        queues: QueueGateway,
        publisher: Publisher,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self._parser = RequestParser(settings)
        self._status = status
        self._queues = queues
        self._publisher = publisher
        self._clock = clock

    def handle(self, raw: str | bytes, dequeue_count: int = 1, *, message_id: str | None = None) -> Handled:
        now = self._clock()
        try:
            request = self._parser.parse(raw, now)
        except InvalidRequest as err:
            self._poison(raw, err, now, operation_fields(None, message_id=message_id, dequeue_count=dequeue_count, raw=raw))
            return Handled("poisoned")
        fields = operation_fields(request, message_id=message_id, dequeue_count=dequeue_count)
        read = self._status.read(request.status_url, request.scope)
        decision = decide(request, read, self._clock(), self.settings)
        if isinstance(decision, Reenqueue):
            ttl = int((request.deadline - now).total_seconds()) + decision.delay_seconds + TTL_MARGIN_SECONDS
            with self._logged_failure("re-enqueue", fields):
                self._queues.reenqueue(request.message_text(decision.poll), decision.delay_seconds, ttl)
            log.info(
                "poll: status=%s http=%s -> again in %ss (%s) %s",
                decision.status, read.http_status, decision.delay_seconds, decision.why, _text(fields), extra=fields,
            )
            return Handled("reenqueued", delay_seconds=decision.delay_seconds)
        assert isinstance(decision, Publish)
        fields["eventId"] = decision.result["eventId"]
        with self._logged_failure("publish", fields):
            self._publisher.publish(decision.result)
        log.info(
            "poll: status=%s http=%s -> %s (%s polls) %s",
            decision.result["status"], read.http_status, decision.outcome, decision.result["polls"], _text(fields),
            extra=fields,
        )
        return Handled("published", outcome=decision.outcome)

    @contextmanager
    def _logged_failure(self, action: str, fields: dict[str, Any]) -> Iterator[None]:
        """A failed write names the operation before the exception goes to the host (which retries the message)."""
        try:
            yield
        except Exception as error:
            log.error("%s failed, the message will be retried: %s: %s %s", action, type(error).__name__,
                      str(error).split("\n", 1)[0][:300], _text(fields), extra=fields)
            raise

    def _poison(self, raw: str | bytes, err: InvalidRequest, now: datetime, fields: dict[str, Any]) -> None:
        original = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        entry = jsonio.dumps({"reason": err.reason, "original": original, "rejectedAt": rfc3339(now)})
        if len(entry.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES:
            entry = original  # too big to wrap: keep the message itself, as the host's own poisoning does
        with self._logged_failure("poison", fields):
            self._queues.poison(entry)
        log.warning("rejected request (field %s): %s %s", err.field, err.reason, _text(fields), extra=fields)
