"""Where outcomes go: the results queue and/or Event Grid (``RESULT_SINK``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from .queues import QueueGateway

__all__ = ["Sink", "QueueSink", "Publisher", "result_text"]


def result_text(result: dict[str, Any]) -> str:
    return json.dumps(result, separators=(",", ":"), ensure_ascii=False)


class Sink(Protocol):
    name: str

    def publish(self, result: dict[str, Any]) -> None: ...


class QueueSink:
    """The ``operation-results`` queue."""

    name = "queue"

    def __init__(self, queues: QueueGateway) -> None:
        self._queues = queues

    def publish(self, result: dict[str, Any]) -> None:
        self._queues.publish_result(result_text(result))


class Publisher:
    """Publishes one result to every configured sink; a failure propagates so the request is retried."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def publish(self, result: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.publish(result)
