"""tools.run_local runs sync functions on the Python worker's thread pool (PYTHON_THREADPOOL_THREAD_COUNT).

The host hands the worker up to batchSize + newBatchThreshold messages at once; the worker runs
synchronous functions on one pool of PYTHON_THREADPOOL_THREAD_COUNT threads (unset: Python's
default, min(32, CPUs + 4)) and async ones on its event loop. run_local does the same, so a local
run is as concurrent as an instance in Azure with the same settings. Azurite, as in test_run_local.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import QueueSet, run_local_process
from tools.dev.run_local.settings import worker_thread_count

ECHO_APP, ASYNC_APP = "tests.fixtures.echo_app", "tests.fixtures.async_echo_app"
HOST_JSON = "tests/fixtures/host.json"  # batchSize 4: one receive hands over four messages


def most_at_once(records: list[dict[str, Any]]) -> int:
    return max(sum(1 for o in records if o["start"] < r["end"] and r["start"] < o["end"]) for r in records)


def run_four_sleepers(queues: QueueSet, app: str, threads: str) -> list[dict[str, Any]]:
    for n in range(4):
        queues.send_json({"n": n, "sleep": 1.0})  # simulated work, not synchronisation
    result = run_local_process(
        {**queues, "PYTHON_THREADPOOL_THREAD_COUNT": threads},
        "--app", app, "--host-json", HOST_JSON, "--drain", "--max-seconds", "30", timeout=60,
    )
    assert result.returncode == 0, result.stderr
    records = queues.take_all_json()
    assert len(records) == 4
    return records


def test_one_worker_thread_runs_sync_invocations_one_at_a_time(queues: QueueSet) -> None:
    assert most_at_once(run_four_sleepers(queues, ECHO_APP, "1")) == 1


def test_enough_worker_threads_run_the_whole_batch_at_once(queues: QueueSet) -> None:
    assert most_at_once(run_four_sleepers(queues, ECHO_APP, "4")) == 4


def test_async_functions_do_not_use_the_thread_pool(queues: QueueSet) -> None:
    assert most_at_once(run_four_sleepers(queues, ASYNC_APP, "1")) == 4


@pytest.mark.parametrize(
    ("value", "count"),
    [(None, None), ("", None), ("24", 24), ("1", 1), ("0", None), ("-3", None), ("many", None), ("2.5", None)],
)
def test_thread_count_is_read_like_the_python_worker(value: str | None, count: int | None) -> None:
    settings = {} if value is None else {"PYTHON_THREADPOOL_THREAD_COUNT": value}
    assert worker_thread_count(settings) == count
