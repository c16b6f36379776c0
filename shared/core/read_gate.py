"""The ARM read-budget gate's decisions: read now, or put the read off, unread, to a slot. Pure.

A re-enqueued request learns how many ARM reads are left from its own last answer
(:func:`shared.core.schedule.budget_stretch`); a request read for the first time cannot. The
process keeps one :class:`BudgetEstimate` per subscription (``shared.edges.read_budget``),
folds every ARM answer into it (:func:`observe_budget`) and asks :func:`admit` before each read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.core.schedule import ARM_READS_HEADER

__all__ = ["BudgetEstimate", "admit", "observe_budget", "ARM_READ_REFILL_PER_S", "ARM_READ_BUCKET"]

#: ARM refills a subscription's read bucket (per region and principal) at 25 reads/s; 250 at most.
ARM_READ_REFILL_PER_S = 25.0
ARM_READ_BUCKET = 250.0


@dataclass(frozen=True)
class BudgetEstimate:
    """What one process believes is left of a subscription's ARM read bucket, and when.

    ``next_slot`` is the latest time this process has promised a put-off read: slots are
    handed out 1/25 s apart, ARM's refill rate, so the reads put off come back no faster
    than the bucket refills.
    """

    level: float
    at: datetime
    next_slot: datetime | None = None


def _refilled(estimate: BudgetEstimate, now: datetime) -> float:
    seconds = max((now - estimate.at).total_seconds(), 0.0)
    return min(ARM_READ_BUCKET, estimate.level + ARM_READ_REFILL_PER_S * seconds)


def admit(
    estimate: BudgetEstimate | None, now: datetime, reserve: int, deadline: datetime, *, booked: bool = False
) -> tuple[datetime | None, BudgetEstimate | None]:
    """Read now (None; the read is taken from the estimate) or the slot to read at instead.

    A read is put off while it would leave fewer than ``reserve`` reads in the bucket, or while
    earlier reads wait for their slots (no overtaking): to the slot after the last one given,
    or, with no queue, to when the bucket has refilled to the reserve. ``booked``: the request
    comes back for the slot it was given, so it reads. Nothing known, ``reserve`` 0 or the
    deadline reached: read now.
    """
    if estimate is None or reserve <= 0:
        return None, estimate
    level = _refilled(estimate, now)
    queued = estimate.next_slot is not None and estimate.next_slot > now
    if (booked and level >= 1.0) or now >= deadline or (not queued and level - 1.0 >= reserve):
        return None, BudgetEstimate(level - 1.0, now, estimate.next_slot)
    step = timedelta(seconds=1.0 / ARM_READ_REFILL_PER_S)
    if queued:
        assert estimate.next_slot is not None
        slot = estimate.next_slot + step
    else:
        slot = now + timedelta(seconds=(reserve + 1.0 - level) / ARM_READ_REFILL_PER_S)
    return min(slot, deadline), BudgetEstimate(level, now, slot)


def observe_budget(estimate: BudgetEstimate | None, headers: Mapping[str, str], now: datetime) -> BudgetEstimate | None:
    """Fold ARM's ``x-ms-ratelimit-remaining-subscription-reads`` into the estimate: the lower of the two wins
    (the answer counts every caller's reads; the estimate also counts reads this process has promised)."""
    raw = headers.get(ARM_READS_HEADER)
    try:
        remaining = float(raw.strip()) if raw is not None else math.nan
    except ValueError:
        remaining = math.nan
    if not math.isfinite(remaining):
        return estimate
    if estimate is None:
        return BudgetEstimate(min(remaining, ARM_READ_BUCKET), now)
    expected = _refilled(estimate, now)
    next_slot = estimate.next_slot
    if next_slot is not None and next_slot > now and remaining < expected:
        # someone else (the pipelines, another instance) took reads: the queue moves back by as many slots
        next_slot += timedelta(seconds=(expected - remaining) / ARM_READ_REFILL_PER_S)
    return BudgetEstimate(min(expected, remaining), now, next_slot)
