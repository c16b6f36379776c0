"""P6: 2,000 operations on one subscription, started within a minute, against ARM's read throttling.

The model is ARM's (Microsoft Learn, "Understand how Azure Resource Manager throttles
requests"), not one shaped to the watcher's rule:

* a token bucket per subscription × principal × region: 250 reads, refilled at 25/s. Every
  instance of the app reads with the app's one identity from the app's region, so **all
  instances share one bucket**;
* a global bucket per subscription (here: its one region) of 15× that (3,750, 375/s), shared
  by every principal: the pipelines and the subscription's other callers read
  :data:`OTHER_READS_PER_S` of its refill with their own identities;
* a read takes a token from both; with either empty it is answered **429** with
  ``Retry-After``. Every answer carries what is left of both
  (``x-ms-ratelimit-remaining-subscription-reads``, ``…-global-reads``) and the serving region
  (``x-ms-routing-request-id``).

The fleet is :func:`tools.measure.bench.fleet.make_fleet` with every start within one minute; each
delivery goes to a random instance (as a queue's would), passes that instance's budget gate
(:class:`shared.edges.budget_estimates.BudgetEstimates`, the watcher's own: a deferred read comes
back after whole seconds) and is read and decided by the real ``decide`` on a fake clock.
Runs: ``ARM_READS_RESERVE=100`` (the default) with one instance and with :data:`INSTANCES`,
and ``ARM_READS_RESERVE=0`` (no budget logic). Targets: no 429 with one instance; with four,
at most :data:`MAX_THROTTLED_SHARE` of reads answered 429 and a mean lag within
:data:`MAX_LAG_RATIO` of one instance's.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import random
from datetime import timedelta
from typing import Any

from tools.measure.bench import fleet

BUCKET = 250.0
REFILL_PER_S = 25.0
GLOBAL_FACTOR = 15.0
#: The rest of the subscription (the pipelines, other tools, each with its own identity) reads this
#: many per second from the global bucket: 20/s of its refill is left, less than the principal's 25/s.
OTHER_READS_PER_S = 355.0
REGION = "WESTUS"
INSTANCES = 4
MAX_THROTTLED_SHARE = 0.005
MAX_LAG_RATIO = 1.5


class Bucket:
    """One token bucket on a fake clock (seconds since the fleet's T0), with a steady draw by others."""

    def __init__(self, size: float, refill: float, others: float = 0.0) -> None:
        self.size, self.net = size, refill - others
        self.tokens, self.at, self.lowest = size, 0.0, size

    def level(self, t: float) -> float:
        self.tokens = min(self.size, max(self.tokens + (t - self.at) * self.net, 0.0))
        self.at = t
        return self.tokens


class Arm:
    """ARM's read throttling for one principal in one region: its bucket and the global one."""

    def __init__(self) -> None:
        self.principal = Bucket(BUCKET, REFILL_PER_S)
        self.global_ = Bucket(BUCKET * GLOBAL_FACTOR, REFILL_PER_S * GLOBAL_FACTOR, OTHER_READS_PER_S)

    def read(self, t: float) -> tuple[bool, dict[str, str]]:
        buckets = (self.principal, self.global_)
        allowed = all(b.level(t) >= 1.0 for b in buckets)
        for b in buckets:
            if allowed:
                b.tokens -= 1.0
            b.lowest = min(b.lowest, b.tokens)
        headers = {
            "x-ms-ratelimit-remaining-subscription-reads": str(int(self.principal.tokens)),
            "x-ms-ratelimit-remaining-subscription-global-reads": str(int(self.global_.tokens)),
            "x-ms-routing-request-id": f"{REGION}:20260101T000000Z:00000000-0000-0000-0000-000000000000",
        }
        if not allowed:
            short = max((1.0 - b.tokens) / b.net for b in buckets if b.tokens < 1.0)
            headers["retry-after"] = str(max(1, math.ceil(short)))
        return allowed, headers


def _run(ops: list[fleet.TrueOperation], reserve: int, instances: int = 1, seed: int = 6) -> dict[str, Any]:
    from shared.core.decide import Publish, decide
    from shared.core.interpretation import StatusAnswer
    from shared.edges.budget_estimates import BudgetEstimates

    replay = fleet.WatcherReplay({"ARM_READS_RESERVE": str(reserve)})
    gates = [BudgetEstimates(reserve) for _ in range(instances)]  # each instance keeps its own estimate
    pick = random.Random(seed)
    arm = Arm()
    requests = [replay.request_for(op) for op in ops]
    queue = [((op.first_seen - fleet.T0).total_seconds(), i) for i, op in enumerate(ops)]
    heapq.heapify(queue)
    deferred = throttled = reads = first_reads_throttled = 0
    lags: list[float] = []
    outcomes: dict[str, int] = {}
    while queue:
        t, i = heapq.heappop(queue)
        op, now, request = ops[i], fleet.T0 + timedelta(seconds=t), requests[i]
        gate = gates[pick.randrange(instances)]  # any instance may get any delivery
        defer = gate.gate(request, now)
        if defer is not None:  # the watcher's Defer: re-enqueued unread, visible again after whole seconds
            deferred += 1
            requests[i] = dataclasses.replace(request, poll=defer.poll)
            heapq.heappush(queue, (t + defer.delay_seconds, i))
            continue
        allowed, budget = arm.read(t)
        reads += 1
        if allowed:
            answer = StatusAnswer(200, {**op.headers(now), **budget}, json.dumps(op.body(now)).encode())
        else:
            throttled += 1
            first_reads_throttled += request.poll.polls == 0
            answer = StatusAnswer(429, budget, b'{"error":{"code":"TooManyRequests","message":"throttled"}}')
        gate.observe(request, answer, now)
        decision = decide(request, answer, now, replay.settings)
        if isinstance(decision, Publish):
            outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
            if decision.outcome == "Succeeded":
                lags.append((now - op.ends).total_seconds())
            continue
        requests[i] = dataclasses.replace(request, poll=decision.poll)
        heapq.heappush(queue, (t + decision.delay_seconds, i))
    lags.sort()
    return {
        "arm_reads_reserve": reserve,
        "instances": instances,
        "reads": reads,
        "deferred_unread": deferred,
        "throttled_429": throttled,
        "throttled_share": throttled / max(reads, 1),
        "throttled_first_reads": first_reads_throttled,
        "lowest_remaining": arm.principal.lowest,
        "lowest_remaining_global": arm.global_.lowest,
        "outcomes": outcomes,
        "mean_lag_s": sum(lags) / max(len(lags), 1),
        "p95_lag_s": lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)] if lags else 0.0,
        "reads_per_op": reads / len(ops),
    }


def measure(operations: int = 2000, seed: int = 6) -> dict[str, Any]:
    ops = fleet.make_fleet(operations, seed, start_spread_s=60.0)
    on = _run(ops, 100, 1, seed)
    scaled = _run(ops, 100, INSTANCES, seed)
    off = _run(ops, 0, 1, seed)
    lag_ratio = scaled["mean_lag_s"] / max(on["mean_lag_s"], 1e-9)
    return {
        "operations": operations,
        "seed": seed,
        "arm": {"bucket": BUCKET, "refill_per_s": REFILL_PER_S, "global_factor": GLOBAL_FACTOR,
                "other_reads_per_s": OTHER_READS_PER_S},
        "budget_on": on,
        f"budget_on_{INSTANCES}_instances": scaled,
        "budget_off": off,
        f"instances{INSTANCES}": {"instances": INSTANCES, "reads": scaled["reads"], "throttled": scaled["throttled_429"],
                                  "mean_lag_s": scaled["mean_lag_s"]},
        "lag_ratio_instances": lag_ratio,
        "target": (f"no 429 with one instance; with {INSTANCES}: <= {MAX_THROTTLED_SHARE:.1%} of reads 429, "
                   f"mean lag <= {MAX_LAG_RATIO:g}x one instance's"),
        "pass": on["throttled_429"] == 0 and scaled["throttled_share"] <= MAX_THROTTLED_SHARE and lag_ratio <= MAX_LAG_RATIO,
    }
