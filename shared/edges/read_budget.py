"""The process's view of ARM's read budget, per subscription: state beside the status client, no IO.

ARM throttles reads per subscription, region and principal (a bucket of 250, refilled at 25/s)
and says in every answer how many are left (``x-ms-ratelimit-remaining-subscription-reads``).
A re-enqueued request learns it from its own last read (:func:`shared.core.schedule.budget_stretch`);
a request read for the first time cannot. This keeps the last answer per subscription, so a
burst of new requests is spread out before the bucket runs dry instead of meeting 429s. The
decisions are the core's (:func:`shared.core.read_gate.admit`, :func:`~shared.core.read_gate.observe_budget`);
this only holds the estimates, under a lock (the host runs invocations on several threads).
Each instance of the app keeps its own; the answers' counts keep them close to the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from shared.core.read_gate import BudgetEstimate, admit, observe_budget

__all__ = ["ReadBudgets", "budget_key"]

#: Subscriptions remembered at most (oldest forgotten first): a bound on memory, not a tuning knob.
MAX_KEYS = 10_000


def budget_key(status_url: str) -> str:
    """``host|subscription`` of an ARM status URL (``host|`` for a provider-level one)."""
    parts = urlsplit(status_url)
    segments = [s for s in parts.path.split("/") if s]
    subscription = segments[1].lower() if len(segments) > 1 and segments[0].lower() == "subscriptions" else ""
    return f"{parts.netloc.lower()}|{subscription}"


class ReadBudgets:
    """Estimates per subscription; ``reserve`` is ARM_READS_RESERVE (0 turns the gate off)."""

    def __init__(self, reserve: int) -> None:
        self._reserve = reserve
        self._lock = threading.Lock()
        self._estimates: dict[str, BudgetEstimate] = {}

    def slot(self, key: str, now: datetime, deadline: datetime, *, booked: bool = False) -> datetime | None:
        """None: read now (taken from the estimate); else the time to read at instead."""
        with self._lock:
            slot, estimate = admit(self._estimates.get(key), now, self._reserve, deadline, booked=booked)
            if estimate is not None:
                self._estimates[key] = estimate
            return slot

    def observe(self, key: str, headers: Mapping[str, str], now: datetime) -> None:
        with self._lock:
            estimate = observe_budget(self._estimates.get(key), headers, now)
            if estimate is None:
                return
            self._estimates.pop(key, None)
            self._estimates[key] = estimate  # most recent last
            while len(self._estimates) > MAX_KEYS:
                del self._estimates[next(iter(self._estimates))]
