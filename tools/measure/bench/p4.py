"""P4: worker RSS with few vs many operations in flight.

``small`` (100) and ``large`` (10,000) operations are enqueued once each on their own queue
and scripted to run forever (``InProgress``), with ``POLL_MIN/MAX_DELAY_SECONDS=0``, so every
operation is always in flight: queued or being polled. For each run a fresh worker process
(``tools.measure.bench.worker watcher``: run_local's ``LocalHost`` + ``function_app``) handles ``polls``
messages — the same number for both sizes, so both did the same work: with 100 operations
each one is polled ``polls / 100`` times, with 10,000 ``polls`` different operations pass
through — while its RSS is sampled (psutil, every 100 ms). The figure per run is the peak
RSS; the ratio is median(large) / median(small).

Why not every one of the 10,000 per run: Azurite's queue operations cost time in proportion
to the messages the queue holds, visible or not (measured: 2 ms of Azurite CPU per poll at 100
messages, 6 ms at 2,000, and at 10,000 the emulator falls to a few polls per second and the
SDK's retries set in), so a run through all 10,000 takes many minutes of emulator time. Azure
Storage has no such cost (2,000 messages/s per queue whatever its depth). The polls/s of each
run are recorded to show it.
"""

from __future__ import annotations

import time
from typing import Any

from tools.measure.bench.common import median
from tools.measure.bench.stage import Stage


def measure(stage: Stage, runs: int = 3, small: int = 100, large: int = 10_000, polls: int | None = None) -> dict[str, Any]:
    polls = polls or 500
    sizes = {"small": small, "large": large}
    queues = {name: stage.new_queues() for name in sizes}
    raw: dict[str, list[dict[str, float]]] = {name: [] for name in sizes}
    try:
        # One size after the other: Azurite's cost grows with every message it holds, in any
        # queue, so the small runs go first, before the 10,000 are enqueued.
        for name, count in sizes.items():
            stage.enqueue(queues[name]["OPERATIONS_QUEUE"], stage.requests_for(count, None, f"p4-{name}-{time.time_ns()}"))
            for _ in range(runs):
                result = stage.run_worker("watcher", stage.environ(queues[name]), polls, watch_rss=True, max_seconds=300)
                samples = [s[1] for s in result["rss_samples"]]
                raw[name].append({
                    "peak_rss_mb": max(samples + [result["peak_rss"]]) / 2**20,
                    "final_rss_mb": result["final_rss"] / 2**20,
                    "handled": result["samples"][-1][1],
                    "seconds": result["samples"][-1][0],
                    "polls_per_s": result["samples"][-1][1] / max(result["samples"][-1][0], 1e-9),
                })
    finally:
        for names in queues.values():
            stage.drop_queues(names)
    small_rss = median([r["peak_rss_mb"] for r in raw["small"]])
    large_rss = median([r["peak_rss_mb"] for r in raw["large"]])
    ratio = large_rss / small_rss
    return {
        "target": 1.1,
        "ratio": ratio,
        "pass": ratio <= 1.1,
        "small_operations": small,
        "large_operations": large,
        "polls_per_run": polls,
        "small_peak_rss_mb": small_rss,
        "small_polls_per_s": median([r["polls_per_s"] for r in raw["small"]]),
        "large_polls_per_s": median([r["polls_per_s"] for r in raw["large"]]),
        "large_peak_rss_mb": large_rss,
        "runs": runs,
        "raw": raw,
    }
