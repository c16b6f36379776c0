"""The process under test for P1 and P4: ``python -m tools.measure.bench.worker MODE --polls N``.

Modes (settings come from the environment, as for ``python -m tools.run_local``):

* ``watcher``: ``tools.dev.run_local.LocalHost`` running the real ``function_app`` in this process,
  with the project's ``host.json`` queue semantics and run_local's logging (INFO to stderr);
* ``queue-app``: the same ``LocalHost`` running :mod:`tools.measure.bench.queue_app`, a function that
  does only the queue work (re-enqueue a copy or publish), to split run_local's own cost out;
* ``bare``: no run_local, no function: a loop with the same concurrency as ``host.json`` gives
  run_local (``batchSize`` per receive, a new batch once no more than ``newBatchThreshold`` are
  in flight, ``batchSize + newBatchThreshold`` worker threads) doing per message exactly the
  queue work of one poll: receive (batched), send the re-enqueued copy (or the result), delete.

It stops once N messages were handled and prints one JSON line: ``samples`` (``[seconds,
handled]`` every 20 ms), its own CPU seconds at each sample, and the peak RSS it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_SECONDS = 0.02


def _sampler(counter: Any, target: int, done: threading.Event, limit: float) -> dict[str, Any]:
    """Sample ``counter()`` until it reaches ``target`` (or ``limit`` seconds pass)."""
    import psutil

    me = psutil.Process()
    start = time.perf_counter()
    samples: list[list[float]] = []
    peak = 0
    while True:
        now = time.perf_counter() - start
        handled = counter()
        cpu = sum(os.times()[:2])
        samples.append([round(now, 4), handled, round(cpu, 4)])
        if len(samples) % 10 == 1:
            peak = max(peak, me.memory_info().rss)
        if handled >= target or now > limit or done.is_set():
            break
        time.sleep(SAMPLE_SECONDS)
    peak = max(peak, me.memory_info().rss)
    return {"t0": start, "samples": samples, "peak_rss": peak, "final_rss": me.memory_info().rss}


def run_localhost(app_module: str, polls: int, limit: float) -> dict[str, Any]:
    from tools.dev.run_local import LocalHost, QueueOptions, configure_logging, resolve_settings

    configure_logging(verbose=False)
    settings = resolve_settings(os.environ, no_local_settings=True, project_dir=PROJECT_ROOT)
    options = QueueOptions.load(os.environ.get("BENCH_HOST_JSON") or PROJECT_ROOT / "host.json")
    host = LocalHost.from_app(app_module, settings, options, project_dir=PROJECT_ROOT, export_environ=True)
    host.start()
    try:
        result = _sampler(lambda: host.stats.succeeded + host.stats.failed, polls, threading.Event(), limit)
    finally:
        host.stop()
        host.join(60)
    result["stats"] = host.stats.as_dict()
    result["concurrency"] = options.concurrency
    return result


def run_bare(polls: int, limit: float) -> dict[str, Any]:
    from shared.core.storage_connection import storage_connection_from_environ
    from shared.edges.storage import queue_service_client
    from tools.dev.run_local import QueueOptions
    from tools.measure.bench.queue_app import queue_work

    options = QueueOptions.load(os.environ.get("BENCH_HOST_JSON") or PROJECT_ROOT / "host.json")
    service = queue_service_client(storage_connection_from_environ(os.environ))
    operations = service.get_queue_client(os.environ["OPERATIONS_QUEUE"])
    results = service.get_queue_client(os.environ["RESULTS_QUEUE"])
    cond = threading.Condition()
    state = {"in_flight": 0, "handled": 0}
    done = threading.Event()

    def process(message: Any) -> None:
        try:
            queue_work(message.content, operations, results)
            operations.delete_message(message.id, message.pop_receipt)
        finally:
            with cond:
                state["in_flight"] -= 1
                state["handled"] += 1
                cond.notify_all()

    def loop() -> None:
        with ThreadPoolExecutor(options.concurrency, thread_name_prefix="bare") as pool:
            idle = 0.001
            while not done.is_set():
                with cond:
                    while state["in_flight"] > options.new_batch_threshold and not done.is_set():
                        cond.wait(0.5)
                messages = list(operations.receive_messages(
                    messages_per_page=options.batch_size, max_messages=options.batch_size, visibility_timeout=60))
                if not messages:
                    with cond:
                        cond.wait(idle)
                    idle = min(idle * 2, 0.1)
                    continue
                idle = 0.001
                with cond:
                    state["in_flight"] += len(messages)
                for message in messages:
                    pool.submit(process, message)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        result = _sampler(lambda: state["handled"], polls, done, limit)
    finally:
        done.set()
        thread.join(60)
    result["stats"] = {"handled": state["handled"]}
    result["concurrency"] = options.concurrency
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.measure.bench.worker")
    parser.add_argument("mode", choices=("watcher", "queue-app", "bare"))
    parser.add_argument("--polls", type=int, required=True, help="stop after this many handled messages")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.mode == "bare":
        result = run_bare(args.polls, args.max_seconds)
    else:
        app = "tools.measure.bench.queue_app" if args.mode == "queue-app" else "function_app"
        result = run_localhost(app, args.polls, args.max_seconds)
    result["mode"] = args.mode
    result["wall"] = time.perf_counter() - started
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
