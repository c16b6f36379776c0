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
FIRST_SIGHTING_MAX_S = 20.0
TIMER_S = 30.0
AZURE_CORE_DEFAULT_S = 30.0


@dataclass(frozen=True)
class FleetModel:
    """How one simulated fleet is drawn; every model has its own seed (see :data:`MODELS`)."""

    name: str
    seed: int
    why: str
    median_duration_s: float = 600.0
    duration_sigma: float = 1.1
    min_duration_s: float = 60.0
    max_duration_s: float = 8 * 3600.0
    progress_share: float = 1 / 3
    coarse_share: float = 0.4  # of reporters: progress in steps of coarse_step
    coarse_step: int = 10
    shape_sigma: float = 0.3  # progress = 100 * (t / D) ** g, g log-normal(0, shape_sigma)
    phases: int = 0  # > 0: progress moves through 2..phases phases of random length (stalls and bursts)
    start_time_share_without_progress: float = 0.5
    retry_after_share: float = 0.6  # of all operations; reporters may differ:
    retry_after_share_with_progress: float | None = None
    retry_after_values: tuple[int, ...] = (10, 15, 20, 30, 60)
    hint_share: float = 0.25
    hint_sigma: float = 0.25  # expectedSeconds = D * log-normal(0, hint_sigma) ...
    hint_stale_share: float = 0.0  # ... or, for this share of hints, D * a factor between 1/hint_stale_factor and hint_stale_factor
    hint_stale_factor: float = 1.0

    def describe(self) -> str:
        return self.why


#: The fleet the schedule of issue 13 was built on: ARM's async operations as a pipeline sees them.
ARM_MIX = FleetModel(
    "arm-mix", 5,
    "log-normal durations, median 10 min, 1 min..8 h; 1/3 report percentComplete (40 % in steps of 10); "
    "60 % send Retry-After 10-60 s; 1/4 carry expectedSeconds with a 25 % error",
)
#: Resource providers that report progress *and* ask for long floors on every answer (APIM,
#: Dev Center: Retry-After 15-60 s), on shorter operations, so most of the lag is decided near the end.
FLOORS = FleetModel(
    "floors", 11,
    "log-normal durations, median 4 min, 1 min..2 h; 1/2 report percentComplete, 90 % of them with "
    "Retry-After 15-60 s (40 % of the others); 1/4 expectedSeconds with a 25 % error",
    median_duration_s=240.0, duration_sigma=0.8, max_duration_s=2 * 3600.0, progress_share=0.5,
    retry_after_share=0.4, retry_after_share_with_progress=0.9, retry_after_values=(15, 20, 30, 30, 60),
)
#: Progress that says little: most reporters move in steps of 10, through phases of random
#: length (a long copy, then a quick swap: equal shares of the percentage); hints are rough.
NOISY = FleetModel(
    "noisy", 23,
    "log-normal durations, median 15 min, 1 min..8 h; 1/2 report percentComplete, 70 % in steps of 10, "
    "through 2-4 phases of random length; 50 % Retry-After 10-60 s; 1/4 expectedSeconds, 40 % error",
    median_duration_s=900.0, progress_share=0.5, coarse_share=0.7, phases=4,
    retry_after_share=0.5, hint_sigma=0.4,
)
#: Durations over four orders of magnitude (a 10 s config change to a day-long restore), and
#: producers' hints wrong both ways: a fifth of them stale, off by up to 3x early or late.
WIDE = FleetModel(
    "wide", 37,
    "log-normal durations, median 5 min, sigma 2, 10 s..24 h; 1/4 report percentComplete; 60 % Retry-After "
    "10-60 s; 1/3 expectedSeconds: 30 % error, a fifth of them off by up to 3x either way",
    median_duration_s=300.0, duration_sigma=2.0, min_duration_s=10.0, max_duration_s=86400.0,
    progress_share=0.25, hint_share=1 / 3, hint_sigma=0.3, hint_stale_share=0.2, hint_stale_factor=3.0,
)
MODELS: tuple[FleetModel, ...] = (ARM_MIX, FLOORS, NOISY, WIDE)


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
    coarse_step: int = 10
    #: (fraction of the duration, fraction of the progress) knots after (0, 0), ending at (1, 1); empty: one smooth curve
    knots: tuple[tuple[float, float], ...] = ()

    @property
    def ends(self) -> datetime:
        return self.started + timedelta(seconds=self.duration_s)

    @property
    def first_seen(self) -> datetime:
        return self.started + timedelta(seconds=self.first_seen_s)

    def _fraction_done(self, fraction: float) -> float:
        if not self.knots:
            return fraction ** (self.progress_shape or 1.0)
        t0, p0 = 0.0, 0.0
        for t1, p1 in self.knots:
            if fraction <= t1:
                local = (fraction - t0) / (t1 - t0) if t1 > t0 else 1.0
                return p0 + (p1 - p0) * local  # steady within a phase
            t0, p0 = t1, p1
        return 1.0

    def percent(self, now: datetime) -> float | None:
        if self.progress_shape is None:
            return None
        if now >= self.ends:
            return 100.0
        fraction = max((now - self.started).total_seconds(), 0.0) / self.duration_s
        value = math.floor(100.0 * self._fraction_done(fraction))
        if self.coarse:
            value = self.coarse_step * (value // self.coarse_step)
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


def make_fleet(count: int, seed: int | None = None, *, start_spread_s: float = 3600.0,
               model: FleetModel = ARM_MIX) -> list[TrueOperation]:
    """``count`` operations of ``model`` started uniformly over ``start_spread_s`` seconds (``seed``: the model's)."""
    seed = model.seed if seed is None else seed
    rng = random.Random(seed)
    fleet = []
    for i in range(count):
        duration = min(max(rng.lognormvariate(math.log(model.median_duration_s), model.duration_sigma),
                           model.min_duration_s), model.max_duration_s)
        progress = rng.random() < model.progress_share
        hint = rng.random() < model.hint_share
        started = T0 + timedelta(seconds=rng.uniform(0, start_spread_s))
        first_seen = rng.uniform(0, FIRST_SIGHTING_MAX_S)
        shape = rng.lognormvariate(0.0, model.shape_sigma) if progress else None
        coarse = rng.random() < model.coarse_share
        start_time = progress or rng.random() < model.start_time_share_without_progress
        ra_share = model.retry_after_share
        if progress and model.retry_after_share_with_progress is not None:
            ra_share = model.retry_after_share_with_progress
        retry_after = rng.choice(model.retry_after_values) if rng.random() < ra_share else None
        error = rng.lognormvariate(0.0, model.hint_sigma) if hint else 1.0
        # the draws above are the issue-13 fleet's, in its order (ARM_MIX, seed 5, is that fleet); new features draw after
        if hint and model.hint_stale_share and rng.random() < model.hint_stale_share:
            error = math.exp(rng.uniform(-1.0, 1.0) * math.log(model.hint_stale_factor))
        knots: tuple[tuple[float, float], ...] = ()
        if progress and model.phases:
            n = rng.randint(2, model.phases)
            cuts = sorted(rng.random() for _ in range(n - 1))
            knots = tuple((t, (k + 1) / n) for k, t in enumerate(cuts)) + ((1.0, 1.0),)
        fleet.append(TrueOperation(
            key=f"op-{seed}-{i:05d}",
            started=started,
            duration_s=duration,
            first_seen_s=first_seen,
            progress_shape=shape,
            coarse=coarse,
            start_time_in_body=start_time,
            retry_after=retry_after,
            hint_s=max(1, round(duration * error)) if hint else None,
            coarse_step=model.coarse_step,
            knots=knots,
        ))
    return fleet


@dataclass(frozen=True)
class Replay:
    """One operation under one schedule: reads made and how late the end was noticed."""

    reads: int
    lag_s: float


def replay_timer(op: TrueOperation, interval_s: float = TIMER_S) -> Replay:
    """A Durable Functions monitor with a fixed timer: a read at the first sighting, then every ``interval_s``,
    ignoring Retry-After as fixed-timer pollers do (``az ... wait``, a pipeline's sleep loop): P5's reference.
    The watcher honours Retry-After; :func:`replay_timer_honouring_floors` is the like-for-like timer."""
    waited = max(op.duration_s - op.first_seen_s, 0.0)
    extra = math.ceil(waited / interval_s) if waited > 0 else 0
    return Replay(1 + extra, op.first_seen_s + extra * interval_s - op.duration_s)


def replay_timer_honouring_floors(op: TrueOperation) -> Replay:
    """The fixed 30 s timer, waiting longer when the provider asks (Retry-After above 30 s), never shorter."""
    return replay_timer(op, max(TIMER_S, float(op.retry_after or 0)))


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
        from shared.core.decide import Publish, decide
        from shared.core.interpretation import StatusAnswer

        request = self.request_for(op)
        now, reads = op.first_seen, 0
        while True:
            got = answer(op, now) if answer else StatusAnswer(200, op.headers(now), json.dumps(op.body(now)).encode())
            decision = decide(request, got, now, self.settings)
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
