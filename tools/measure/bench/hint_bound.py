"""How few reads any schedule needs for a given lag on the ``expectedSeconds`` class of a P5 fleet model.

Between reads nothing but the hint says when an operation ends (a read answers only "still running",
Retry-After is the same on every answer), so the best schedule for one operation is a fixed list of
read times, and for a *known* law of durations and hint errors it can be computed exactly: a dynamic
programme over read times that minimises expected reads + ``mu`` x expected lag, reading first at the
sighting, never sooner than the operation's Retry-After after a read, never more than the ceiling
(300 s) after one. Summed over the model's hinted operations, each ``mu`` gives one point of the lowest
curve of (reads, lag) any schedule can reach on that model when it knows the model's true law (its
durations, its hint errors); the watcher does not know them. Pure Python on a coarse grid: minutes.

``python -m tools.measure.bench.hint_bound floors 0.3,0.4`` prints, per ``mu``, the expected reads and
mean lag as ratios to the fixed 30 s timer on the same operations. ``python -m tools.measure.bench.hint_bound
assumed 0.3,0.05,3,600,1.5 0.7 0.75`` computes the best list under one *assumed* law instead (hint error sigma,
stale share and factor, duration median and sigma; lag weighed ``0.7 * (hint / 10 min) ** 0.75``) and replays it
on each model's hinted operations against their true ends: what one law for every fleet costs.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from statistics import NormalDist

from tools.measure.bench import fleet, read_programme

_NORMAL = NormalDist()


def _likelihood(model: fleet.FleetModel, hint: float, end: float) -> float:
    """How likely the hint is for an operation ending at ``end`` (up to a constant)."""
    z = math.log(hint / end)
    likely = math.exp(-0.5 * (z / model.hint_sigma) ** 2) / model.hint_sigma
    if model.hint_stale_share:
        stale = math.log(model.hint_stale_factor)
        likely = (1 - model.hint_stale_share) * likely + model.hint_stale_share * (
            math.sqrt(2 * math.pi) / (2 * stale) if abs(z) <= stale else 0.0)
    return likely


def _posterior(model: fleet.FleetModel, hint: float, ends: list[float], step: float) -> list[float]:
    """P(the end lies in each grid cell | the hint), from the model's duration law (log-normal, clipped to
    [min, max]: the clipped mass sits at the clip) and its hint-error law."""
    mu, sigma = math.log(model.median_duration_s), model.duration_sigma
    weights = [math.exp(-0.5 * ((math.log(end) - mu) / sigma) ** 2) / end * step * _likelihood(model, hint, end)
               if model.min_duration_s <= end <= model.max_duration_s else 0.0 for end in ends]
    scale = sigma * math.sqrt(2 * math.pi)  # the density above integrates to this
    for edge, below in ((model.min_duration_s, True), (model.max_duration_s, False)):
        share = _NORMAL.cdf((math.log(edge) - mu) / sigma)
        cell = min(range(len(ends)), key=lambda k: abs(ends[k] - edge))
        if abs(ends[cell] - edge) <= step:
            weights[cell] += (share if below else 1 - share) * scale * _likelihood(model, hint, edge)
    total = sum(weights) or 1.0
    return [w / total for w in weights]


def _programme(model: fleet.FleetModel, op: fleet.TrueOperation, mu: float, ceiling: float,
               cells: int) -> tuple[list[float], list[tuple[int, int]], list[float], tuple[list[float], list[float]]]:
    """The best read list for one operation under ``model``'s law (:mod:`~tools.measure.bench.read_programme`):
    the grid times, the list's steps from the first read, the chance each grid time finds it running, and the
    running sums of the posterior of ends."""
    assert op.hint_s is not None
    stale = 1.3 * model.hint_stale_factor if model.hint_stale_share else 1.0  # a stale hint's end is within the factor
    span = max(op.hint_s * max(math.exp(4 * model.hint_sigma), stale), 600.0)
    step = max(1.0, span / cells)
    times = [op.first_seen_s + step * k for k in range(int(span / step) + 2)]
    mass = _posterior(model, op.hint_s, [t - step / 2 for t in times[1:]], step)  # the end in (times[k], times[k+1]]
    sums = read_programme.prefix(mass, times)
    alive = [1.0 - c for c in sums[0]]  # a read at times[k] found it running with this probability
    _, following = read_programme.best_reads(alive, [mu * m for m in mass], times, max(op.retry_after or 1, 1), ceiling)
    return times, read_programme.walk(following, 0), alive, sums


def best_schedule(model: fleet.FleetModel, op: fleet.TrueOperation, mu: float, ceiling: float = 300.0,
                  cells: int = 1500) -> tuple[float, float]:
    """Expected reads and lag of the best fixed read list for one operation (a read every grid cell at most)."""
    times, steps, alive, sums = _programme(model, op, mu, ceiling, cells)
    return 1.0 + sum(alive[k] for k, _ in steps), sum(read_programme.late(sums, times, k, j) for k, j in steps)


def read_times(model: fleet.FleetModel, op: fleet.TrueOperation, mu: float, ceiling: float = 300.0,
               cells: int = 1500) -> list[float]:
    """The best fixed read list for one operation under ``model``'s law (seconds from its start, after the first)."""
    times, steps, _, _ = _programme(model, op, mu, ceiling, cells)
    return [times[j] for _, j in steps]


def under_assumed_law(assumed: fleet.FleetModel, model: fleet.FleetModel, mu: float, power: float = 0.0,
                      operations: int = 3000, sample: int | None = None) -> dict[str, float]:
    """One law for every fleet: the best read list under ``assumed`` (its hint errors; its durations, clipped to
    its min and max), with lag weighed ``mu * (hint / 10 min) ** power``, replayed on ``model``'s hinted operations
    (the first ``sample``) against their true ends (past the list: a read every 30 s, or the floor), as ratios to
    the fixed timer."""
    ops = [op for op in fleet.make_fleet(operations, model=model) if op.kind == "expectedSeconds"][:sample]
    reads = lag = timer_reads = timer_lag = 0.0
    for op in ops:
        assert op.hint_s is not None
        timer = fleet.replay_timer(op)
        timer_reads, timer_lag = timer_reads + timer.reads, timer_lag + timer.lag_s
        now, count = op.first_seen_s, 1
        later = iter(read_times(assumed, op, mu * (op.hint_s / 600.0) ** power) if op.duration_s > now else ())
        while now < op.duration_s:
            now = next(later, now + max(fleet.TIMER_S, float(op.retry_after or 0)))
            count += 1
        reads, lag = reads + count, lag + now - op.duration_s
    return {"operations": len(ops), "reads_ratio": reads / timer_reads, "lag_ratio": lag / timer_lag}


def bound(model: fleet.FleetModel, mu: float, operations: int = 3000) -> dict[str, float]:
    """One point of the lowest (reads, lag) curve on ``model``'s hinted operations, as ratios to the timer."""
    ops = [op for op in fleet.make_fleet(operations, model=model) if op.kind == "expectedSeconds" and op.duration_s > op.first_seen_s]
    timer = [fleet.replay_timer(op) for op in ops]
    got = [best_schedule(model, op, mu) for op in ops]
    return {"mu": mu, "operations": len(ops),
            "reads_ratio": sum(r for r, _ in got) / sum(t.reads for t in timer),
            "lag_ratio": sum(lag for _, lag in got) / sum(t.lag_s for t in timer)}


def main() -> None:  # pragma: no cover - minutes of CPU: run by hand
    if sys.argv[1] == "assumed":  # assumed hint_sigma,stale_share,stale_factor,median_s,duration_sigma mu power
        sigma, share, factor, median, spread = (float(v) for v in sys.argv[2].split(","))
        assumed = dataclasses.replace(fleet.WIDE, name="assumed", hint_sigma=sigma, hint_stale_share=share,
                                      hint_stale_factor=factor, median_duration_s=median, duration_sigma=spread)
        mu, power = float(sys.argv[3]), float(sys.argv[4])
        for model in fleet.MODELS:
            got = under_assumed_law(assumed, model, mu, power)
            print(f"{model.name}: {got['operations']:.0f} ops, reads {got['reads_ratio']:.3f}x, lag {got['lag_ratio']:.3f}x "
                  "of the fixed 30 s timer (one assumed law)", flush=True)
        return
    name, mus = sys.argv[1], [float(m) for m in sys.argv[2].split(",")]
    model = next(m for m in fleet.MODELS if m.name == name)
    for mu in mus:
        point = bound(model, mu)
        print(f"{name} mu={mu:g}: {point['operations']} ops, reads {point['reads_ratio']:.3f}x, lag {point['lag_ratio']:.3f}x "
              "of the fixed 30 s timer (expected, knowing the model's law)", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
