"""host.json: ``extensions.queues`` (and ``functionTimeout``) as QueueOptions, with the host's defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.dev.run_local.common import MAX_MESSAGES_PER_REQUEST, MIN_POLLING_INTERVAL, RunLocalError, log, read_json_object

__all__ = ["QueueOptions", "parse_timespan"]

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_timespan(value: object, name: str = "value") -> float:
    """A .NET TimeSpan string as host.json writes it (``[d.]hh:mm:ss[.fffffff]``) in seconds."""
    if not isinstance(value, str):
        raise RunLocalError(f"host.json {name}: expected a TimeSpan string like \"00:00:30\", got {value!r}")
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise RunLocalError(f"host.json {name}: {value!r} is not a TimeSpan like \"00:00:30\"")
    days, hours, minutes, seconds = match.groups()
    hours_i, minutes_i = int(hours), int(minutes)
    if hours_i > 23 or minutes_i > 59 or float(seconds) >= 60:
        raise RunLocalError(f"host.json {name}: {value!r} is out of range")
    return int(days or 0) * 86400 + hours_i * 3600 + minutes_i * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json, with the host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"
    function_timeout: float | None = None

    @classmethod
    def from_host_json(cls, host: Mapping[str, Any]) -> QueueOptions:
        queues = (host.get("extensions") or {}).get("queues") or {}
        if not isinstance(queues, Mapping):
            raise RunLocalError("host.json extensions.queues: expected an object")

        def integer(key: str, default: int, low: int, high: int) -> int:
            value = queues.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise RunLocalError(f"host.json extensions.queues.{key}: expected an integer {low}..{high}, got {value!r}")
            return value

        batch_size = integer("batchSize", 16, 1, MAX_MESSAGES_PER_REQUEST)
        threshold = integer("newBatchThreshold", batch_size // 2, 0, 10_000)
        max_dequeue = integer("maxDequeueCount", 5, 1, 10_000)
        polling = parse_timespan(queues.get("maxPollingInterval", "00:01:00"), "extensions.queues.maxPollingInterval")
        if polling < MIN_POLLING_INTERVAL:
            raise RunLocalError("host.json extensions.queues.maxPollingInterval: must be at least 100 ms")
        visibility = parse_timespan(queues.get("visibilityTimeout", "00:00:00"), "extensions.queues.visibilityTimeout")
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise RunLocalError(f"host.json extensions.queues.messageEncoding: expected base64 or none, got {encoding!r}")
        timeout_value = host.get("functionTimeout")
        function_timeout = parse_timespan(timeout_value, "functionTimeout") if timeout_value not in (None, "-1") else None
        return cls(
            batch_size=batch_size,
            new_batch_threshold=threshold,
            max_polling_interval=polling,
            visibility_timeout=visibility,
            max_dequeue_count=max_dequeue,
            message_encoding=encoding,
            function_timeout=function_timeout,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QueueOptions:
        """Read a host.json file; a missing file means the host's defaults."""
        path = Path(path)
        if not path.exists():
            log.warning("%s not found: using the host's queue defaults", path)
            return cls()
        data = read_json_object(path)
        return cls.from_host_json(data)

    @property
    def concurrency(self) -> int:
        return self.batch_size + self.new_batch_threshold
