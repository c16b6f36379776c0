"""How close any schedule can come to issue 22's targets for operations without progress or a hint, on all four models.

Such an operation shows nothing but the time it has run and its Retry-After (the same on every answer), so a
schedule for it is one read list per Retry-After, the same on every fleet model (nothing tells the models
apart). The targets ask, on each model ``m``, for reads ``R_m(S) <= 1.05 x`` and mean lag ``L_m(S) <= 1.05 x``
the fixed 30 s timer's. For weights ``a_m, b_m >= 0`` (summing to 1) the Lagrangian

    g(a, b) = min over schedules S of  sum_m a_m (R_m(S) / R_m(timer) - 1.05) + b_m (L_m(S) / L_m(timer) - 1.05)

is computed exactly (up to the grid) by one dynamic programme per Retry-After over the four models' duration
laws (:mod:`tools.measure.bench.fleet`), in expectation, reading first at the sighting (0-20 s after the start,
the start known: a relaxation, the watcher knows less), never sooner than the floor (Retry-After,
POLL_MIN_DELAY_SECONDS 5 s) and never more than 300 s after a read. ``g > 0`` for some weights would prove that no
schedule meets all eight targets; ``g < 0`` at the best weights says one exists, and the minimising schedule
shows how close: its expected ratios per model are printed. Pure Python on a 2 s grid: seconds.

``python -m tools.measure.bench.untimed_bound [a_arm,a_floors,a_noisy,a_wide,b_arm,b_floors,b_noisy,b_wide]``
(default: the weights docs/schedule.md quotes, the best a random search found).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from tools.measure.bench import fleet, read_programme

#: The best weights a random search found (a scratch run, 2026-12-06: 240 evaluations of ``g`` from two starts):
#: reads of arm-mix, floors, noisy, wide; then their lags. g = -0.022 there: the targets are feasible, narrowly.
WEIGHTS = (0.2818, 0.1379, 0.0248, 0.0164, 0.1731, 0.0376, 0.0671, 0.2614)
TARGET = 1.05
MIN_DELAY_S = 5.0
CEILING_S = 300.0
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Grid:
    """Read times ``k * step`` from the operation's start, up to a day and a bit."""

    step: float = 2.0
    span: float = 86400.0 + 600.0

    @property
    def times(self) -> list[float]:
        return [self.step * k for k in range(int(self.span / self.step) + 2)]


def end_masses(model: fleet.FleetModel, times: Sequence[float]) -> list[float]:
    """P(the end lies in (times[k], times[k+1]]): the model's log-normal, clipped (the clipped mass at the clip)."""
    mu, sigma = math.log(model.median_duration_s), model.duration_sigma

    def cdf(t: float) -> float:
        if t < model.min_duration_s:
            return 0.0
        if t >= model.max_duration_s:
            return 1.0
        return _NORMAL.cdf((math.log(t) - mu) / sigma)

    values = [cdf(t) for t in times]
    return [b - a for a, b in zip(values, values[1:])]


def floor_shares(model: fleet.FleetModel) -> dict[float, float]:
    """The share of the model's operations per floor: its Retry-After values, else POLL_MIN_DELAY_SECONDS."""
    shares = {MIN_DELAY_S: 1.0 - model.retry_after_share}
    for value in model.retry_after_values:
        key = max(float(value), MIN_DELAY_S)
        shares[key] = shares.get(key, 0.0) + model.retry_after_share / len(model.retry_after_values)
    return shares


def _sightings(grid: Grid) -> range:
    return range(int(fleet.FIRST_SIGHTING_MAX_S / grid.step) + 1)  # the first read, uniform over 0..20 s


def timer_figures(masses: Sequence[float], grid: Grid) -> tuple[float, float]:
    """The fixed 30 s timer's expected reads and lag per operation."""
    times = grid.times
    reads = lag = 0.0
    for k in _sightings(grid):
        for cell, mass in enumerate(masses):
            end = times[cell] + grid.step / 2
            extra = math.ceil(max(end - times[k], 0.0) / fleet.TIMER_S)
            reads += mass * (1 + extra)
            lag += mass * (times[k] + fleet.TIMER_S * extra - end)
    n = len(_sightings(grid))
    return reads / n, lag / n


def bound(weights: Sequence[float] = WEIGHTS, grid: Grid | None = None,
          models: Sequence[fleet.FleetModel] = fleet.MODELS) -> dict[str, object]:
    """``g(a, b)`` and the minimising schedule's expected reads and lag ratios per model."""
    grid = grid or Grid()
    times = grid.times
    names = [m.name for m in models]
    masses = {m.name: end_masses(m, times) for m in models}
    prefix = {name: read_programme.prefix(masses[name], times) for name in names}
    timers = {name: timer_figures(masses[name], grid) for name in names}
    shares = {m.name: floor_shares(m) for m in models}
    reads_w = dict(zip(names, weights[: len(names)]))
    lag_w = dict(zip(names, weights[len(names):]))
    value = -TARGET * (sum(reads_w.values()) + sum(lag_w.values()))
    reads = dict.fromkeys(names, 0.0)
    lags = dict.fromkeys(names, 0.0)
    sightings = _sightings(grid)

    def lag_between(name: str, k: int, j: int) -> float:  # ends in cells k..j-1, noticed by the read at j
        return read_programme.late(prefix[name], times, k, j)

    for floor in sorted({f for name in names for f in shares[name]}):
        alive = [0.0] * len(times)
        ends = [0.0] * (len(times) - 1)
        for name in names:
            share = shares[name].get(floor, 0.0)
            cum = prefix[name][0]
            for k in range(len(times)):
                alive[k] += reads_w[name] * share * (1.0 - cum[k]) / timers[name][0]
            for k, mass in enumerate(masses[name]):
                ends[k] += lag_w[name] * share * mass / timers[name][1]
        cost, following = read_programme.best_reads(alive, ends, times, floor, CEILING_S)
        for start in sightings:  # the first read, at the sighting; then the schedule
            value += cost[start] / len(sightings)
            for name in names:
                share = shares[name].get(floor, 0.0)
                if not share:
                    continue
                got_reads, got_lag = 1.0, lag_between(name, 0, start)
                value += share * (reads_w[name] / timers[name][0] + lag_w[name] / timers[name][1] * got_lag) / len(sightings)
                k = start
                while following[k] >= 0 and prefix[name][0][k] < 1.0:
                    j = following[k]
                    got_reads += 1.0 - prefix[name][0][k]
                    got_lag += lag_between(name, k, j)
                    k = j
                reads[name] += share * got_reads / len(sightings)
                lags[name] += share * got_lag / len(sightings)
    return {"g": value, "ratios": {name: (reads[name] / timers[name][0], lags[name] / timers[name][1]) for name in names}}


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a minute of CPU: run by hand
    args = list(sys.argv[1:] if argv is None else argv)
    weights = tuple(float(w) for w in args[0].split(",")) if args else WEIGHTS
    result = bound(weights)
    print(f"g = {result['g']:+.4f} (> 0 would prove the eight targets cannot all be met)")
    ratios = result["ratios"]
    assert isinstance(ratios, dict)
    for name, (reads, lag) in ratios.items():
        print(f"{name}: the minimising schedule reads {reads:.3f}x at lag {lag:.3f}x of the fixed 30 s timer (expected)")


if __name__ == "__main__":  # pragma: no cover
    main()
