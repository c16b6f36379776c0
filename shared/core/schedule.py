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

# Which figure chose each constant: P5 (``make bench``, tools/measure/bench/p5.py) on its four fleet models
# (arm-mix, floors, noisy, wide); "a -> b" is the percentComplete (or named) class's reads/lag against
# the fixed 30 s timer when the constant alone is changed (2,000 operations per model, issue 22).
#: Far from the predicted end, wait this fraction of the time left, then predict again.
#: P5: 0.4 -> arm-mix reads 0.34x (at the 0.35x target), floors 0.58x; 0.6 -> arm-mix lag 1.06x.
APPROACH = 0.5
#: ... but never more than this multiple of the time the operation has run so far (a young estimate is rough).
#: P5: 3 or 4 save under 0.02x of the reads and raise the lag (floors 1.10-1.13x, wide 1.13-1.20x).
MAX_GROWTH = 2.0
#: With only the producer's expectedSeconds: aim at this fraction of it (it is an estimate), then poll
#: every HINT_OVERDUE_SECONDS, or HINT_OVERDUE_SHARE of the hint if that is longer.
#: P5: HINT_EARLY 0.6 -> arm-mix expectedSeconds reads 0.69x, lag 0.84x; noisy/wide lag stays 1.2-1.3x
#: (hints 40 % off or stale: no fraction of the hint serves both). HINT_OVERDUE_SECONDS 10 -> floors reads
#: 0.90x (from 0.80x) for lag 0.69x. HINT_OVERDUE_SHARE: a day-long hint polls every 300 s (the ceiling),
#: not every 15 s, once near (the cost model's day-long row, docs/schedule.md).
HINT_EARLY = 0.8
HINT_OVERDUE_SECONDS = 15.0
HINT_OVERDUE_SHARE = 0.01
#: Within this many seconds of the predicted end, wait until just past it.
#: P5: 20 -> arm-mix lag 0.87x, floors reads 0.55x; 80 -> arm-mix lag 1.11x, wide 1.20x.
LAND_WINDOW_SECONDS = 40.0
#: Approaching stops this many floors (Retry-After, POLL_MIN_DELAY_SECONDS) before the end: halving
#: the time left from closer would leave less than a floor, and the landing read would be a floor late.
#: 2 is the rule's own number (half of 2 floors is one floor, with APPROACH 0.5), not a fitted one.
#: P5 (3,000 per model) against no floor landing: floors reads 0.55x -> 0.53x, lag 1.01x -> 0.99x;
#: arm-mix lag 0.96x -> 0.94x; wide lag 1.07x -> 1.09x (a landing from farther is rougher).
FLOOR_LANDING = 2.0
#: How far past the predicted end the landing read goes: one second, the resolution of a wait.
LAND_MARGIN_SECONDS = 1.0
#: Once the predicted end has passed: poll this often, stretched by OVERDUE_GROWTH of the time overdue.
#: Half the timer's period (its mean lag). P5 cannot choose them: the likely percentage is half a step
#: above the reading, so a prediction from progress below 100 % is never overdue; they serve 100 % and still
#: running (10/25 s and 0.1/0.5 change no P5 figure).
OVERDUE_SECONDS = 15.0
OVERDUE_GROWTH = 0.25
#: No prediction: wait UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER (16 s at the start).
#: Chosen on arm-mix (issue 13: reads 1.03x, lag 1.00x). P5 shows the trade, not a winner: this curve gives
#: floors (short operations) 1.28x reads at 0.88x lag and wide 0.71x at 1.07x; a flatter 18 * (t + 200)^0.05
#: (22 s -> 30 s after a day) gives 1.05/1.01, 1.10/0.98, 1.06/1.00, 0.98/1.05 (arm-mix, floors, noisy,
#: wide): closer on every model, inside on none but arm-mix, at about 2.5x the reads of a day-long operation.
UNTIMED_K = 3.2
UNTIMED_OFFSET_SECONDS = 200.0
UNTIMED_POWER = 0.3
#: Progress below this percentage predicts nothing (0 % says only "not started"; 1 % is the first that does).
MIN_PERCENT = 1.0
#: A percentage that is a multiple of this is taken as a coarse step of this size (the steps the seeds'
#: apim and devcenter bodies use; P5's coarse reporters move in steps of 10).
COARSE_STEP = 10.0
#: Failed reads: x2 per consecutive failure (no P5 figure: azure-core's retry policy doubles too).
FAILURE_BACKOFF = 2.0
#: Up to this fraction is added to every wait, deterministically per (operation, poll): enough that a
#: thousand requests enqueued together spread over a 15 s wait's 0.75 s (no P5 figure: the replay is per operation).
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


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with its offset, as a provider's body or a result writes it; None for anything else."""
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
    return Progress(percent, parse_time(body.get("startTime")))


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
    return float(UNTIMED_K * (max(elapsed, 0.0) + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER)  # float ** float is Any to mypy


def _towards(end: datetime, now: datetime, elapsed: float, floor: float) -> float:
    """The wait towards an ``end`` predicted from progress: approach, land just past it, or poll it overdue.

    ``floor`` is the shortest wait allowed (the provider's hint, POLL_MIN_DELAY_SECONDS). Approaching by
    :data:`APPROACH` of the time left must not put a read less than one floor before the end, from where
    the landing read could only come a floor later (up to a floor late): within :data:`FLOOR_LANDING`
    floors of the end the watcher lands at once.
    """
    remaining = (end - now).total_seconds()
    if remaining > max(LAND_WINDOW_SECONDS, FLOOR_LANDING * floor):
        return min(APPROACH * remaining, MAX_GROWTH * max(elapsed, 1.0))
    if remaining > 0:
        return remaining + LAND_MARGIN_SECONDS
    return OVERDUE_SECONDS + OVERDUE_GROWTH * -remaining  # includes 100 % and still running


def _towards_hint(end: datetime, now: datetime, elapsed: float) -> float:
    """The wait towards the end the producer expects: a guess, so approach its early side
    (HINT_EARLY of it), then poll every HINT_OVERDUE_SECONDS (HINT_OVERDUE_SHARE of a long hint).
    No floor landing here (P5 ``floors``: it raised this class's lag 0.80x -> 0.88x; the early side is
    already early, and a read a floor before it refines nothing)."""
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
    progress: Progress,
    headers: Mapping[str, str],
    now: datetime,
    first_seen_at: datetime,
    expected_seconds: int | None,
    bounds: Bounds,
    key: str,
    polls: int,
) -> Plan:
    """The wait after a read that found the operation still running (``polls`` counts that read).

    ``progress`` is the read's :func:`progress_of`, parsed once by the caller.
    """
    end = predicted_end(progress, now, first_seen_at, expected_seconds)
    elapsed = max((now - _start(progress, now, first_seen_at)).total_seconds(), 0.0)
    hint = delay_hint(headers, now)
    floor = min(max(bounds.min_delay, hint or 0.0), bounds.max_delay)
    if end is not None and progress.percent is not None and progress.percent >= MIN_PERCENT:
        raw = _towards(end, now, elapsed, floor)
    elif end is not None:
        raw = _towards_hint(end, now, elapsed)
    else:
        raw = _untimed(elapsed)
    return Plan(_clamp(raw, hint, now, bounds, key, polls), end)


def failure_delay(*, headers: Mapping[str, str], now: datetime, failures: int, bounds: Bounds, key: str, polls: int) -> int:
    """The wait after the ``failures``-th consecutive failed read: ×2 backoff, the provider's hint a floor."""
    raw = max(bounds.min_delay, 1.0) * FAILURE_BACKOFF ** min(max(failures - 1, 0), 64)
    return _clamp(raw, delay_hint(headers, now), now, bounds, key, polls)
