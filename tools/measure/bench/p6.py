"""P6: 2,000 operations on one subscription, started within a minute, against ARM's read budget.

ARM throttles reads per subscription, region and principal with a token bucket: 250 reads,
refilled at 25 reads/s; every answer carries ``x-ms-ratelimit-remaining-subscription-reads``,
and a read with the bucket empty gets **429** with ``Retry-After``. The pipelines that started
the operations read ARM too: :data:`PIPELINE_READS_PER_S` of the refill is theirs.

The fleet is :func:`tools.measure.bench.fleet.make_fleet` with every start within one minute; each
operation is driven through the real ``decide`` on a fake clock (an event queue ordered by the
next read's time), each read answered by the shared bucket and the operation's truth, and
each request first passing the watcher's budget gate (``shared.edges.read_budget``: a read
that would leave fewer than ``ARM_READS_RESERVE`` is put off, unread, to a slot; slots are
1/25 s apart). Runs: ``ARM_READS_RESERVE=100`` (the default) with one app instance, the same
with :data:`INSTANCES` instances (each its own gate), and ``ARM_READS_RESERVE=0`` (no budget
logic: no gate, no stretching). Reported: the watcher's 429s (on first reads among them),
requests put off unread, reads and detection lag. Target: no 429 with the budget logic on.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
from datetime import timedelta
from typing import Any

from tools.measure.bench import fleet

BUCKET = 250.0
REFILL_PER_S = 25.0
PIPELINE_READS_PER_S = 5.0
#: The second "on" run: app instances each with its own estimate of the bucket (Flex Consumption
#: scales out under a burst; the instances share nothing but ARM's answers).
INSTANCES = 4


class Bucket:
    """ARM's read bucket on a fake clock (seconds since the fleet's T0)."""

    def __init__(self) -> None:
        self.tokens = BUCKET
        self.at = 0.0
        self.lowest = BUCKET

    def take(self, t: float) -> tuple[bool, int]:
        self.tokens = min(BUCKET, self.tokens + (t - self.at) * (REFILL_PER_S - PIPELINE_READS_PER_S))
        self.at = t
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.lowest = min(self.lowest, self.tokens)
            return True, int(self.tokens)
        self.lowest = 0.0
        return False, 0


def _run(ops: list[fleet.TrueOperation], reserve: int, instances: int = 1) -> dict[str, Any]:
    from shared.core.decide import Publish, StatusRead, decide
    from shared.edges.read_budget import ReadBudgets

    replay = fleet.WatcherReplay({"ARM_READS_RESERVE": str(reserve)})
    gates = [ReadBudgets(reserve) for _ in range(instances)]  # each app instance keeps its own estimate
    bucket = Bucket()
    deferred = 0
    requests = [replay.request_for(op) for op in ops]
    queue = [((op.first_seen - fleet.T0).total_seconds(), i) for i, op in enumerate(ops)]
    heapq.heapify(queue)
    throttled = reads = first_reads_throttled = 0
    lags: list[float] = []
    outcomes: dict[str, int] = {}
    while queue:
        t, i = heapq.heappop(queue)
        op, now = ops[i], fleet.T0 + timedelta(seconds=t)
        gate = gates[i % instances]
        poll = requests[i].poll
        booked = poll.read_slot_at is not None and poll.read_slot_at <= now + timedelta(seconds=1)
        slot = gate.slot("sub", now, requests[i].deadline, booked=booked)
        if slot is not None:  # the watcher's _deferred: sent again unread, for its slot (whole seconds)
            deferred += 1
            requests[i] = dataclasses.replace(requests[i], poll=dataclasses.replace(poll, read_slot_at=slot))
            heapq.heappush(queue, (t + max(1, math.ceil((slot - now).total_seconds())), i))
            continue
        allowed, remaining = bucket.take(t)
        reads += 1
        if allowed:
            headers = {**op.headers(now), "x-ms-ratelimit-remaining-subscription-reads": str(remaining)}
            read = StatusRead(200, headers, json.dumps(op.body(now)).encode())
        else:
            throttled += 1
            first_reads_throttled += requests[i].poll.polls == 0
            retry = max(1, math.ceil((1.0 - bucket.tokens) / (REFILL_PER_S - PIPELINE_READS_PER_S)))
            read = StatusRead(429, {"retry-after": str(retry), "x-ms-ratelimit-remaining-subscription-reads": "0"},
                              b'{"error":{"code":"TooManyRequests","message":"throttled"}}')
        gate.observe("sub", read.headers, now)
        decision = decide(requests[i], read, now, replay.settings)
        if isinstance(decision, Publish):
            outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
            if decision.outcome == "Succeeded":
                lags.append((now - op.ends).total_seconds())
            continue
        requests[i] = dataclasses.replace(requests[i], poll=decision.poll)
        heapq.heappush(queue, (t + decision.delay_seconds, i))
    lags.sort()
    return {
        "arm_reads_reserve": reserve,
        "instances": instances,
        "reads": reads,
        "deferred_unread": deferred,
        "throttled_429": throttled,
        "throttled_first_reads": first_reads_throttled,
        "lowest_remaining": bucket.lowest,
        "outcomes": outcomes,
        "mean_lag_s": sum(lags) / max(len(lags), 1),
        "p95_lag_s": lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)] if lags else 0.0,
        "reads_per_op": reads / len(ops),
    }


def measure(operations: int = 2000, seed: int = 6) -> dict[str, Any]:
    ops = fleet.make_fleet(operations, seed, start_spread_s=60.0)
    on = _run(ops, 100, 1)
    scaled = _run(ops, 100, INSTANCES)
    off = _run(ops, 0, 1)
    return {
        "operations": operations,
        "seed": seed,
        "bucket": {"size": BUCKET, "refill_per_s": REFILL_PER_S, "pipeline_reads_per_s": PIPELINE_READS_PER_S},
        "budget_on": on,
        f"budget_on_{INSTANCES}_instances": scaled,
        "budget_off": off,
        "target": "no 429 with the budget logic on",
        "pass": on["throttled_429"] == 0,
    }
