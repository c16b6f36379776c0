"""When to read a status again: every re-enqueue delay is decided here. Pure: no IO, no clock.

A status read costs a function execution, three queue transactions and (for ARM sources)
one read of the subscription's ARM budget; polling late costs detection lag. The
schedule spends reads where an end is likely:

* **Predicted end.** A body's ``percentComplete`` (0-100) and the time since its
  ``startTime`` (else since the watcher first saw the request) give a predicted end,
  ``start + elapsed * 100 / percent`` (the percentage read half a step higher: providers
  round down, and a multiple of 10 is taken as a coarse step of 10). Far from it the watcher
  waits :data:`APPROACH` of the time left (at most :data:`MAX_GROWTH` times the time run so
  far) and predicts again; within :data:`LAND_WINDOW_SECONDS` it waits until just past it;
  once the end is overdue it polls every :data:`OVERDUE_SECONDS`, stretching with the time
  overdue (the prediction was wrong).
* **The producer's hint.** Without progress, ``expectedSeconds`` is the whole duration from
  the start: the same approach towards :data:`HINT_EARLY` of it (a guess may be early), then
  a read every :data:`HINT_OVERDUE_SECONDS` (or :data:`HINT_OVERDUE_SHARE` of the hint).
* **No prediction.** In a long-tailed fleet an operation that has run long is less likely to
  end in the next minute, so the wait grows slowly with the time running:
  ``UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER`` (16 s at the start,
  98 s after a day).
* **Floors and ceilings.** ``Retry-After`` (any of the three hint headers) and
  ``POLL_MIN_DELAY_SECONDS`` are floors, never targets; ``POLL_MAX_DELAY_SECONDS`` and the
  deadline are ceilings. Up to :data:`JITTER` is added, a hash of the operation's status URL
  and poll number, so operations enqueued together drift apart while tests stay exact.
* **ARM read budget.** Every wait is multiplied by ``Bounds.stretch``, which
  :mod:`shared.core.arm_budget` (the one owner of the budget) derives from the read's
  remaining-reads headers; 1 when the budget is not low.
* **Failed reads** back off ×2 per consecutive failure from ``POLL_MIN_DELAY_SECONDS``,
  with the provider's hint as a floor (a 429's ``Retry-After`` is kept).

The constants were chosen with the fleet replays of ``make bench`` (P5, P6:
``tools/measure/bench/p5.py``, ``tools/measure/bench/p6.py``, the fleet model in ``tools/measure/bench/fleet.py``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.core.retry_after import delay_hint

__all__ = [
    "Plan",
    "Progress",
    "progress_of",
    "predicted_end",
    "running_delay",
    "failure_delay",
    "jitter_factor",
    "Bounds",
]

#: Far from the predicted end, wait this fraction of the time left, then predict again.
APPROACH = 0.5
#: ... but never more than this multiple of the time the operation has run so far (a young estimate is rough).
MAX_GROWTH = 2.0
#: With only the producer's expectedSeconds: aim at this fraction of it (it is an estimate), then poll
#: every HINT_OVERDUE_SECONDS, or HINT_OVERDUE_SHARE of the hint if that is longer.
HINT_EARLY = 0.8
HINT_OVERDUE_SECONDS = 15.0
HINT_OVERDUE_SHARE = 0.01
#: Within this many seconds of the predicted end, wait until just past it.
LAND_WINDOW_SECONDS = 40.0
#: How far past the predicted end the landing read goes.
LAND_MARGIN_SECONDS = 1.0
#: Once the predicted end has passed: poll this often, stretched by OVERDUE_GROWTH of the time overdue.
OVERDUE_SECONDS = 15.0
OVERDUE_GROWTH = 0.25
#: No prediction: wait UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER.
UNTIMED_K = 3.2
UNTIMED_OFFSET_SECONDS = 200.0
UNTIMED_POWER = 0.3
#: Progress below this percentage predicts nothing (0 % says only "not started").
MIN_PERCENT = 1.0
#: A percentage that is a multiple of this is taken as a coarse step of this size.
COARSE_STEP = 10.0
FAILURE_BACKOFF = 2.0
#: Up to this fraction is added to every wait, deterministically per (operation, poll).
JITTER = 0.05


@dataclass(frozen=True)
class Progress:
    """What a status body says about how far the operation is."""

    percent: float | None = None  # 0..100, None when absent or not a number
    started_at: datetime | None = None  # the body's startTime, when it parses


@dataclass(frozen=True)
class Plan:
    """The wait before the next read, and the end it aims at (None when nothing predicts it)."""

    delay_seconds: int
    expected_end: datetime | None = None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def progress_of(body: Mapping[str, Any] | None) -> Progress:
    """``percentComplete`` and ``startTime`` from a status body; what does not parse is left out."""
    if not isinstance(body, Mapping):
        return Progress()
    raw = body.get("percentComplete")
    percent = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
        percent = min(max(float(raw), 0.0), 100.0)
    return Progress(percent, _parse_time(body.get("startTime")))


def _likely_percent(percent: float) -> float:
    """Where between this reading and the next step the operation likely is: providers round progress
    down, and a multiple of 10 is most likely a coarse step of 10 (many report 10, 20, 30 ...)."""
    if percent >= 100:
        return 100.0
    step = COARSE_STEP if percent % COARSE_STEP == 0 else 1.0
    return min(percent + step / 2, 100.0)


def _start(progress: Progress, now: datetime, first_seen_at: datetime) -> datetime:
    """The body's startTime, unless absent or impossible (in the future, or a month before the first sighting)."""
    start = progress.started_at
    if start is None or start > now or start < first_seen_at - timedelta(days=30):
        return first_seen_at
    return start


def predicted_end(progress: Progress, now: datetime, first_seen_at: datetime, expected_seconds: int | None) -> datetime | None:
    """When the operation should end: from its progress, else from the producer's hint, else None."""
    start = _start(progress, now, first_seen_at)
    elapsed = max((now - start).total_seconds(), 0.0)
    if progress.percent is not None and progress.percent >= MIN_PERCENT:
        total = elapsed * 100.0 / _likely_percent(progress.percent)
        return start + timedelta(seconds=min(total, 10 * 365 * 86400.0))
    if expected_seconds is not None:
        return start + timedelta(seconds=expected_seconds)
    return None


def jitter_factor(key: str, polls: int) -> float:
    """1 + a deterministic fraction in [0, JITTER) for this operation and poll."""
    digest = hashlib.blake2b(f"{key}|{polls}".encode(), digest_size=8).digest()
    return 1.0 + JITTER * (int.from_bytes(digest, "big") / 2.0**64)


def _untimed(elapsed: float) -> float:
    return UNTIMED_K * (max(elapsed, 0.0) + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER


def _towards(end: datetime, now: datetime, elapsed: float) -> float:
    """The wait towards an ``end`` predicted from progress: approach, land just past it, or poll it overdue."""
    remaining = (end - now).total_seconds()
    if remaining > LAND_WINDOW_SECONDS:
        return min(APPROACH * remaining, MAX_GROWTH * max(elapsed, 1.0))
    if remaining > 0:
        return remaining + LAND_MARGIN_SECONDS
    return OVERDUE_SECONDS + OVERDUE_GROWTH * -remaining  # includes 100 % and still running


def _towards_hint(end: datetime, now: datetime, elapsed: float) -> float:
    """The wait towards the end the producer expects: a guess, so approach its early side
    (HINT_EARLY of it), then poll every HINT_OVERDUE_SECONDS (HINT_OVERDUE_SHARE of a long hint)."""
    remaining = (end - now).total_seconds()
    early = remaining - (1.0 - HINT_EARLY) * (elapsed + remaining)
    if early > LAND_WINDOW_SECONDS:
        return min(APPROACH * early, MAX_GROWTH * max(elapsed, 1.0))
    if early >= 0:
        return early + LAND_MARGIN_SECONDS
    return max(HINT_OVERDUE_SECONDS, HINT_OVERDUE_SHARE * (elapsed + remaining))  # a day-long hint: not every 15 s


@dataclass(frozen=True)
class Bounds:
    """Floors and ceilings of one wait: POLL_MIN/MAX_DELAY_SECONDS, the deadline; and the budget's stretch."""

    min_delay: float
    max_delay: float
    deadline: datetime
    stretch: float = 1.0  # ARM's read budget is low (shared.core.arm_budget.stretch): every wait longer


def _clamp(raw: float, hint: float | None, now: datetime, bounds: Bounds, key: str, polls: int) -> int:
    floor = min(max(bounds.min_delay, hint or 0.0), bounds.max_delay)
    delay = min(max(raw * bounds.stretch, floor) * jitter_factor(key, polls), bounds.max_delay)
    whole = max(round(delay), math.ceil(floor))  # whole seconds (a visibility timeout), never under the floor
    remaining = (bounds.deadline - now).total_seconds()
    return max(0, min(whole, math.ceil(remaining)))


def running_delay(
    *,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    now: datetime,
    first_seen_at: datetime,
    expected_seconds: int | None,
    bounds: Bounds,
    key: str,
    polls: int,
) -> Plan:
    """The wait after a read that found the operation still running (``polls`` counts that read)."""
    progress = progress_of(body)
    end = predicted_end(progress, now, first_seen_at, expected_seconds)
    elapsed = max((now - _start(progress, now, first_seen_at)).total_seconds(), 0.0)
    if end is not None:
        hinted = progress.percent is None or progress.percent < MIN_PERCENT
        raw = (_towards_hint if hinted else _towards)(end, now, elapsed)
    else:
        raw = _untimed(elapsed)
    return Plan(_clamp(raw, delay_hint(headers, now), now, bounds, key, polls), end)


def failure_delay(*, headers: Mapping[str, str], now: datetime, failures: int, bounds: Bounds, key: str, polls: int) -> int:
    """The wait after the ``failures``-th consecutive failed read: ×2 backoff, the provider's hint a floor."""
    raw = max(bounds.min_delay, 1.0) * FAILURE_BACKOFF ** min(max(failures - 1, 0), 64)
    return _clamp(raw, delay_hint(headers, now), now, bounds, key, polls)
