"""ARM's read budget, all of it: the answer's headers, the estimate, and the decision to read or defer. Pure.

ARM throttles reads with token buckets, per region since 2024: one per subscription ×
principal × region (250 reads, refilled at 25/s) and a global one per subscription beside it,
15 times that, shared by every principal (Microsoft Learn, "Understand how Azure Resource
Manager throttles requests"). Every answer says what is left:
``x-ms-ratelimit-remaining-subscription-reads`` and ``…-global-reads``, and names the region
that served it in ``x-ms-routing-request-id`` (``WESTUS:20250501T143306Z:<guid>``).
:func:`budget_headers_of` parses the three once per read (:attr:`shared.core.interpretation.StatusAnswer.budget`).

Those answers are the only shared truth: every instance of the app reads the same buckets and
sees in each answer what all of them (and the pipelines) have spent. Two rules act on them:

* **A running operation's next wait** is stretched when its own read left less than the
  reserve (``ARM_READS_RESERVE``): ×1 at the reserve up to ×(1 + :data:`STRETCH`) at 0
  (:func:`stretch`, used by :mod:`shared.core.decide`).
* **Before a read**, the process's :class:`Estimate` for the subscription × region the last
  answer came from decides (:func:`gate`): read now, or :class:`Defer` the read, unread, to a
  slot. Deferred reads are paced at ``REFILL_PER_S × level / reserve`` per process, so the
  rate falls with the level every instance sees: ``N`` instances settle where together they
  take what the bucket refills, at a level that stays above zero for any ``N`` (a
  proportional rule: no instance needs to know how many others there are). A copy that comes
  back for its slot reads unless the estimate is under :data:`BOOKED_FLOOR` of the reserve.

The process keeps one :class:`Estimate` per key (``shared.edges.budget_estimates``) and folds
every ARM answer into it (:func:`observe`): the answer, less the process's reads still in
flight. Both buckets count in one estimate, the tighter one binding
(:attr:`BudgetHeaders.headroom`). The watcher acts on :class:`Defer` with the same re-enqueue
as on :class:`shared.core.decide.Reenqueue`. ``make bench`` P6 replays this against ARM's
buckets with one and four instances.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from shared.core.poll_state import PollState

__all__ = [
    "READS_HEADER", "GLOBAL_READS_HEADER", "ROUTING_HEADER", "HEADERS",
    "BUCKET", "REFILL_PER_S", "MAX_READS_RESERVE", "GLOBAL_FACTOR", "STRETCH", "BOOKED_FLOOR",
    "BudgetHeaders", "Estimate", "Defer", "budget_headers_of", "stretch", "gate", "observe", "subscription_of",
]

READS_HEADER = "x-ms-ratelimit-remaining-subscription-reads"
GLOBAL_READS_HEADER = "x-ms-ratelimit-remaining-subscription-global-reads"
ROUTING_HEADER = "x-ms-routing-request-id"
#: The answer headers this module reads (the status client keeps them).
HEADERS = (READS_HEADER, GLOBAL_READS_HEADER, ROUTING_HEADER)

#: ARM's read bucket per subscription × principal × region: 250 reads, refilled at 25 reads/s.
BUCKET = 250.0
REFILL_PER_S = 25.0
#: ARM_READS_RESERVE at most: a reserve the bucket cannot hold would defer every read to its deadline.
MAX_READS_RESERVE = int(BUCKET) - 1
#: The global subscription bucket is this many times the principal's (size and refill).
GLOBAL_FACTOR = 15.0
#: Below the reserve a running operation's wait is multiplied by 1 + STRETCH × shortfall (×3 at 0 left; more
#: lengthens the lag (P6, four instances: 1.7x one instance's at 8, 1.09x at 2, 1.07x at 0 but 50 % more deferred
#: reads): the gate already keeps the reads under the refill).
STRETCH = 2.0
#: A copy back for its slot reads unless the estimate is under this share of the reserve (then it waits again).
BOOKED_FLOOR = 0.1
#: Deferred reads are paced at no less than this share of the refill (a read every 2 s), however low the level.
MIN_PACE = 0.02
#: A copy whose ``readSlotAt`` is at most this far ahead is taken as back for its slot.
BOOKED_EARLY = timedelta(seconds=1)
_REGION = re.compile(r"[A-Za-z0-9]{1,64}")


@dataclass(frozen=True)
class BudgetHeaders:
    """What one ARM answer says of the read budget (None: the header is absent or not a number)."""

    reads: float | None = None  # left in this principal's bucket in the serving region
    global_reads: float | None = None  # left in the subscription's global bucket
    region: str | None = None  # the serving region, lower-case (from x-ms-routing-request-id)

    @property
    def headroom(self) -> float | None:
        """Reads left, in the principal bucket's units: the tighter of the two (the global one at 1/15)."""
        left = [v for v in (self.reads, None if self.global_reads is None else self.global_reads / GLOBAL_FACTOR)
                if v is not None]
        return min(left) if left else None


@dataclass(frozen=True)
class Estimate:
    """What one process believes is left of one bucket (in :attr:`BudgetHeaders.headroom` units), and when.

    ``next_slot`` is the last slot this process gave a deferred read: later ones queue behind it.
    ``in_flight``: reads this process let through whose answers have not come back (the host
    runs invocations side by side); an answer does not count them yet.
    """

    level: float
    at: datetime
    next_slot: datetime | None = None
    in_flight: int = 0


@dataclass(frozen=True)
class Defer:
    """Do not read now: re-enqueue the request unread, visible after ``delay_seconds``, with ``poll`` (its slot)."""

    delay_seconds: int
    poll: PollState


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return max(value, 0.0) if math.isfinite(value) else None


def budget_headers_of(headers: Mapping[str, str]) -> BudgetHeaders:
    """The budget headers of one answer (``headers`` lower-cased, as :class:`~shared.core.interpretation.StatusAnswer` keeps them)."""
    routing = headers.get(ROUTING_HEADER)
    region = routing.split(":", 1)[0].strip() if routing is not None else ""
    return BudgetHeaders(
        _number(headers.get(READS_HEADER)),
        _number(headers.get(GLOBAL_READS_HEADER)),
        region.lower() if _REGION.fullmatch(region) else None,
    )


def stretch(budget: BudgetHeaders, reserve: int) -> float:
    """How much to stretch a running operation's next wait: 1 at or above ``reserve`` (0: no budget logic)."""
    headroom = budget.headroom
    if headroom is None or reserve <= 0 or headroom >= reserve:
        return 1.0
    return 1.0 + STRETCH * (reserve - headroom) / reserve


def subscription_of(poll_url: str) -> str:
    """``host|subscription`` of an ARM status URL (``host|`` for a provider-level one), lower-case.

    Only the first two segments count (``/subscriptions/{id}``): the URL passed the status URL
    rules (:mod:`shared.core.arm_paths`) already, and a moved Location is keyed the same way.
    """
    parts = urlsplit(poll_url)
    segments = [s for s in parts.path.split("/") if s]
    subscription = segments[1].lower() if len(segments) > 1 and segments[0].lower() == "subscriptions" else ""
    return f"{parts.netloc.lower()}|{subscription}"


def _refilled(estimate: Estimate, now: datetime) -> float:
    seconds = max((now - estimate.at).total_seconds(), 0.0)
    return min(BUCKET, estimate.level + REFILL_PER_S * seconds)


def _pace(level: float, reserve: int) -> timedelta:
    """The gap between this process's deferred reads: 1/25 s at the reserve, wider as the level falls."""
    share = min(max(level / reserve, MIN_PACE), 1.0)
    return timedelta(seconds=1.0 / (REFILL_PER_S * share))


def gate(
    estimate: Estimate | None, poll: PollState, deadline: datetime, now: datetime, reserve: int
) -> tuple[Defer | None, Estimate | None]:
    """Read now (None; the read is taken from the estimate) or :class:`Defer` it; and the estimate after.

    Read now when nothing is known, ``reserve`` is 0, the deadline has come (``TimedOut`` needs a
    read), one more read leaves the reserve, or the copy is back for its slot and the level is
    at least :data:`BOOKED_FLOOR` of the reserve (the floor keeps the instances' slots, given
    apart, from emptying the bucket together). Otherwise the read gets the slot one pace
    (:func:`_pace`) after the last one given (or after now), never past the deadline.
    """
    if estimate is None or reserve <= 0:
        return None, estimate
    level = _refilled(estimate, now)
    queued = estimate.next_slot is not None and estimate.next_slot > now
    booked = poll.read_slot_at is not None and poll.read_slot_at <= now + BOOKED_EARLY
    if (
        now >= deadline
        or (booked and level >= max(1.0, BOOKED_FLOOR * reserve))
        or level - 1.0 >= reserve
    ):
        return None, replace(estimate, level=level - 1.0, at=now, in_flight=estimate.in_flight + 1)
    after = estimate.next_slot if queued and estimate.next_slot is not None else now
    slot = min(after + _pace(level, reserve), deadline)
    delay = max(1, math.ceil((slot - now).total_seconds()))
    return Defer(delay, replace(poll, read_slot_at=slot)), replace(estimate, level=level, at=now, next_slot=slot)


def observe(estimate: Estimate | None, budget: BudgetHeaders, now: datetime) -> Estimate | None:
    """Fold the answer to one read this process let through into the estimate.

    The answer is the truth (it counts every caller's reads) less this process's other reads
    still in flight, which it cannot count yet. No readable header: the read is no longer in
    flight, the estimate otherwise stands.
    """
    headroom = budget.headroom
    if estimate is None:
        return None if headroom is None else Estimate(min(headroom, BUCKET), now)
    in_flight = max(estimate.in_flight - 1, 0)
    if headroom is None:
        return replace(estimate, in_flight=in_flight)
    return replace(estimate, level=max(min(headroom, BUCKET) - in_flight, 0.0), at=now, in_flight=in_flight)
