"""Sync + thread pool vs async, through tools.run_local (issue 14's measurement; not part of `make bench`).

    .venv/bin/python -m tools.measure.bench.threadpool [MESSAGES] [SECONDS]

Runs MESSAGES (default 480) through run_local with the project's host.json (batchSize 16 +
newBatchThreshold 8 = 24 messages handed over at once), with the echo fixture apps taking SECONDS
(default 0.25, the order of one status read plus one queue write) of simulated I/O each: the sync app
with PYTHON_THREADPOOL_THREAD_COUNT unset (the worker's default, min(32, CPUs + 4)), 5 (that default
on one vCPU) and 24, and the async app. Prints one row per run: wall seconds, messages per second and
the most invocations that ran at once (a sweep over the records' start and end times).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tests.support import QueueSet, run_local_process
from tools.dev.azurite import Azurite

RUNS = [
    ("tests.fixtures.echo_app", None),
    ("tests.fixtures.echo_app", "5"),
    ("tests.fixtures.echo_app", "24"),
    ("tests.fixtures.async_echo_app", None),
]


def most_at_once(records: list[dict[str, Any]]) -> int:
    edges = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def main(messages: int = 480, seconds: float = 0.25) -> None:
    azurite = Azurite()
    azurite.start()
    try:
        print(f"{'app':16} {'threads':>8} {'messages':>9} {'wall s':>7} {'msg/s':>6} {'at once':>8}")
        for index, (app, threads) in enumerate(RUNS):
            queues = QueueSet(azurite.connection_string, f"threads{index}{time.time_ns() % 10**6}")
            for n in range(messages):
                queues.send_json({"n": n, "sleep": seconds})
            env = dict(queues) | ({"PYTHON_THREADPOOL_THREAD_COUNT": threads} if threads else {})
            started = time.monotonic()
            done = run_local_process(env, "--app", app, "--host-json", "host.json", "--drain",
                                     "--max-seconds", "900", timeout=960)
            wall = time.monotonic() - started
            records = queues.take_all_json()
            if done.returncode != 0 or len(records) != messages:
                raise SystemExit(f"{app}: exit {done.returncode}, {len(records)} records\n{done.stderr[-2000:]}")
            print(f"{app.rsplit('.', 1)[-1]:16} {threads or 'unset':>8} {messages:>9} {wall:>7.1f} "
                  f"{messages / wall:>6.1f} {most_at_once(records):>8}")
    finally:
        azurite.stop()


if __name__ == "__main__":
    main(*(int(sys.argv[1]),) if len(sys.argv) > 1 else (), *(float(sys.argv[2]),) if len(sys.argv) > 2 else ())
