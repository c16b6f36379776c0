"""Round trips through the producer and operator tools, with the real ``function_app``.

``tools.dev.run_local.run`` drives the function in-process against Azurite (the session's),
the simulator plays ARM, devcenter, managed identity and Event Grid, and the tools are
called as a pipeline and an operator would (``main(argv, environ)``; one as a subprocess):

* enqueue -> run_local --drain -> results: one request per source, every outcome read
  back with ``tools.results --consume`` and checked against the published result schema;
* poison -> fix -> replay -> result: a devcenter request the watcher rejects (its host is
  not on STATUS_HOST_ALLOWLIST) is listed with its reason, the setting is fixed, and
  ``tools.poison --replay`` sends it back, after which it is watched to its outcome;
* a request the host poisons (Event Grid refuses every delivery until maxDequeueCount)
  is replayed with its poll bookkeeping once the topic is back, and ends with the same
  eventId as the copies published before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import runtime
from shared.core.result_model import RESULT_ADAPTER
from tests.support import QueueSet
from tests.support.e2e import clear_inherited_settings, fast_host_json, watcher_settings
from tools.dev import run_local as rl
from tools.dev.sim import Simulator
from tools.ops import enqueue, poison, results

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TOPIC_KEY = "roundtrip-topic-key-0123456789"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_inherited_settings(monkeypatch)
    runtime.reset()  # the process's one Watcher is built from each drain's settings
    yield
    runtime.reset()


def write_host_json(directory: Path, max_dequeue_count: int = 5) -> Path:
    return fast_host_json(directory, maxDequeueCount=max_dequeue_count)




def drain(env: dict[str, str], host_json: Path) -> None:
    runtime.reset()
    code = rl.run("function_app", env, project_dir=PROJECT_ROOT, host_json=host_json,
                  local_settings=host_json.parent / "absent.json", drain=True, max_seconds=60)
    runtime.reset()
    assert code == rl.EXIT_OK


def call(capsys: pytest.CaptureFixture[str], tool: Any, env: dict[str, str], *argv: str) -> str:
    code = tool.main(list(argv), environ=env)
    out, err = capsys.readouterr()
    assert code == 0, f"{tool.__name__} {argv}: exit {code}\n{err}"
    return out


def consume_results(capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in call(capsys, results, env, "--consume", "--json").splitlines()]
    outcomes = [line["result"] for line in lines]
    jsonschema = _jsonschema()
    for outcome in outcomes:
        RESULT_ADAPTER.validate_python(outcome)
        if jsonschema is not None:
            jsonschema.validate(outcome, json.loads((PROJECT_ROOT / "schemas" / "result.schema.json").read_text()))
    return outcomes


def _jsonschema() -> Any:
    try:
        import jsonschema
    except ImportError:
        return None
    return jsonschema


def test_enqueue_then_drain_then_one_result_per_source(
    capsys: pytest.CaptureFixture[str], queues: QueueSet, tmp_path: Path
) -> None:
    queues.create()
    host_json = write_host_json(tmp_path)
    with Simulator() as sim:
        env = watcher_settings(sim, queues)
        devcenter_op = str(uuid.uuid4())
        arm_status = (f"{sim.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus"
                      "/operationResults/arm-op-1?api-version=2023-12-01")
        sim.script("apim-op-1", [{"status": "InProgress"}, {"status": "Succeeded"}])
        sim.script("oi-op-1", [{"status": "Failed", "error": {"code": "Conflict", "message": "Workspace busy."}}])
        sim.script(devcenter_op, [{"status": "Running"}, {"status": "Canceled"}])
        sim.script("arm-op-1", [{"status": "Succeeded", "percentComplete": 100}])

        call(capsys, enqueue, env, "--source", "apim", "--subscription-id", SUBSCRIPTION, "--location", "West US",
             "--operation-id", "apim-op-1", "--correlation-id", "c-apim")
        call(capsys, enqueue, env, "--source", "operationalinsights", "--subscription-id", SUBSCRIPTION,
             "--location", "westus", "--operation-id", "oi-op-1", "--correlation-id", "c-oi", "--base64")
        call(capsys, enqueue, env, "--source", "devcenter", "--endpoint", sim.base_url, "--project", "web",
             "--operation-id", devcenter_op, "--correlation-id", "c-dc", "--timeout", "600")
        piped = subprocess.run(  # as a pipeline step: the header line straight from curl -D
            [sys.executable, "-m", "tools.enqueue", "--status-url", f"Azure-AsyncOperation: {arm_status}\r",
             "--correlation-id", "c-arm", "--context", '{"stage": "prod"}'],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
        )
        assert piped.returncode == 0, piped.stderr
        drain(env, host_json)

    outcomes = consume_results(capsys, env)
    by_correlation = {r["correlationId"]: r for r in outcomes}
    assert {k: r["outcome"] for k, r in by_correlation.items()} == {
        "c-apim": "Succeeded", "c-oi": "Failed", "c-dc": "Canceled", "c-arm": "Succeeded",
    }
    assert by_correlation["c-arm"]["context"] == {"stage": "prod"} and by_correlation["c-arm"]["operationId"] == "arm-op-1"
    assert by_correlation["c-oi"]["error"] == {"code": "Conflict", "message": "Workspace busy."}
    assert by_correlation["c-apim"]["polls"] == 2
    assert queues.count(queues.results) == 0, "--consume took them"
    assert json.loads(call(capsys, poison, env, "--json")) == []


def test_poison_fix_replay_result(capsys: pytest.CaptureFixture[str], queues: QueueSet, tmp_path: Path) -> None:
    queues.create()
    host_json = write_host_json(tmp_path)
    with Simulator() as sim:
        fixed = watcher_settings(sim, queues)
        broken = {**fixed, "STATUS_HOST_ALLOWLIST": "*.devcenter.azure.com"}  # the setting as first deployed
        operation = str(uuid.uuid4())
        sim.script(operation, [{"status": "Succeeded"}])
        request = {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web", "operationId": operation,
                   "correlationId": "c-fix"}
        queues.send_json(request)
        drain(broken, host_json)
        assert sim.requests(route="devcenter") == [], "a rejected request is never polled"

        (entry,) = json.loads(call(capsys, poison, broken, "--json"))
        assert (entry["kind"], entry["source"], entry["operationId"], entry["correlationId"]) == (
            "wrapped", "devcenter", operation, "c-fix")
        assert entry["reason"].startswith(f"Field 'endpoint' has host '127.0.0.1:{sim.port}'") and entry["valid"] is False
        assert "kept: Field 'endpoint'" in call(capsys, poison, broken, "--replay")  # not fixed yet: it stays

        (entry,) = json.loads(call(capsys, poison, fixed, "--json"))
        assert entry["valid"] is True, "with the fixed setting the same entry is valid"
        assert "replayed as message" in call(capsys, poison, fixed, "--replay")
        assert queues.peek(queues.poison) == []
        drain(fixed, host_json)
        assert sim.polls(operation) == 1

    (outcome,) = consume_results(capsys, fixed)
    assert (outcome["outcome"], outcome["correlationId"], outcome["operationId"]) == ("Succeeded", "c-fix", operation)


def test_a_request_the_host_poisoned_is_replayed_with_its_bookkeeping(
    capsys: pytest.CaptureFixture[str], queues: QueueSet, tmp_path: Path
) -> None:
    queues.create()
    host_json = write_host_json(tmp_path, max_dequeue_count=2)
    with Simulator(eventgrid_key=TOPIC_KEY) as sim:
        env = watcher_settings(sim, queues, RESULT_SINK="both", EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint,
                               EVENTGRID_TOPIC_KEY=TOPIC_KEY)
        sim.script("apim-op-h", [{"status": "InProgress"}, {"status": "Succeeded"}])
        sim.eventgrid_fail_next(2, 503)
        call(capsys, enqueue, env, "--source", "apim", "--subscription-id", SUBSCRIPTION, "--location", "westus",
             "--operation-id", "apim-op-h", "--correlation-id", "c-host")
        drain(env, host_json)  # InProgress -> re-enqueued; Succeeded -> the topic refuses twice -> the host poisons it

        (entry,) = json.loads(call(capsys, poison, env, "--json", "--host-json", str(host_json)))
        assert entry["kind"] == "raw" and entry["reason"].startswith("poisoned by the host after 2 dequeues")
        assert entry["valid"] is True and entry["deadlinePassed"] is False and entry["correlationId"] == "c-host"
        assert json.loads(entry["original"])["poll"]["polls"] == 1, "the copy the host poisoned carries its bookkeeping"
        before = consume_results(capsys, env)
        assert len(before) == 2 and sim.events() == [], "the queue was written per attempt, the topic never"

        assert "replayed as message" in call(capsys, poison, env, "--replay")
        drain(env, host_json)
        (event,) = sim.events()

    (after,) = consume_results(capsys, env)
    assert after["outcome"] == "Succeeded"
    assert after["polls"] == before[0]["polls"] == 2, "the replayed copy's one InProgress read, then this one"
    assert {r["eventId"] for r in before} == {after["eventId"]} == {event["id"]}
    assert after["enqueuedAt"] == before[0]["enqueuedAt"], "the deadline still counts from the first sighting"
