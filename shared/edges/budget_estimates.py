"""The process's estimates of ARM's read buckets, one per subscription × region: state only, no IO.

The decisions are :mod:`shared.core.arm_budget`'s; this holds the estimates under a lock (the
host runs invocations on several threads) and remembers, per subscription, the region its
last answer came from (a read is gated by that region's estimate: ARM routes a caller's reads
to one region). Each instance of the app keeps its own; ARM's answers, which count every
instance's reads, keep them close to the truth.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from shared.core import arm_budget
from shared.core.arm_budget import Defer, Estimate
from shared.core.interpretation import StatusAnswer
from shared.core.poll_state import WatchedRequest

__all__ = ["BudgetEstimates"]

#: Keys remembered at most (oldest forgotten first): a bound on memory, not a tuning knob.
MAX_KEYS = 10_000


class BudgetEstimates:
    """One :class:`~shared.core.arm_budget.Estimate` per ``(host|subscription, region)``; ``reserve`` is
    ARM_READS_RESERVE (0 turns the gate off). Only ARM-audience requests are gated or observed."""

    def __init__(self, reserve: int) -> None:
        self._reserve = reserve
        self._lock = threading.Lock()
        self._estimates: dict[tuple[str, str | None], Estimate] = {}
        self._regions: dict[str, str] = {}

    def gate(self, request: WatchedRequest, now: datetime) -> Defer | None:
        """None: read now (taken from the estimate); else the :class:`Defer` to act on."""
        if request.source.audience != "arm" or self._reserve <= 0:
            return None
        subscription = arm_budget.subscription_of(request.poll_url)
        with self._lock:
            key = (subscription, self._regions.get(subscription))
            defer, estimate = arm_budget.gate(self._estimates.get(key), request.poll, request.deadline, now, self._reserve)
            if estimate is not None:
                self._estimates[key] = estimate
            return defer

    def observe(self, request: WatchedRequest, answer: StatusAnswer, now: datetime) -> None:
        """Fold the answer to ``request``'s read into the estimate of the region that served it."""
        if request.source.audience != "arm" or self._reserve <= 0:
            return
        budget = answer.budget
        subscription = arm_budget.subscription_of(request.poll_url)
        with self._lock:
            gated = (subscription, self._regions.get(subscription))  # the estimate the read was let through by
            if budget.region is not None and budget.region != gated[1]:
                self._regions.pop(subscription, None)
                self._regions[subscription] = budget.region  # most recent last
                left = self._estimates.get(gated)
                if left is not None:  # routed elsewhere: the read is no longer in flight where it was let through
                    self._estimates[gated] = replace(left, in_flight=max(left.in_flight - 1, 0))
            key = (subscription, self._regions.get(subscription))
            estimate = arm_budget.observe(self._estimates.get(key), budget, now)
            if estimate is None:
                return
            self._estimates.pop(key, None)
            self._estimates[key] = estimate  # most recent last
            while len(self._estimates) > MAX_KEYS:
                del self._estimates[next(iter(self._estimates))]
            while len(self._regions) > MAX_KEYS:
                del self._regions[next(iter(self._regions))]
