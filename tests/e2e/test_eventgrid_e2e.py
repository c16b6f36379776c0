"""End to end with RESULT_SINK=both: ``python -m tools.run_local --drain`` runs the real
``function_app`` against Azurite, and the simulator plays ARM, devcenter, managed identity
and the Event Grid topic (key mode, or Entra mode with a real ManagedIdentityCredential).

* every outcome arrives once on the results queue and once on the topic, with the same
  eventId on both;
* a topic that fails twice and then accepts: the request message is retried by the host,
  the status read again, and the outcome arrives on the topic exactly once; the queue,
  published first, carries one copy per attempt, all with the same eventId.

host.json is the project's with a 1 s visibility timeout, so a retry takes a second.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json
from tests.support.e2e import watcher_settings as _watcher_settings
from tools.dev.sim import Simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TOPIC_KEY = "e2e-topic-key-0123456789"


@pytest.fixture
def host_json(tmp_path: Path) -> Path:
    return fast_host_json(tmp_path)


def watcher_settings(sim: Simulator, queues: QueueSet, mode: str) -> dict[str, str]:
    # The credential: a real ManagedIdentityCredential against the simulator's identity endpoint.
    env = _watcher_settings(sim, queues, RESULT_SINK="both", EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint,
                            EVENT_SOURCE="/e2e/lro-watcher")
    if mode == "key":
        env["EVENTGRID_TOPIC_KEY"] = TOPIC_KEY
    return env


def drain(env: dict[str, str], host_json: Path, tmp_path: Path) -> None:
    result = run_local_process(
        env, "--host-json", str(host_json), "--no-local-settings",
        "--drain", "--max-seconds", "60", timeout=90,
    )
    assert result.returncode == 0, f"run_local exited {result.returncode}\n{result.stderr[-4000:]}"
    assert TOPIC_KEY not in result.stderr and "Bearer ey" not in result.stderr


def requests_for(sim: Simulator) -> list[dict[str, Any]]:
    """One request per source, each scripted to run once and then end."""
    devcenter_op = str(uuid.uuid4())
    arm_status = f"{sim.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/arm-op-1?api-version=2023-12-01"
    sim.script("apim-op-1", [{"status": "InProgress"}, {"status": "Succeeded"}])
    sim.script("oi-op-1", [{"status": "Failed", "error": {"code": "Conflict", "message": "Workspace busy."}}])
    sim.script(devcenter_op, [{"status": "Running"}, {"status": "Canceled"}])
    sim.script("arm-op-1", [{"status": "Succeeded"}])
    return [
        {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "apim-op-1", "correlationId": "c-apim"},
        {"source": "operationalinsights", "subscriptionId": SUBSCRIPTION, "location": "westus", "operationId": "oi-op-1", "correlationId": "c-oi"},
        {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web", "operationId": devcenter_op, "correlationId": "c-dc"},
        {"source": "arm", "statusUrl": arm_status, "correlationId": "c-arm", "context": {"stage": "prod"}},
    ]


@pytest.mark.parametrize("mode", ["key", "entra"])
def test_every_outcome_arrives_once_per_sink_with_the_same_event_id(
    mode: str, queues: QueueSet, host_json: Path, tmp_path: Path
) -> None:
    with Simulator(eventgrid_key=TOPIC_KEY if mode == "key" else None) as sim:
        for request in requests_for(sim):
            queues.send_json(request)
        drain(watcher_settings(sim, queues, mode), host_json, tmp_path)
        events = sim.events()
        posts = sim.requests(route="eventgrid")
        msi = sim.requests(route="msi")

    results = queues.take_all_json()
    assert queues.take_all(queues.poison) == []
    by_correlation = {r["correlationId"]: r for r in results}
    assert len(results) == 4 and {k: r["outcome"] for k, r in by_correlation.items()} == {
        "c-apim": "Succeeded", "c-oi": "Failed", "c-dc": "Canceled", "c-arm": "Succeeded",
    }
    assert len(events) == 4
    assert sorted(e["id"] for e in events) == sorted(r["eventId"] for r in results)
    for event in events:
        data = event["data"]
        assert data == by_correlation[data["correlationId"]], "the queue message and the event data are one result"
        assert event["type"] == f"LroWatcher.Operation.{data['outcome']}"
        assert event["source"] == "/e2e/lro-watcher" and event["time"] == data["completedAt"]
        assert event["subject"] == data["statusUrl"].split("?")[0].removeprefix(sim.base_url)
        assert event["authMode"] == ("key" if mode == "key" else "bearer")
    assert {r["status"] for r in posts} == {200}
    if mode == "key":
        assert all(r["audience"] is None for r in posts)
        assert "https://eventgrid.azure.net" not in {r["audience"] for r in msi}
    else:
        assert {r["audience"] for r in posts} == {"https://eventgrid.azure.net"}
        assert [r["audience"] for r in msi].count("https://eventgrid.azure.net") == 1, "one token per process"


@pytest.mark.parametrize("mode", ["key", "entra"])
def test_a_topic_failing_twice_then_accepting_loses_nothing(
    mode: str, queues: QueueSet, host_json: Path, tmp_path: Path
) -> None:
    with Simulator(eventgrid_key=TOPIC_KEY if mode == "key" else None) as sim:
        sim.script("apim-op-2", [{"status": "Succeeded"}])
        sim.eventgrid_fail_next(2, 503)
        queues.send_json({"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "apim-op-2"})
        drain(watcher_settings(sim, queues, mode), host_json, tmp_path)
        events = sim.events()
        posts = sim.requests(route="eventgrid")
        reads = sim.polls("apim-op-2")

    assert [r["status"] for r in posts] == [503, 503, 200]
    assert reads == 3, "each retry of the request message reads the status again"
    (event,) = events
    copies = queues.take_all_json()
    assert queues.take_all(queues.poison) == []
    assert len(copies) == 3, "the queue is published first, once per attempt"
    assert {c["eventId"] for c in copies} == {event["id"]}
    assert {c["outcome"] for c in copies} == {"Succeeded"} and event["data"]["outcome"] == "Succeeded"
