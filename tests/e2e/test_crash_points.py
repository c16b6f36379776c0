"""Crash points: the process dies between a write and the delete of the message, and nothing is lost.

``tests/fixtures/crash_app.py`` is ``function_app`` whose queue gateway / publisher call
``os._exit(137)`` right after the Nth re-enqueue, publish or poison write — after the
write reached Azurite, before run_local deletes the request message. run_local runs it
with one message at a time (batchSize 1) and a 1 s lease, so the crashed message comes
back a second later. Then the real ``function_app`` drains the queue, and:

* every operation has an outcome, every invalid request a poison entry (nothing lost);
* the crashed operation's outcome arrived twice (at least once), with one eventId — a
  consumer that drops duplicates by eventId sees exactly one outcome per operation;
* a crash after the poison write gives two identical poison entries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json
from tools.dev.sim import Simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
CRASH_APP = "tests.fixtures.crash_app"
CRASH_ON = 2


@pytest.fixture
def host_json(tmp_path: Path) -> Path:
    return fast_host_json(tmp_path, batchSize=1, newBatchThreshold=0)


def operations(sim: Simulator) -> dict[str, tuple[dict[str, Any], str]]:
    """One request per source, each read once as running and then terminal: correlationId -> (request, outcome)."""
    dc_op = str(uuid.uuid4())
    base = sim.base_url
    sim.script("crash-apim", [{"status": "InProgress"}, {"status": "Succeeded"}])
    sim.script("crash-oi", [{"status": "InProgress"}, {"status": "Failed", "error": {"code": "Conflict", "message": "Busy."}}])
    sim.script(dc_op, [{"status": "Running"}, {"status": "Canceled"}])
    sim.script("crash-arm", [{"http": 202}, {"status": "Succeeded"}])
    arm_url = f"{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/crash-arm?api-version=2023-12-01"
    return {
        "c-apim": ({"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "crash-apim"}, "Succeeded"),
        "c-oi": ({"source": "operationalinsights", "subscriptionId": SUBSCRIPTION, "location": "westus", "operationId": "crash-oi"}, "Failed"),
        "c-dc": ({"source": "devcenter", "endpoint": base, "projectName": "web", "operationId": dc_op}, "Canceled"),
        "c-arm": ({"source": "arm", "statusUrl": arm_url}, "Succeeded"),
    }


INVALID = [
    '{"source": "apim", "operationID": "typo-1"}',
    '{"source": "arm", "statusUrl": "https://evil.example/x?api-version=1"}',
]


def run(env: dict[str, str], host_json: Path, tmp_path: Path, *args: str) -> Any:
    return run_local_process(
        env, "--host-json", str(host_json), "--no-local-settings",
        "--lease-seconds", "1", "--drain", "--max-seconds", "60", *args, timeout=90,
    )


@pytest.mark.parametrize("point", ["reenqueue", "publish", "poison"])
def test_a_crash_between_the_write_and_the_delete_loses_nothing(
    point: str, queues: QueueSet, host_json: Path, tmp_path: Path
) -> None:
    with Simulator() as sim:
        planned = operations(sim)
        for key, (request, _) in planned.items():
            queues.send_json({**request, "correlationId": key})
        for text in INVALID:
            queues.send(text)
        env = {
            **queues,
            "ARM_ENDPOINT": sim.base_url,
            "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
            "POLL_MIN_DELAY_SECONDS": "0",
            "POLL_MAX_DELAY_SECONDS": "0",
            "IDENTITY_ENDPOINT": sim.identity_endpoint,
            "IDENTITY_HEADER": sim.identity_header,
        }
        crash_on = 1 if point == "poison" else CRASH_ON
        crashed = run({**env, "CRASH_AFTER": point, "CRASH_ON": str(crash_on)}, host_json, tmp_path, "--app", CRASH_APP)
        assert crashed.returncode == 137, f"the crash point was not reached\n{crashed.stderr[-3000:]}"
        # At the crash the write has landed and the message is still on the queue (invisible, leased).
        if point == "reenqueue":
            left = queues.count() + len(queues.peek(queues.poison))
            assert left == len(planned) + len(INVALID) + 1, "the next poll's copy and its original are both there"
        elif point == "publish":
            assert len(queues.peek(queues.results)) == CRASH_ON
        else:
            assert len(queues.peek(queues.poison)) == 1
        finished = run(env, host_json, tmp_path)
        assert finished.returncode == 0, finished.stderr[-3000:]

    results = queues.take_all_json()
    poison = queues.take_all_json(queues.poison)
    copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        copies[result["correlationId"]].append(result)
    assert set(copies) == set(planned), "every operation has an outcome"
    for key, (_, outcome) in planned.items():
        assert {r["outcome"] for r in copies[key]} == {outcome}
        assert len({r["eventId"] for r in copies[key]}) == 1, "every copy of one outcome has one eventId"
    expected_poison = INVALID + ([poison[0]["original"]] if point == "poison" else [])
    assert sorted(p["original"] for p in poison) == sorted(expected_poison), "each invalid request is poisoned"
    if point == "poison":
        assert len(results) == len(planned)
        twice = [p for p in poison if p["original"] == poison[0]["original"]]
        assert len(twice) == 2 and twice[0]["reason"] == twice[1]["reason"]
    else:
        assert len(poison) == len(INVALID)
        duplicated = [key for key, found in copies.items() if len(found) > 1]
        assert len(duplicated) == 1 and len(results) == len(planned) + 1, "the crashed operation's outcome came twice"
        assert sim.polls(copies[duplicated[0]][0]["operationId"]) == 3, "its status was read once more after the crash"
