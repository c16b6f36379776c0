"""Where outcomes go: the results queue and/or Event Grid (``RESULT_SINK``).

Each sink makes the result fit its own size limit with :func:`shared.core.trimming.fit_result`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES, encode_json, fit_result

__all__ = ["Sink", "ResultQueue", "QueueSink", "Publisher", "log_trimmed"]

log = logging.getLogger("lro_watcher")


class Sink(Protocol):
    """One place outcomes go; ``name`` is RESULT_SINK's word for it."""

    name: str

    def publish(self, result: Mapping[str, Any]) -> None: ...


def log_trimmed(sink: str, result: Mapping[str, Any], max_bytes: int) -> None:
    """A warning naming the eventId and the steps, when :func:`fit_result` had to trim."""
    if "trimmed" in result:
        log.warning(
            "result %s trimmed for %s to fit %s bytes: %s",
            result.get("eventId"), sink, max_bytes, ", ".join(result["trimmed"]),
        )


class ResultQueue(Protocol):
    """The results queue (:meth:`shared.edges.queues.QueueGateway.publish_result`)."""

    def publish_result(self, text: str) -> None: ...


class QueueSink:
    """The ``operation-results`` queue: one raw UTF-8 JSON message per result."""

    name = "queue"

    def __init__(self, queues: ResultQueue, max_bytes: int = MAX_QUEUE_MESSAGE_BYTES) -> None:
        self._queues = queues
        self._max_bytes = max_bytes

    def publish(self, result: Mapping[str, Any]) -> None:
        fitted, body = fit_result(result, encode_json, self._max_bytes)
        log_trimmed(self.name, fitted, self._max_bytes)
        self._queues.publish_result(body.decode("utf-8"))


class Publisher:
    """Publishes one result to every configured sink; a failure propagates so the request is retried."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def publish(self, result: Mapping[str, Any]) -> None:
        for sink in self.sinks:
            sink.publish(result)
