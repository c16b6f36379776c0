"""A seeded fleet of simulated operations, and replays of polling schedules against it (P5, P6).

Everything here is pure Python on a fake clock: no sockets, no sleeps. Each operation's truth
(:class:`TrueOperation`) answers every read the schedule asks for with the body and headers a
provider would send at that moment; the watcher's schedule is driven through the real
``shared.core.decide.decide``.

Why the fleet looks like this (the constants below):

* **Durations** are log-normal, median 10 min, clipped to 1 min .. 8 h: ARM's async operations
  run from about a minute (a slot swap, a Log Analytics table change) through tens of minutes
  (an API Management update, a Dev Center environment) to hours (an APIM SKU change, a large
  restore); long-tailed, as deployment durations are.
* **A third report ``percentComplete``** (the seeds' apim and devcenter bodies carry it, the
  operationalinsights body does not). Real progress is not linear: it runs as
  ``100 * (t / D) ** g`` with ``g`` log-normal around 1 (some operations start slow, some
  finish slow), floored to a whole percent, and 40 % of reporters move in steps of 10 %.
  It never reads 100 before the operation has ended.
* **``startTime``** is in every body that reports progress and in half of the others (all
  three seeds' bodies may carry it). The watcher first sees an operation 0-20 s after it
  started (the pipeline enqueues after the initial response).
* **Retry-After**: 60 % of operations send one on every running answer, 10, 15, 20, 30 or
  60 s (ARM RPC: 10 s - 10 min; ARM RPs commonly send 10-60 s).
* **``expectedSeconds``**: a quarter of the operations carry the producer's estimate, the true
  duration times a log-normal error of 25 % (a pipeline's estimate from earlier runs of the
  same step).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MEDIAN_DURATION_S = 600.0
DURATION_SIGMA = 1.1
MIN_DURATION_S, MAX_DURATION_S = 60.0, 8 * 3600.0
PROGRESS_SHARE = 1 / 3
COARSE_SHARE = 0.4
SHAPE_SIGMA = 0.3
START_TIME_SHARE_WITHOUT_PROGRESS = 0.5
RETRY_AFTER_SHARE = 0.6
RETRY_AFTER_VALUES = (10, 15, 20, 30, 60)
HINT_SHARE = 0.25
HINT_SIGMA = 0.25
FIRST_SIGHTING_MAX_S = 20.0
TIMER_S = 30.0
AZURE_CORE_DEFAULT_S = 30.0


@dataclass(frozen=True)
class TrueOperation:
    """One operation's truth: when it started and ends, what its bodies and headers carry."""

    key: str
    started: datetime
    duration_s: float
    first_seen_s: float  # after the start
    progress_shape: float | None  # None: reports no percentComplete
    coarse: bool
    start_time_in_body: bool
    retry_after: int | None
    hint_s: int | None

    @property
    def ends(self) -> datetime:
        return self.started + timedelta(seconds=self.duration_s)

    @property
    def first_seen(self) -> datetime:
        return self.started + timedelta(seconds=self.first_seen_s)

    def percent(self, now: datetime) -> float | None:
        if self.progress_shape is None:
            return None
        if now >= self.ends:
            return 100.0
        fraction = max((now - self.started).total_seconds(), 0.0) / self.duration_s
        value = math.floor(100.0 * fraction ** self.progress_shape)
        if self.coarse:
            value = 10 * (value // 10)
        return float(min(value, 99))

    def body(self, now: datetime) -> dict[str, Any]:
        done = now >= self.ends
        body: dict[str, Any] = {"status": "Succeeded" if done else "InProgress"}
        percent = self.percent(now)
        if percent is not None:
            body["percentComplete"] = percent
        if self.start_time_in_body:
            body["startTime"] = self.started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return body

    def headers(self, now: datetime) -> dict[str, str]:
        if now >= self.ends or self.retry_after is None:
            return {}
        return {"retry-after": str(self.retry_after)}

    @property
    def kind(self) -> str:
        if self.progress_shape is not None:
            return "percentComplete"
        return "expectedSeconds" if self.hint_s is not None else "no percentComplete"


def make_fleet(count: int, seed: int = 5, *, start_spread_s: float = 3600.0) -> list[TrueOperation]:
    """``count`` operations started uniformly over ``start_spread_s`` seconds (seeded)."""
    rng = random.Random(seed)
    fleet = []
    for i in range(count):
        duration = min(max(rng.lognormvariate(math.log(MEDIAN_DURATION_S), DURATION_SIGMA), MIN_DURATION_S), MAX_DURATION_S)
        progress = rng.random() < PROGRESS_SHARE
        hint = rng.random() < HINT_SHARE
        fleet.append(TrueOperation(
            key=f"op-{seed}-{i:05d}",
            started=T0 + timedelta(seconds=rng.uniform(0, start_spread_s)),
            duration_s=duration,
            first_seen_s=rng.uniform(0, FIRST_SIGHTING_MAX_S),
            progress_shape=rng.lognormvariate(0.0, SHAPE_SIGMA) if progress else None,
            coarse=rng.random() < COARSE_SHARE,
            start_time_in_body=progress or rng.random() < START_TIME_SHARE_WITHOUT_PROGRESS,
            retry_after=rng.choice(RETRY_AFTER_VALUES) if rng.random() < RETRY_AFTER_SHARE else None,
            hint_s=max(1, round(duration * rng.lognormvariate(0.0, HINT_SIGMA))) if hint else None,
        ))
    return fleet


@dataclass(frozen=True)
class Replay:
    """One operation under one schedule: reads made and how late the end was noticed."""

    reads: int
    lag_s: float


def replay_timer(op: TrueOperation, interval_s: float = TIMER_S) -> Replay:
    """A Durable Functions monitor with a fixed timer: a read at the first sighting, then every ``interval_s``."""
    waited = max(op.duration_s - op.first_seen_s, 0.0)
    extra = math.ceil(waited / interval_s) if waited > 0 else 0
    return Replay(1 + extra, op.first_seen_s + extra * interval_s - op.duration_s)


def replay_azure_core(op: TrueOperation) -> Replay:
    """azure-core's LROPoller: wait Retry-After when the answer has one, else 30 s (``polling_interval``)."""
    return replay_timer(op, float(op.retry_after) if op.retry_after is not None else AZURE_CORE_DEFAULT_S)


def replay_previous(op: TrueOperation, min_delay: float = 5, max_delay: float = 300) -> Replay:
    """The schedule before issue 13: Retry-After exactly, else 5 s x 1.5 per poll, clamped to [5, 300]."""
    t, reads = op.first_seen_s, 1
    while t < op.duration_s:
        hint = op.retry_after if op.retry_after is not None else min_delay * 1.5 ** (reads - 1)
        t += math.ceil(min(max(hint, min_delay), max_delay))
        reads += 1
    return Replay(reads, t - op.duration_s)


class WatcherReplay:
    """Drives ``decide`` for one operation: each read answered by the operation's truth at that moment."""

    def __init__(self, settings_env: dict[str, str] | None = None) -> None:
        from shared.core.request_parser import RequestParser
        from shared.core.settings import load_settings

        self.settings = load_settings(settings_env or {}, require_storage=False)
        self._parser = RequestParser(self.settings)

    def request_for(self, op: TrueOperation, timeout_s: int = 2_592_000) -> Any:
        message: dict[str, Any] = {
            "source": "apim", "subscriptionId": "00000000-0000-0000-0000-000000000000", "location": "westus",
            "operationId": op.key, "timeoutSeconds": timeout_s,
        }
        if op.hint_s is not None:
            message["expectedSeconds"] = op.hint_s
        return self._parser.parse(json.dumps(message), op.first_seen)

    def run(self, op: TrueOperation, answer: Callable[[TrueOperation, datetime], Any] | None = None) -> Replay:
        from shared.core.decide import Publish, StatusRead, decide

        request = self.request_for(op)
        now, reads = op.first_seen, 0
        while True:
            read = answer(op, now) if answer else StatusRead(200, op.headers(now), json.dumps(op.body(now)).encode())
            decision = decide(request, read, now, self.settings)
            reads += 1
            if isinstance(decision, Publish):
                return Replay(reads, (now - op.ends).total_seconds())
            request = dataclasses.replace(request, poll=decision.poll)
            now += timedelta(seconds=decision.delay_seconds)


def summarise(replays: list[Replay]) -> dict[str, float]:
    lags = sorted(r.lag_s for r in replays)
    p95 = lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)] if lags else 0.0
    return {
        "operations": len(replays),
        "reads_per_op": sum(r.reads for r in replays) / max(len(replays), 1),
        "mean_lag_s": sum(lags) / max(len(lags), 1),
        "p95_lag_s": p95,
    }
