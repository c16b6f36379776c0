"""End to end, the three ways Azure reports an operation: Azure-AsyncOperation (covered in
test_watcher_e2e), Location and a data-plane Operation-Location, each ending every way it can.

``python -m tools.run_local --drain`` runs the real ``function_app`` against Azurite; the
simulator plays ARM (Location answers: 202 while running, 200/201/204 when done, a 4xx when
the action failed, a 202 that moves the Location), a generic Azure.Core data-plane host with
its own audience, and the managed identity endpoint. A second simulator is a trap: a moved
Location and a dataplane URL pointing at it must never reach it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.core.result import event_id_for
from shared.core.sources import SOURCES
from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import DATAPLANE_AUDIENCE, Simulator

SUB = "00000000-0000-0000-0000-000000000000"
LOC_PATH = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/operationResults/{{}}?api-version=2024-03-01"
MOVED_PATH = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operationResults/{{}}?api-version=2024-03-01"
DP_PATH = "/formrecognizer/documentModels/operations/{}?api-version=2024-11-30"
ERROR = {"code": "OperationNotAllowed", "message": "The VM is deallocated."}


def cases(sim: Simulator, trap: Simulator) -> list[tuple[str, dict[str, Any], list[dict], str]]:
    """(correlationId, request, script, expected outcome); the sim's operation id is the correlationId."""
    def loc(op: str, **extra: Any) -> dict[str, Any]:
        return {"source": "arm", "statusUrl": sim.base_url + LOC_PATH.format(op), "statusHeader": "Location", **extra}

    def dp(op: str, **extra: Any) -> dict[str, Any]:
        return {"source": "dataplane", "statusUrl": sim.base_url + DP_PATH.format(op), **extra}

    return [
        ("loc-delete", loc("loc-delete"), [{"http": 202, "retryAfter": "0"}, {"http": 202}, {"http": 204}], "Succeeded"),
        ("loc-post", loc("loc-post", statusHeader="location"), [{"http": 202}, {"http": 200, "body": {"value": [1, 2]}}], "Succeeded"),
        ("loc-put", loc("loc-put"), [{"http": 202}, {"http": 201, "body": {"id": "/x/vm1"}}], "Succeeded"),
        ("loc-400", loc("loc-400"), [{"http": 202}, {"http": 400, "error": ERROR}], "Failed"),
        ("loc-moved", loc("loc-moved"),
         [{"http": 202, "headers": {"Location": MOVED_PATH.format("loc-moved")}}, {"http": 202},
          {"http": 200, "body": {"done": True}}], "Succeeded"),
        ("loc-moved-off", loc("loc-moved-off"),
         [{"http": 202, "headers": {"Location": trap.base_url + LOC_PATH.format("loc-moved-off")}}, {"http": 204}],
         "PollingFailed"),
        ("loc-timeout", loc("loc-timeout", timeoutSeconds=2), [{"http": 202, "retryAfter": "1"}], "TimedOut"),
        ("loc-500s", loc("loc-500s"), [{"http": 202}, {"http": 500}], "PollingFailed"),
        ("loc-302", loc("loc-302"), [{"redirect": trap.base_url + "/x"}], "PollingFailed"),
        ("dp-ok", dp("dp-ok"), [{"status": "NotStarted"}, {"status": "Running", "percentComplete": 50},
                                {"status": "Succeeded", "extra": {"result": {"modelId": "m1"}}}], "Succeeded"),
        ("dp-failed", dp("dp-failed"), [{"status": "Running"}, {"status": "Failed", "error": {"error": ERROR}}], "Failed"),
        ("dp-canceled", dp("dp-canceled"), [{"status": "Canceled"}], "Canceled"),
        ("dp-timeout", dp("dp-timeout", timeoutSeconds=2), [{"status": "Running", "retryAfter": "1"}], "TimedOut"),
        ("dp-403", dp("dp-403"), [{"http": 403, "error": {"code": "PermissionDenied", "message": "no role"}}], "PollingFailed"),
        ("dp-location", dp("dp-location", statusHeader="Location"), [{"http": 202}, {"http": 204}], "Succeeded"),
    ]


def invalid_requests(sim: Simulator, trap: Simulator) -> dict[str, str]:
    """Raw message text -> the field its poison reason must name."""
    from datetime import UTC, datetime  # a copy's firstSeenAt must be recent to be read (contract §1)

    return {
        json.dumps({"source": "dataplane", "statusUrl": trap.base_url + DP_PATH.format("x")}): "statusUrl",
        json.dumps({"source": "dataplane", "statusUrl": sim.base_url + DP_PATH.format("x").split("?")[0]}): "statusUrl",
        json.dumps({"source": "dataplane", "statusUrl": sim.base_url.replace("127.0.0.1", "localhost") + DP_PATH.format("x")}): "statusUrl",
        json.dumps({"source": "arm", "statusUrl": sim.base_url + LOC_PATH.format("x"), "statusHeader": "Retry-After"}): "statusHeader",
        json.dumps({"source": "apim", "subscriptionId": SUB, "location": "w", "operationId": "x", "statusHeader": "Location"}): "statusHeader",
        json.dumps({"source": "arm", "statusUrl": sim.base_url + LOC_PATH.format("x"), "statusHeader": "Location",
                    "poll": {"firstSeenAt": datetime.now(UTC).isoformat(), "statusUrl": trap.base_url + LOC_PATH.format("x")}}): "poll.statusUrl",
    }


def test_location_and_dataplane_operations_end_every_way_end_to_end(queues: QueueSet, tmp_path: Path) -> None:
    host_json = fast_host_json(tmp_path)
    with Simulator() as sim, Simulator() as trap:
        valid = cases(sim, trap)
        for correlation, request, script, _ in valid:
            sim.script(correlation, script, style="location" if request.get("statusHeader", "").lower() == "location" else "status")
            queues.send(json.dumps({**request, "correlationId": correlation}))
        invalid = invalid_requests(sim, trap)
        for text in invalid:
            queues.send(text)
        env = watcher_settings(sim, queues, POLL_MAX_FAILURES="3",
                               DATAPLANE_HOSTS=f"127.0.0.1:{sim.port}=https://cognitiveservices.azure.com/.default")
        run = run_local_process(env, "--host-json", str(host_json), "--no-local-settings",
                                "--drain", "--max-seconds", "60", timeout=90)
        assert run.returncode == 0, run.stderr[-4000:]
        requests = sim.requests()
        assert trap.requests() == [], "a moved Location or dataplane URL off the rules must never be contacted"

    results = {r["correlationId"]: r for r in queues.take_all_json(queues.results)}
    poison = queues.take_all_json(queues.poison)
    assert queues.count(queues.operations) == 0
    assert {k: r["outcome"] for k, r in results.items()} == {c: outcome for c, _, _, outcome in valid}

    status_reads = [r for r in requests if r["route"] in ("arm", "dataplane")]
    polls = {c: [r for r in status_reads if r["operationId"] == c] for c, *_ in valid}
    for correlation, request, _, _ in valid:
        result = results[correlation]
        refreshes = 1 if correlation == "dp-403" else 0  # a 403 is read again once with a refreshed token
        assert result["polls"] + refreshes == len(polls[correlation]), correlation
        assert result["eventId"] == event_id_for(SOURCES[request["source"]], request["statusUrl"], result["outcome"])
        audiences = {r["audience"] for r in polls[correlation]}
        if request["source"] == "dataplane":
            assert audiences == {DATAPLANE_AUDIENCE}, correlation  # its pattern's scope and no other
        else:
            assert DATAPLANE_AUDIENCE not in audiences and len(audiences) == 1, correlation

    assert results["loc-delete"]["operation"] is None and results["loc-delete"]["polls"] == 3
    assert results["loc-delete"]["status"] is None and results["loc-delete"]["error"] is None
    assert results["loc-post"]["operation"] == {"value": [1, 2]}
    assert results["loc-put"]["operation"] == {"id": "/x/vm1"}
    assert results["loc-400"]["error"]["code"] == ERROR["code"] and results["loc-400"]["error"]["httpStatus"] == 400
    moved = results["loc-moved"]
    assert moved["statusUrl"] == sim.base_url + MOVED_PATH.format("loc-moved")  # the URL polled last
    assert [r["path"].split("/")[6] for r in polls["loc-moved"]] == ["westus", "eastus", "eastus"]
    assert moved["operation"] == {"done": True} and moved["operationId"] == "loc-moved"
    off = results["loc-moved-off"]
    assert off["error"]["code"] == "LocationRefused" and f"127.0.0.1:{trap.port}" in off["error"]["message"]
    assert off["polls"] == 1 and off["statusUrl"] == sim.base_url + LOC_PATH.format("loc-moved-off")
    assert results["loc-timeout"]["error"]["code"] == "DeadlineExceeded"
    assert results["loc-500s"]["error"]["code"] == "TooManyFailures"
    assert results["loc-302"]["error"]["code"] == "RedirectNotFollowed" and results["loc-302"]["polls"] == 1
    assert results["dp-ok"]["operation"]["result"] == {"modelId": "m1"} and results["dp-ok"]["status"] == "Succeeded"
    assert results["dp-failed"]["error"] == ERROR
    assert results["dp-403"]["error"]["httpStatus"] == 403 and results["dp-403"]["error"]["code"] == "PermissionDenied"
    assert results["dp-timeout"]["status"] == "Running"
    assert results["dp-location"]["operationId"] == "dp-location" and results["dp-location"]["operation"] is None

    fields = sorted(json.loads(p["original"]) and p["reason"].split("'")[1] for p in poison)
    assert fields == sorted(invalid.values())
    assert {p["original"] for p in poison} == set(invalid)
