"""End to end: ``python -m tools.run_local --drain`` runs the real ``function_app`` against
Azurite, the simulator plays ARM, Dev Center and the managed identity endpoint, and a second
simulator is a trap no request may reach.

One drain handles a mixed batch — every source, every outcome, transient faults on the way,
and each kind of invalid request — and each request's fate is then checked.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import Simulator

SUB = "00000000-0000-0000-0000-000000000000"


def dc_op() -> str:
    return str(uuid.uuid4())


def cases(sim: Simulator, trap: Simulator) -> tuple[list[tuple[str, Any, list[dict] | None]], dict[str, str]]:
    """(correlationId, request, script) triples, and the expected outcome per correlationId."""
    arm_url = f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/{{}}?api-version=2023-12-01"
    dc = {name: dc_op() for name in ("dc-ok", "dc-cancel", "dc-403")}
    valid = [
        ("apim-ok", {"source": "apim", "subscriptionId": SUB, "location": "West US", "operationId": "apim-ok"},
         [{"status": "InProgress", "percentComplete": 10}, {"http": 429, "retryAfter": "0"}, {"http": 503},
          {"status": "InProgress", "percentComplete": 70}, {"status": "Succeeded", "percentComplete": 100}]),
        ("oi-failed", {"source": "operationalinsights", "subscriptionId": "sub-oi", "location": "West US", "operationId": "oi-failed"},
         [{"status": "InProgress"}, {"status": "Failed", "error": {"code": "WorkspaceLocked", "message": "locked"}}]),
        ("dc-ok", {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web-app", "operationId": dc["dc-ok"]},
         [{"status": "NotStarted"}, {"status": "Running"}, {"status": "Succeeded", "properties": {"env": "dev"}}]),
        ("dc-cancel", {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web-app", "operationId": dc["dc-cancel"]},
         [{"status": "Running"}, {"status": "Canceled"}]),
        ("dc-403", {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web-app", "operationId": dc["dc-403"]},
         [{"http": 403, "error": {"code": "Forbidden", "message": "no role"}}]),
        ("arm-ok", {"source": "arm", "statusUrl": arm_url.format("arm-ok")}, [{"http": 202}, {"status": "Succeeded"}]),
        ("arm-404-grace", {"source": "arm", "statusUrl": arm_url.format("arm-404")}, [{"http": 404}, {"fault": "nostatus"}, {"status": "Succeeded"}]),
        ("apim-timeout", {"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": "apim-timeout", "timeoutSeconds": 2},
         [{"status": "InProgress"}]),
        ("apim-500s", {"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": "apim-500s"}, [{"http": 500}]),
        ("apim-b64", {"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": "apim-b64", "context": {"run": 7}},
         [{"status": "Cancelled"}]),
    ]
    expected = {
        "apim-ok": "Succeeded", "oi-failed": "Failed", "dc-ok": "Succeeded", "dc-cancel": "Canceled", "dc-403": "PollingFailed",
        "arm-ok": "Succeeded", "arm-404-grace": "Succeeded", "apim-timeout": "TimedOut", "apim-500s": "PollingFailed",
        "apim-b64": "Canceled",
    }
    out = []
    for correlation, request, script in valid:
        op = request.get("operationId") or request["statusUrl"].split("?")[0].rsplit("/", 1)[-1]
        out.append((correlation, {**request, "correlationId": correlation}, script))
        sim.script(op, script)
    return out, expected


def invalid_requests(sim: Simulator, trap: Simulator) -> dict[str, str]:
    """Raw message text -> the field its poison reason must name."""
    good_dc = {"source": "devcenter", "projectName": "web-app", "operationId": dc_op()}
    return {
        "this is not json": "message",
        json.dumps({"source": "apim", "subscriptionId": SUB, "location": "westus", "operationID": "x"}): "operationID",
        json.dumps({"source": "apim", "subscriptionId": "not-a-uuid", "location": "westus", "operationId": "x"}): "subscriptionId",
        json.dumps({"source": "apim", "subscriptionId": SUB, "operationId": "x"}): "location",
        json.dumps({"source": "blob", "operationId": "x"}): "source",
        json.dumps({**good_dc, "endpoint": trap.base_url}): "endpoint",
        json.dumps({**good_dc, "endpoint": sim.base_url, "projectName": "x"}): "projectName",
        json.dumps({"source": "arm", "statusUrl": f"{trap.base_url}/subscriptions/{SUB}/operations/x?api-version=1"}): "statusUrl",
        json.dumps({"source": "arm", "statusUrl": f"{sim.base_url}/subscriptions/{SUB}/operations/x"}): "statusUrl",
        json.dumps({"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": "x", "timeoutSeconds": "60"}): "timeoutSeconds",
    }


def test_every_source_outcome_and_invalid_kind_end_to_end(queues: QueueSet, tmp_path: Path) -> None:
    host_json = fast_host_json(tmp_path)
    with Simulator() as sim, Simulator() as trap:
        valid, expected = cases(sim, trap)
        invalid = invalid_requests(sim, trap)
        for correlation, request, _ in valid:
            text = json.dumps(request)
            queues.send(base64.b64encode(text.encode()).decode() if correlation == "apim-b64" else text)
        for text in invalid:
            queues.send(text)
        env = watcher_settings(sim, queues, POLL_MAX_FAILURES="3")
        run = run_local_process(env, "--host-json", str(host_json), "--no-local-settings",
                                "--drain", "--max-seconds", "60", timeout=90)
        assert run.returncode == 0, run.stderr[-4000:]
        requests = sim.requests()
        assert trap.requests() == [], "no request (not even for a token) may reach a host off the allowlist"

    results = {r["correlationId"]: r for r in queues.take_all_json(queues.results)}
    poison = queues.take_all_json(queues.poison)
    assert queues.count(queues.operations) == 0

    # exactly one outcome per valid request, the expected one
    assert {k: r["outcome"] for k, r in results.items()} == expected
    apim_ok = results["apim-ok"]
    assert apim_ok["polls"] == 5 and apim_ok["percentComplete"] == 100 and apim_ok["status"] == "Succeeded"
    assert apim_ok["statusUrl"].endswith("/locations/West%20US/operationStatuses/apim-ok?api-version=2024-05-01")
    assert results["oi-failed"]["error"] == {"code": "WorkspaceLocked", "message": "locked"}
    assert results["dc-ok"]["operation"]["properties"] == {"env": "dev"}
    assert results["dc-403"]["error"]["httpStatus"] == 403 and results["dc-403"]["error"]["code"] == "Forbidden"
    assert results["apim-500s"]["error"]["code"] == "TooManyFailures" and results["apim-500s"]["polls"] == 3
    assert results["apim-timeout"]["error"]["code"] == "DeadlineExceeded" and results["apim-timeout"]["status"] == "InProgress"
    assert results["arm-ok"]["operationId"] == "arm-ok"
    assert results["apim-b64"]["context"] == {"run": 7} and results["apim-b64"]["status"] == "Cancelled"
    assert len({r["eventId"] for r in results.values()}) == len(results)

    # each invalid request: one poison entry naming the field; never polled
    assert len(poison) == len(invalid)
    by_original = {p["original"]: p for p in poison}
    for text, field in invalid.items():
        named = "The message " if field == "message" else f"'{field}'"
        assert named in by_original[text]["reason"], (field, by_original[text]["reason"])
    polled = {r["operationId"] for r in requests if r["route"] != "msi"}
    assert "x" not in polled

    # the dequeue count never climbed for a healthy operation: every outcome was decided on its first delivery
    decided = re.findall(r"-> (\w+) \(\d+ polls\) \[source=\S+ operationId=\S+ .* dequeueCount=(\d+) eventId=[0-9a-f-]{36}\]",
                         run.stderr)
    assert len(decided) == len(expected) and {count for _, count in decided} == {"1"}
    # one log line per poll: the watcher's, not httpx's "HTTP Request:" line beside it (issue 21)
    assert len(re.findall(r"poll: .* \[source=apim operationId=apim-ok ", run.stderr)) == 5
    assert "HTTP Request:" not in run.stderr and " httpx: " not in run.stderr
    # tokens per audience
    audiences = {r["route"]: r["audience"] for r in requests if r["route"] in ("apim", "devcenter", "arm", "operationalinsights")}
    assert audiences["devcenter"] == "https://devcenter.azure.com"
    assert {audiences[k].rstrip("/") for k in ("apim", "arm", "operationalinsights")} == {sim.base_url}
