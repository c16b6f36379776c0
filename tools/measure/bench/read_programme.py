"""The best fixed list of read times on a uniform grid: the dynamic programme both schedule bounds solve.

:mod:`tools.measure.bench.hint_bound` (one hinted operation, its posterior of ends) and
:mod:`tools.measure.bench.untimed_bound` (every operation of one floor, four models' laws weighted) differ only
in what a read and a second of lag weigh; the programme and the lag arithmetic are here, once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["prefix", "late", "best_reads", "walk"]


def prefix(masses: Sequence[float], times: Sequence[float]) -> tuple[list[float], list[float]]:
    """Running sums of the masses (``masses[k]``: an end in ``(times[k], times[k+1]]``, taken at the cell's
    middle) and of mass x middle, for :func:`late`."""
    step = times[1] - times[0]
    cum, cum_t = [0.0], [0.0]
    for k, mass in enumerate(masses):
        cum.append(cum[-1] + mass)
        cum_t.append(cum_t[-1] + mass * (times[k] + step / 2))
    return cum, cum_t


def late(sums: tuple[list[float], list[float]], times: Sequence[float], k: int, j: int) -> float:
    """The lag of the ends in cells ``k..j-1``, noticed by the read at ``times[j]`` (weighted by their masses)."""
    cum, cum_t = sums
    return times[j] * (cum[j] - cum[k]) - (cum_t[j] - cum_t[k])


def best_reads(alive: Sequence[float], ends: Sequence[float], times: Sequence[float], floor: float,
               ceiling: float) -> tuple[list[float], list[int]]:
    """Cost to go and next read from every grid time, reads at least ``floor`` and at most ``ceiling`` apart:
    ``alive[k]`` weighs the read made after one at ``times[k]`` found the operation running, ``ends[k]`` a
    second of lag of an end in cell k."""
    step = times[1] - times[0]
    n = len(times) - 1
    cum, cum_t = prefix(ends, times)
    first = max(1, math.ceil(floor / step))
    reach = max(first, int(ceiling / step))
    cost = [0.0] * (n + 1)
    following = [-1] * (n + 1)
    for k in range(n - 1, -1, -1):
        best, best_j = math.inf, -1
        ck, ctk = cum[k], cum_t[k]
        for j in range(k + first, min(n, k + reach) + 1):
            total = times[j] * (cum[j] - ck) - (cum_t[j] - ctk) + cost[j]
            if total < best:
                best, best_j = total, j
        if best_j >= 0:
            cost[k], following[k] = alive[k] + best, best_j
    return cost, following


def walk(following: Sequence[int], start: int) -> list[tuple[int, int]]:
    """The steps ``(k, j)`` of the read list from ``start``: a read at ``times[k]``, the next at ``times[j]``."""
    steps, k = [], start
    while following[k] >= 0:
        steps.append((k, following[k]))
        k = following[k]
    return steps
