"""When a running operation should end, from what its reads show. Pure: no IO, no clock.

* **From ``percentComplete``**: a *band* of ends, not one instant. A reading ``p`` after ``t`` seconds
  says the operation is between ``p`` and the next step (providers round down; a multiple of
  :data:`COARSE_STEP` is taken as a coarse step), so at the average rate since the start it ends
  between ``t * 100 / (p + step)`` (the earliest) and ``t * 100 / p`` (the latest), most likely at
  ``t * 100 / (p + step / 2)``. Progress is rarely steady, so the rate since the last change of the
  percentage (the poll's :class:`Trend`) predicts too; the band spans both predictions (P5 without
  the trend: noisy's percentComplete lag 1.51x -> 1.80x of the timer's, wide's 0.75x -> 0.86x).
* **From ``expectedSeconds``** (the producer's estimate of the whole duration): a *law* of ends,
  log-normal around the hint (:data:`HINT_SIGMA`) with a share (:data:`HINT_STALE_SHARE`) of stale
  hints anywhere within :data:`HINT_STALE_FACTOR` of it either way; :func:`hint_hazard` is the chance per
  second that an operation still running ends now.

Which P5 figure chose each constant: ``shared/core/schedule.py`` (the waits) and the comments here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Progress", "Trend", "Band", "parse_time", "progress_of", "next_trend", "start_of", "progress_band", "hint_hazard", "predicted_end"]

#: Progress below this percentage predicts nothing (0 % says only "not started"; 1 % is the first that does).
MIN_PERCENT = 1.0
#: A percentage that is a multiple of this is taken as a coarse step of this size (the steps the seeds'
#: apim and devcenter bodies use; P5's coarse reporters move in steps of 10). 0 % is read as "below the
#: first step": an operation at 0 % after t seconds is taken to need at least 10 t in all (P5: treating 0 %
#: as no prediction instead costs arm-mix 0.30x -> 0.32x of the timer's reads, noisy 0.27x -> 0.31x).
COARSE_STEP = 10.0
#: The producer's hint: log-normal error (sigma of the logarithm) ...
#: P5 (expectedSeconds, 0.25 -> 0.3 -> 0.35 at the same spacing): arm-mix reads 0.43x / 0.47x / 0.52x,
#: noisy lag 1.32x / 1.13x / 1.09x, floors reads 0.52x / 0.57x / 0.62x: a wider law reads earlier and more,
#: and no one width suits the bench's hints, 25 % off (arm-mix, floors) and 40 % (noisy).
HINT_SIGMA = 0.3
#: ... and this share of hints stale, the end anywhere within HINT_STALE_FACTOR of the hint either way.
#: P5: 0 -> wide lag 1.17x; 0.1 -> wide 1.13x, arm-mix 1.04x (over its target), noisy 1.18x.
HINT_STALE_SHARE = 0.05
HINT_STALE_FACTOR = 3.0
#: The fastest rate a trend keeps, percent per second (what ``poll.percentRate`` may hold): two reads a
#: millisecond apart must not write a rate the request parser would refuse on the next read.
MAX_RATE = 100.0
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Progress:
    """What a status body says about how far the operation is."""

    percent: float | None = None  # 0..100, None when absent or not a number
    started_at: datetime | None = None  # the body's startTime, when it parses


@dataclass(frozen=True)
class Trend:
    """The progress history a poll carries: the last percentage, when it was first read, and the rate
    (percent per second) between the first reads of the last two percentages (None until it changed)."""

    percent: float | None = None
    seen_at: datetime | None = None
    rate: float | None = None


@dataclass(frozen=True)
class Band:
    """Seconds from the start to the earliest, the likely and the latest end a reading allows."""

    earliest: float
    likely: float
    latest: float


def parse_time(value: Any) -> datetime | None:
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


def next_trend(before: Trend, percent: float | None, now: datetime) -> Trend:
    """The trend after a read showing ``percent``: a new percentage is dated now, and a higher one gives
    the rate since the previous one was first read; a lower one (a restart) or none forgets the rate."""
    if percent is None:
        return Trend()
    seen = before.seen_at if before.seen_at is not None and before.seen_at <= now else None
    if before.percent is None or seen is None or percent < before.percent:
        return Trend(percent, now if seen is None or percent != before.percent else seen, None)
    if percent == before.percent:
        return Trend(percent, seen, before.rate)
    took = (now - seen).total_seconds()
    rate = min((percent - before.percent) / took, MAX_RATE) if took > 0 else before.rate
    return Trend(percent, now, rate)


def start_of(progress: Progress, now: datetime, first_seen_at: datetime) -> datetime:
    """The body's startTime, unless absent or impossible (in the future, or a month before the first sighting)."""
    start = progress.started_at
    if start is None or start > now or start < first_seen_at - timedelta(days=30):
        return first_seen_at
    return start


def progress_band(percent: float, elapsed: float, rate: float | None) -> Band | None:
    """The ends a reading of ``percent`` after ``elapsed`` seconds allows; None at 100 % (it should be over)."""
    if percent >= 100:
        return None
    t = max(elapsed, 1.0)
    if percent < MIN_PERCENT:  # below the first step: at least COARSE_STEP times longer in all
        whole = t * 100.0 / COARSE_STEP
        return Band(whole, whole, whole)
    step = COARSE_STEP if percent % COARSE_STEP == 0 else 1.0
    earliest = t * 100.0 / min(percent + step, 100.0)
    likely = t * 100.0 / min(percent + step / 2, 100.0)
    latest = t * 100.0 / percent
    if rate is not None and math.isfinite(rate) and rate > 0:  # the rate since the last change predicts too
        earliest = min(earliest, t + max(100.0 - percent - step, 0.0) / rate)
        recent = t + max(100.0 - percent - step / 2, 0.0) / rate
        likely, latest = min(likely, recent), max(latest, recent)
    return Band(earliest, likely, latest)


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / _SQRT2)


def hint_hazard(elapsed: float, hint: float) -> float | None:
    """The chance per second that an operation running for ``elapsed`` seconds, hinted to take ``hint``
    in all, ends now (see the module docstring); None once past every end the law allows."""
    t = max(elapsed, 1e-3)
    z = math.log(t / hint)
    stale = math.log(HINT_STALE_FACTOR)
    if z > stale + 8 * HINT_SIGMA:
        return None
    survive = (1 - HINT_STALE_SHARE) * _normal_tail(z / HINT_SIGMA)
    density = (1 - HINT_STALE_SHARE) * math.exp(-0.5 * (z / HINT_SIGMA) ** 2) / (HINT_SIGMA * math.sqrt(2 * math.pi) * t)
    if z <= stale:
        survive += HINT_STALE_SHARE * min(1.0, (stale - z) / (2 * stale))
        density += HINT_STALE_SHARE / (2 * stale * t) if z >= -stale else 0.0
    return density / survive if survive > 1e-12 else None


def predicted_end(
    progress: Progress, now: datetime, first_seen_at: datetime, expected_seconds: int | None, rate: float | None = None
) -> datetime | None:
    """The likely end: from progress (the band's likely end), else the producer's hint, else None."""
    start = start_of(progress, now, first_seen_at)
    elapsed = max((now - start).total_seconds(), 0.0)
    if progress.percent is not None and progress.percent >= MIN_PERCENT:
        band = progress_band(progress.percent, elapsed, rate)
        likely = band.likely if band is not None else elapsed
        return start + timedelta(seconds=min(likely, 10 * 365 * 86400.0))
    if expected_seconds is not None:
        return start + timedelta(seconds=expected_seconds)
    return None
