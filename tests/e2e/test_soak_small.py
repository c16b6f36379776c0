"""``make soak`` in small, inside ``make test``: 60 operations, two run_local workers, faults, chaos.

The same run as ``python -m tools.soak`` (see tools/measure/soak): every lane (the four seeded sources,
Location polling, a data-plane Operation-Location host, agentless callbacks, resources and deployments
watched by ``resourceId``) and every
outcome plus invalid requests, the simulator (a child process) faulting about 20 % of
status reads with every kind of fault, one worker SIGKILLed and started again, Azurite
(persisting to disk) restarted on the same port. Nothing may be lost and nothing may end
differently from its script; duplicates are allowed (at least once) and counted. A second,
pure test feeds the soak's judge a fabricated run to show it does catch lost, wrong and
duplicate outcomes. A third runs the hostile lane alone (every variant once): each must end as scripted, and no
output may hold a secret or fail a strict JSON parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.core.result import event_id_for
from shared.core.sources import SOURCES
from tools.measure.soak import SoakConfig, run_soak
from tools.measure.soak.audit import Secret, audit
from tools.measure.soak.check import judge
from tools.measure.soak.hostile import VARIANTS
from tools.measure.soak.plan import BODY_SECRET, PlannedOp, build_plan
from tools.measure.soak.report import summary


def test_a_small_soak_loses_nothing_and_gets_nothing_wrong(tmp_path: Path) -> None:
    report = run_soak(SoakConfig(ops=60, window=60, workdir=tmp_path / "soak", max_seconds=120, hostile_share=0))
    assert report["lost"] == 0 and report["wrong"] == 0, summary(report)
    assert report["secretsFound"] == 0 and report["notStrictJson"] == 0, summary(report)
    assert report["enqueued"] == 60 and not report["timedOut"] and report["leftInOperationsQueue"] == 0
    assert sum(report["outcomes"].values()) == 60
    by_lane = report["outcomesBySource"]
    assert sum(by_lane.get("resource", {}).values()) >= 5 and sum(by_lane.get("deployment", {}).values()) >= 5, by_lane
    assert report["pollsPerOperation"]["max"] >= 3

    chaos = report["chaos"]
    assert chaos["azuriteRestart"]["kind"] == "graceful" and chaos["azuriteRestart"]["signal"] == "SIGTERM"
    assert chaos["workerKill"]["restartedAtSeconds"] > chaos["workerKill"]["atSeconds"]
    assert chaos["azuriteRestart"]["atSeconds"] > chaos["workerKill"]["restartedAtSeconds"]
    assert "unexpectedWorkerExits" not in chaos
    killed, revived = report["workers"][0]["incarnations"]
    assert killed["ended"] == "SIGKILL" and killed["hostStats"] is None
    assert revived["ended"] == "exit 143" and revived["hostStats"] is not None, "the revived worker served to the end and was stopped by SIGTERM"

    callbacks = report["callbacks"]  # the callback lane: every wait told Azure Pipelines, once or more, one result
    assert callbacks["operations"] >= 5 and callbacks["taskCompleted"] + callbacks.get("refused", 0) == callbacks["operations"]

    faults = report["faults"]
    assert 0.1 <= faults["faultShare"] <= 0.3
    assert len(faults["faultsByKind"]) >= 5, faults["faultsByKind"]


def test_the_hostile_lane_loses_nothing_gets_nothing_wrong_and_leaks_nothing(tmp_path: Path) -> None:
    """Every hostile variant once (tools/measure/soak/hostile.py), no chaos: each must end as its script says, and
    no output may hold a secret or fail a strict JSON parser."""
    config = SoakConfig(ops=len(VARIANTS), window=len(VARIANTS), hostile_share=1.0, workdir=tmp_path / "soak",
                        max_seconds=180, kill_at=None, restart_at=None, drip_seconds=6.0,
                        status_read_timeout_seconds=2, poll_max_failures=5)
    report = run_soak(config)
    assert set(report["hostile"]) == set(VARIANTS)
    assert report["lost"] == 0 and report["wrong"] == 0, summary(report)
    assert report["secretsFound"] == 0 and report["notStrictJson"] == 0, summary(report)


def test_the_soak_judge_catches_lost_wrong_and_duplicate_outcomes() -> None:
    """The verdict's negative control: a fabricated run with one of each problem."""
    plan = build_plan(200, 7, "http://127.0.0.1:9")
    # ops whose eventId comes from the result's statusUrl (no producer statusUrl: the templated sources)
    valid = [op for op in plan if op.kind == "Succeeded" and not op.expect.get("eventUrl")][:4]
    invalid = next(op for op in plan if op.kind == "poison" and op.source != "callback")  # a callback one holds a job token

    def result(op: PlannedOp, **changes: Any) -> str:
        url = f"http://127.0.0.1:9/{op.sim_id}?api-version=1"
        body = {"source": op.source, "statusUrl": url, "outcome": "Succeeded", "status": op.expect["status"],
                "correlationId": op.key, "context": op.expect["context"], "error": None, "polls": 2, **changes}
        event = event_id_for(SOURCES[body["source"]], url, body["outcome"])
        return json.dumps({"eventId": event, **body})

    good, duplicated, wrong, conflicting = valid
    results = [result(good), result(duplicated), result(duplicated), result(wrong, outcome="Failed"),
               result(conflicting), result(conflicting, outcome="TimedOut")]
    poison = [json.dumps({"reason": "Field 'nothing' is wrong.", "original": invalid.text, "rejectedAt": "x"})]
    verdict = judge(plan, results, poison)
    assert verdict["lost"] == len(plan) - 5
    assert verdict["duplicates"] == 1 and verdict["opsWithDuplicates"] == 2
    assert {w["op"] for w in verdict["wrongExamples"]} == {wrong.key, conflicting.key, invalid.key}


def test_the_soak_plan_mixes_location_and_dataplane_operations() -> None:
    plan = build_plan(1200, 3, "http://127.0.0.1:9")
    lanes = {(op.source, op.kind) for op in plan}
    for kind in ("Succeeded", "Failed", "TimedOut", "PollingFailed"):
        assert ("arm-location", kind) in lanes and ("dataplane", kind) in lanes, kind
    assert ("dataplane", "Canceled") in lanes
    location = [op for op in plan if op.source == "arm-location" and op.kind != "poison"]
    assert all(json.loads(op.text)["statusHeader"].lower() == "location" for op in location if not op.text.startswith("ey"))
    assert any("statusUrl" in op.expect for op in location), "some Locations move"
    assert any(op.expect.get("errorCode") == "LocationRefused" for op in location)
    assert all(op.script["style"] == "location" for op in location)


def test_the_soak_judge_allows_a_stale_copy_of_a_moved_location_but_not_only_stale_ones() -> None:
    plan = build_plan(600, 3, "http://127.0.0.1:9")
    op = next(o for o in plan if "statusUrl" in o.expect and o.kind == "Succeeded")
    original, moved = op.expect["eventUrl"], op.expect["statusUrl"]
    event = event_id_for(SOURCES["arm"], original, "Succeeded")

    def result(url: str) -> str:
        return json.dumps({"eventId": event, "source": "arm", "statusUrl": url, "outcome": "Succeeded", "status": None,
                           "correlationId": op.key, "context": op.expect["context"], "error": None, "polls": 3})

    def problems(*urls: str) -> set[Any]:
        return {w["op"] for w in judge(plan, [result(u) for u in urls], [])["wrongExamples"]}

    assert op.key not in problems(moved)
    assert op.key not in problems(moved, original)  # a stale duplicate from before the move
    assert op.key in problems(original)  # the Location never moved
    assert op.key in problems(moved, "http://127.0.0.1:9/elsewhere")


def test_the_soak_judge_catches_a_lost_a_conflicting_and_a_leaked_callback() -> None:
    """The callback lane's negative control: no TaskCompleted, two different results, a token in a result."""
    from tools.measure.soak.plan import TOKEN_PREFIX

    plan = build_plan(140, 1, "http://127.0.0.1:9")
    ops = [op for op in plan if op.source == "callback" and op.kind != "poison" and op.expect["azdoAnswers"] != [401]]
    fine, silent, conflicting = ops[:3]

    def event(op: PlannedOp, result: str, status: int = 200) -> dict[str, Any]:
        return {"kind": "event", "planId": op.expect["planId"], "status": status,
                "body": {"name": "TaskCompleted", "taskId": op.expect["taskId"], "jobId": op.expect["jobId"], "result": result}}

    azdo = [event(fine, fine.expect["taskResult"], 500), event(fine, fine.expect["taskResult"]),
            event(fine, fine.expect["taskResult"]), event(silent, silent.expect["taskResult"], 503),
            event(conflicting, "succeeded"), event(conflicting, "failed")]
    verdict = judge([fine, silent, conflicting], [], [], azdo)
    assert f"{silent.key} (no TaskCompleted accepted after 1 POSTs)" in verdict["lostExamples"]
    assert f"{fine.key} (" not in " ".join(verdict["lostExamples"])
    whys = [w["why"] for w in verdict["wrongExamples"]]
    assert any("conflicting TaskCompleted results" in why for why in whys)
    leaked = json.dumps({"correlationId": "nobody", "note": TOKEN_PREFIX + "x"})
    found = audit([Secret("callback authToken", TOKEN_PREFIX)], results=[leaked], poison=[])
    assert found["secretsFound"] == 1 and found["secretExamples"][0]["where"] == "result 0 (nobody)"
    assert verdict["callbacks"]["duplicates"] == 2 and verdict["callbacks"]["retried"] == 1  # fine: one 500 first


def test_the_soak_plan_watches_resources_and_deployments_by_id() -> None:
    plan = build_plan(900, 5, "http://127.0.0.1:9")
    for lane in ("resource", "deployment"):
        ops = [op for op in plan if op.source == lane and op.kind != "poison"]
        assert {op.kind for op in ops} == {"Succeeded", "Failed", "Canceled", "TimedOut", "PollingFailed"}, lane
        assert all(op.resource_id and op.resource_script["steps"] and not op.sim_id for op in ops)
        assert any(op.steps[0] == {"http": 404} for op in ops), "some are read before they exist"
    deployments = [json.loads(op.text)["resourceId"] for op in plan if op.source == "deployment" and not op.text.startswith("ey")
                   and op.kind != "poison"]
    assert {d.split("/providers/Microsoft.Resources/")[0].count("/") for d in deployments} >= {0, 2, 4}  # tenant, mg/sub, group
    assert any(op.expect["watch"].startswith("deleted|") for op in plan if op.source == "resource" and op.kind == "Succeeded")


def test_the_soak_judge_catches_a_resource_body_in_a_result() -> None:
    plan = build_plan(200, 7, "http://127.0.0.1:9")
    op = next(o for o in plan if o.source == "deployment" and o.kind == "Succeeded")
    event = event_id_for(SOURCES["arm"], op.expect["eventUrl"], "Succeeded", op.expect["watch"])
    good = {"eventId": event, "source": "arm", "statusUrl": op.expect["eventUrl"], "outcome": "Succeeded",
            "status": op.expect["status"], "correlationId": op.key, "context": op.expect["context"], "error": None, "polls": 2,
            "operationId": op.expect["operation"]["name"],
            "operation": {"id": op.expect["operation"]["id"], "name": op.expect["operation"]["name"],
                          "type": "Microsoft.Resources/deployments", "provisioningState": op.expect["status"]}}
    leaked = {**good, "operation": {**good["operation"], "properties": {"outputs": {"key": op.steps[-1]["properties"]}}}}

    def wrong(result: dict[str, Any]) -> list[Any]:
        return judge(plan, [json.dumps(result)], [])["wrongExamples"]

    def secrets(result: dict[str, Any]) -> int:
        return audit([Secret("resource body secret", BODY_SECRET)], results=[json.dumps(result)], poison=[])["secretsFound"]

    assert wrong(good) == [] and secrets(good) == 0
    assert {w["op"] for w in wrong(leaked)} == {op.key} and secrets(leaked) == 1  # the projection's keys, and the secret
