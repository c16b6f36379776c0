"""When to read a status again: every re-enqueue delay is decided here. Pure: no IO, no clock.

A status read costs a function execution, three queue transactions and (for ARM sources)
one read of the subscription's ARM budget; polling late costs detection lag. The schedule
reads densely only where the end is likely (what predicts it: :mod:`shared.core.end_estimate`):

* **A band from progress.** A ``percentComplete`` reading gives a band of ends (the reading's
  resolution, the rate since the start and the rate since the last change). Before the band's
  earliest end the watcher waits :data:`APPROACH` of the time to it (at most :data:`MAX_GROWTH`
  times the time run so far) and predicts again; close to the band it reads at the likely end
  (a read before the band can only find the operation running), and inside it every
  :data:`IN_BAND_SECONDS` while the likely end is farther; past its latest end (or at 100 % and
  still running) the prediction was wrong and it polls as if nothing predicted the end.
* **Floors near the end.** A floor (``Retry-After``, ``POLL_MIN_DELAY_SECONDS``) means a read that
  comes too early costs a whole floor more: the approach stops :data:`FLOOR_LANDING` floors before
  the band (the landing read could not come sooner), and no read goes before the band.
* **The producer's hint.** ``expectedSeconds`` gives a law of ends; the watcher reads where an
  end is likely, at a density that is the square root of the chance of ending per second (the
  optimal inspection density, Keller 1974), scaled so reads near a 10-minute hint's end come
  :data:`HINT_SPACING_SECONDS` apart. Past every end the law allows, it polls as if nothing
  predicted the end.
* **No prediction.** Nothing says when the end comes, so the watcher reads like a timer a little
  faster than 30 s, stretching slowly with the time running:
  ``UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER`` (26 s at the start,
  32 s after a day).
* **Floors and ceilings.** ``Retry-After`` (any of the three hint headers) and
  ``POLL_MIN_DELAY_SECONDS`` are floors, never targets; ``POLL_MAX_DELAY_SECONDS`` and the
  deadline are ceilings. Up to :data:`JITTER` is added, a hash of the operation's status URL
  and poll number, so operations enqueued together drift apart while tests stay exact.
* **ARM read budget.** Every wait is multiplied by ``Bounds.stretch``, which
  :mod:`shared.core.arm_budget` (the one owner of the budget) derives from the read's
  remaining-reads headers; 1 when the budget is not low.
* **Failed reads** back off ×2 per consecutive failure from ``POLL_MIN_DELAY_SECONDS``,
  with the provider's hint as a floor (a 429's ``Retry-After`` is kept).

The constants were chosen with the fleet replays of ``make bench`` (P5: ``tools/measure/bench/p5.py``
on the four fleet models of ``tools/measure/bench/fleet.py``; P6 for the budget).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.core.end_estimate import (
    HINT_SIGMA,
    MIN_PERCENT,
    Band,
    Progress,
    Trend,
    hint_hazard,
    predicted_end,
    progress_band,
    progress_of,
    start_of,
)
from shared.core.retry_after import delay_hint

__all__ = ["Plan", "Progress", "Trend", "progress_of", "predicted_end", "running_delay", "failure_delay", "jitter_factor", "Bounds"]

# Which figure chose each constant: P5 (``make bench``, tools/measure/bench/p5.py) on its four fleet models
# (arm-mix, floors, noisy, wide, 3,000 operations each, as P5 ran on 2026-12-06); "a -> b" is the class's
# reads/lag against the fixed 30 s timer when the constant alone is changed (issue 22). Other draws of 3,000
# move a class's reads by up to 0.06 and its lag by up to 0.19 (the hint class), more than several of these steps: P5
# now replays 10,000 per model, and docs/schedule.md says which targets hold on other draws.
#: Before the band, wait this fraction of the time to its earliest end, then predict again.
#: P5 (percentComplete, reads/lag): 0.35 -> floors 0.59/0.92, noisy 0.31/1.27; 0.5 -> 0.52/0.94, 0.27/1.51;
#: 0.7 -> 0.46/1.02, 0.24/1.89: the trade between those two misses; at 0.5 arm-mix (0.30/0.69) and wide
#: (0.19/0.75) are inside the target with room.
APPROACH = 0.5
#: ... but never more than this multiple of the time the operation has run so far (a young estimate is rough).
#: P5: 3 -> floors reads 0.52x -> 0.50x, noisy lag 1.51x -> 1.54x.
MAX_GROWTH = 2.0
#: Within this many seconds of the band's earliest end, the watcher lands (reads at the likely end).
#: P5: 20 -> floors 0.53/0.93, arm-mix 0.31/0.67; 80 -> floors 0.46/1.02, noisy lag 1.57x.
LAND_WINDOW_SECONDS = 40.0
#: Inside the band: read every this many seconds when the likely end is farther (before the band, where
#: nothing can end yet, the watcher reads at the likely end instead: P5 without that, floors 0.57/0.99
#: against 0.52/0.94, arm-mix 0.31/0.71 against 0.30/0.69). Below the timer's 30 s,
#: whose mean lag (15 s) it must match while some operations' floors force longer waits.
#: P5: 30 -> noisy lag 1.51x -> 1.55x, wide 0.75x -> 0.79x; 18 -> noisy 1.43x for +0.01-0.02x of the reads.
IN_BAND_SECONDS = 24.0
#: Approaching stops this many floors before the band: halving the time left from closer would leave less
#: than a floor, and the landing read would be a floor late. 2 is the rule's own number (half of 2 floors is
#: one floor, with APPROACH 0.5), not a fitted one. (Landing at the band's latest end when a floor is wider
#: than the band was tried: P5 floors reads 0.52x -> 0.51x, lag 0.94x -> 0.99x; arm-mix lag 0.69x -> 0.73x.)
FLOOR_LANDING = 2.0
#: How far past the predicted end the landing read goes: one second, the resolution of a wait.
LAND_MARGIN_SECONDS = 1.0
#: With only the producer's expectedSeconds: reads this far apart near a 10-minute hint's end, and
#: (hint / 10 min) ** HINT_SPACING_POWER times that near other hints' ends (a longer operation's reads are
#: spread over a wider band: at a fixed spacing a day-long hint would cost more than the timer).
#: P5 (expectedSeconds, reads/lag): 17 s -> arm-mix 0.54/0.87, noisy 0.50/1.02, wide 0.47/1.03; 20 s -> 0.47/0.96,
#: 0.43/1.13, 0.41/1.14; 23 s -> arm-mix 0.43/1.07, floors 0.52/1.00: no spacing meets more than one model.
#: Power 0.15: 0 (the same spacing for every hint) -> arm-mix 0.53/0.94, wide 0.57/1.14; 0.25 -> noisy lag 1.33x.
HINT_SPACING_SECONDS = 20.0
HINT_SPACING_POWER = 0.15
#: No prediction: wait UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER: 26 s at the start,
#: 28 s after an hour, 32 s after a day: a timer a little faster than 30 s where most operations end (so that
#: the mean lag comes out at the timer's although some operations' Retry-After of 60 s makes them wait longer),
#: stretching slowly so that long operations cost no more reads than the timer's.
#: P5 (no percentComplete, reads/lag): 26.3 s at 10 min (this curve): arm-mix 1.01/1.04, floors 1.04/1.02,
#: noisy 1.02/1.04, wide 0.96/1.10; 26.0 s: floors reads 1.05x; 27 s: arm-mix lag 1.08x. The curve of issue 13
#: (3.2 * (t + 200) ** 0.3, 16 s -> 98 s) gave floors 1.28/0.88 and wide 0.71/1.07: no curve of either family
#: puts wide's lag inside 1.05x without taking floors' reads over it (docs/schedule.md).
UNTIMED_K = 18.2
UNTIMED_OFFSET_SECONDS = 1000.0
UNTIMED_POWER = 0.05
#: Failed reads: x2 per consecutive failure (no P5 figure: azure-core's retry policy doubles too).
FAILURE_BACKOFF = 2.0
#: Up to this fraction is added to every wait, deterministically per (operation, poll): enough that a
#: thousand requests enqueued together spread over a 26 s wait's 1.3 s (no P5 figure: the replay is per operation).
JITTER = 0.05


@dataclass(frozen=True)
class Plan:
    """The wait before the next read, and the end it aims at (None when nothing predicts it)."""

    delay_seconds: int
    expected_end: datetime | None = None


def jitter_factor(key: str, polls: int) -> float:
    """1 + a deterministic fraction in [0, JITTER) for this operation and poll."""
    digest = hashlib.blake2b(f"{key}|{polls}".encode(), digest_size=8).digest()
    return 1.0 + JITTER * (int.from_bytes(digest, "big") / 2.0**64)


def _untimed(elapsed: float) -> float:
    return float(UNTIMED_K * (max(elapsed, 0.0) + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER)  # float ** float is Any to mypy


def _towards_band(band: Band, elapsed: float, floor: float) -> float:
    """The wait towards a band of ends predicted from progress: approach it, land in it, or poll it overdue.

    ``floor`` is the shortest wait allowed (the provider's hint, POLL_MIN_DELAY_SECONDS). Approaching by
    :data:`APPROACH` of the time to the band must not put a read less than a floor before it, from where
    the landing read could only come a floor later: within :data:`FLOOR_LANDING` floors the watcher lands,
    at the likely end: a read before the band's earliest end could only find the operation running, and
    with a floor the next one would come a floor later.
    """
    to_earliest = band.earliest - elapsed
    if to_earliest > max(LAND_WINDOW_SECONDS, FLOOR_LANDING * floor):
        return min(APPROACH * to_earliest, MAX_GROWTH * max(elapsed, 1.0))
    to_latest = band.latest - elapsed
    if to_latest <= 0:
        return _untimed(elapsed)  # past every end the reading allows: the prediction was wrong
    to_likely = band.likely - elapsed
    if to_earliest > 0 or 0 < to_likely < max(IN_BAND_SECONDS, floor):
        return to_likely + LAND_MARGIN_SECONDS  # before the band nothing can end: land at the likely end
    return IN_BAND_SECONDS


def _towards_hint(elapsed: float, hint: float, ceiling: float) -> float:
    """The wait until the read density ``sqrt(scale * hazard / 2)`` adds up to one read.

    Near the hinted end the hazard is about ``1 / (HINT_SIGMA * hint)``, so ``scale`` puts reads there
    ``spacing`` apart; where an end is unlikely (far before the hint) the density is low and the watcher
    skips ahead; past every end the law allows it polls as if nothing predicted the end.
    """
    spacing = HINT_SPACING_SECONDS * (hint / 600.0) ** HINT_SPACING_POWER
    scale = 2.0 * HINT_SIGMA * hint / spacing**2
    waited = 0.0
    total = 0.0
    while waited < ceiling:
        step = max(1.0, 0.05 * (elapsed + waited))
        hazard = hint_hazard(elapsed + waited + step / 2, hint)
        if hazard is None:
            return max(waited, _untimed(elapsed + waited))
        density = math.sqrt(scale * hazard / 2.0)  # reads per second here
        if total + density * step >= 1.0:
            return waited + (1.0 - total) / density
        total += density * step
        waited += step
    return waited


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
    trend: Trend | None = None,
) -> Plan:
    """The wait after a read that found the operation still running (``polls`` counts that read).

    ``progress`` is the read's :func:`~shared.core.end_estimate.progress_of`, parsed once by the caller;
    ``trend`` is the poll's progress history after it (:func:`shared.core.end_estimate.next_trend`).
    """
    rate = trend.rate if trend is not None and trend.percent == progress.percent else None
    elapsed = max((now - start_of(progress, now, first_seen_at)).total_seconds(), 0.0)
    hint = delay_hint(headers, now)
    floor = min(max(bounds.min_delay, hint or 0.0), bounds.max_delay)
    percent = progress.percent
    if percent is not None and (percent >= MIN_PERCENT or expected_seconds is None):
        band = progress_band(percent, elapsed, rate)
        raw = _towards_band(band, elapsed, floor) if band is not None else _untimed(elapsed)
    elif expected_seconds is not None:
        raw = _towards_hint(elapsed, float(expected_seconds), bounds.max_delay)
    else:
        raw = _untimed(elapsed)
    end = predicted_end(progress, now, first_seen_at, expected_seconds, rate)
    return Plan(_clamp(raw, hint, now, bounds, key, polls), end)


def failure_delay(*, headers: Mapping[str, str], now: datetime, failures: int, bounds: Bounds, key: str, polls: int) -> int:
    """The wait after the ``failures``-th consecutive failed read: ×2 backoff, the provider's hint a floor."""
    raw = max(bounds.min_delay, 1.0) * FAILURE_BACKOFF ** min(max(failures - 1, 0), 64)
    return _clamp(raw, delay_hint(headers, now), now, bounds, key, polls)
