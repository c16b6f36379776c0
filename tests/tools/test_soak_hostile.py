"""The soak's hostile lane and output audit, fed fabricated runs: they must catch what they are there to catch."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from shared.core.result import event_id_for
from shared.core.sources import SOURCES
from tools.measure.soak.audit import MAX_DEPTH, Secret, audit, scrub
from tools.measure.soak.check import judge
from tools.measure.soak.hostile import HUGE_STATUS_CHARS, VARIANTS, is_hostile
from tools.measure.soak.plan import HOSTILE_LANE, PlannedOp, build_plan
from tools.measure.soak.procs import SimulatorProcess
from tools.measure.soak.report import failed

BASE = "http://127.0.0.1:9"
TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi14eXo"
KEY = "k3y+with/signs=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789="
SECRETS = [Secret("bearer token (https://management.azure.com)", TOKEN), Secret("Event Grid key", KEY)]


def hostile_plan(n: int = len(VARIANTS)) -> list[PlannedOp]:
    return build_plan(n, 5, BASE, hostile_share=1.0)


def op_of(plan: list[PlannedOp], variant: str) -> PlannedOp:
    return next(op for op in plan if op.expect.get("variant") == variant)


def result(op: PlannedOp, **changes: Any) -> dict[str, Any]:
    url = op.expect["eventUrl"]
    outcome = changes.get("outcome", op.expect["outcome"])
    event = event_id_for(SOURCES[op.expect["source"]], url, outcome)
    error = {"code": op.expect.get("errorCode"), "httpStatus": op.expect.get("httpStatus")} if "errorCode" in op.expect else None
    body = {"eventId": str(event), "source": op.expect["source"], "statusUrl": url, "outcome": outcome,
            "status": op.expect.get("status"), "correlationId": op.key, "context": op.expect["context"], "error": error,
            "percentComplete": None, "polls": 3}
    return {**body, **changes}


def test_the_hostile_share_is_exact_and_every_variant_comes_in_order() -> None:
    assert sum(is_hostile(i, 0.05) for i in range(2000)) == 100
    assert not any(is_hostile(i, 0.0) for i in range(100))
    plan = build_plan(400, 3, BASE, hostile_share=0.05)
    hostile = [op for op in plan if op.source == HOSTILE_LANE]
    assert [op.expect["variant"] for op in hostile] == list(VARIANTS)[:20]
    assert build_plan(400, 3, BASE, hostile_share=0.05) == plan  # pure: the same plan every time


def test_the_hostile_scripts_are_what_they_claim() -> None:
    plan = hostile_plan()
    assert len(op_of(plan, "huge-status").steps[0]["status"]) > HUGE_STATUS_CHARS
    assert "1e999" in json.dumps(op_of(plan, "non-finite").steps)
    assert op_of(plan, "deep-100000").steps[0]["raw"]["deep"].count("[") == 100_000
    near = op_of(plan, "long-location-near-64k")
    assert 62_000 < len(near.text.encode()) <= 63 * 1024 and len(near.steps[0]["headers"]["Location"]) > 3000
    assert all(op.steps[0].get("drip") for op in plan if op.expect["variant"].startswith("drip"))
    assert all(any(step.get("echo") for step in op.steps) for op in plan if op.expect["variant"].startswith("echo"))
    poison = [op for op in plan if op.kind == "poison"]
    assert len(poison) == 5 and all(op.sim_id for op in poison)  # scripted: a watcher that polls one ends quickly
    assert '"correlationId":"op-' in op_of(plan, "poison-duplicate-key").text.split(",", 3)[-1]
    sas = op_of(plan, "sas")
    assert f"sig={quote(sas.expect['sasSignature'], safe='')}" in sas.text and "%2" in quote(sas.expect["sasSignature"], safe="")


def test_the_judge_checks_the_hostile_ends() -> None:
    plan = hostile_plan()
    huge, finite, near = op_of(plan, "huge-status"), op_of(plan, "non-finite"), op_of(plan, "long-location-near-64k")
    dup = op_of(plan, "poison-duplicate-key")
    ok = [result(huge), result(finite), result(near, error={"code": "LocationTooLarge"}, context=None, trimmed=["context"])]
    poison = [json.dumps({"reason": "The message holds 'correlationId' twice.", "original": dup.text, "rejectedAt": "x"})]
    verdict = judge(plan, [json.dumps(r) for r in ok], poison)
    assert {w["op"] for w in verdict["wrongExamples"]} == set()
    assert verdict["hostile"]["huge-status"] == {"operations": 1, "lost": 0, "wrong": 0}
    assert verdict["hostile"]["drip-once"]["lost"] == 1

    bad = [result(huge, outcome="PollingFailed"), result(finite, percentComplete=float("inf")),
           result(near, error={"code": ""}, context=None)]
    raw_poison = [dup.text]  # moved by the host: no reason
    verdict = judge(plan, [json.dumps(r) for r in bad], raw_poison)
    assert {w["op"] for w in verdict["wrongExamples"]} == {huge.key, finite.key, near.key, dup.key}
    assert verdict["hostile"]["non-finite"]["wrong"] == 1


def test_the_judge_wants_an_event_for_every_result_when_event_grid_is_a_sink() -> None:
    plan = hostile_plan()
    huge = op_of(plan, "huge-status")
    one = result(huge)
    assert f"{huge.key} (no Event Grid event)" in judge(plan, [json.dumps(one)], [], events=[])["lostExamples"]
    assert f"{huge.key} (" not in " ".join(judge(plan, [json.dumps(one)], [], events=[{"id": one["eventId"]}])["lostExamples"])


@pytest.mark.parametrize("form", [
    TOKEN, quote(f"Bearer {TOKEN}", safe=""), TOKEN[:16], TOKEN.split(".", 1)[1], TOKEN.rsplit(".", 1)[1],
    base64.b64encode(TOKEN.encode()).decode(),
])
def test_the_audit_finds_a_token_in_any_form_in_a_log_line(form: str) -> None:
    log = f"INFO poll: running\nERROR publish refused: {form} was not valid\nINFO done"
    found = audit(SECRETS, results=[], poison=[], logs=[("worker-0.1.log", log)])
    assert found["secretsFound"] == 1 and found["secretsByOutput"] == {"logs": 1}
    example = found["secretExamples"][0]
    assert example["where"] == "worker-0.1.log:2" and example["secret"].startswith("bearer token")
    assert form not in json.dumps(found) and "«secret»" in example["excerpt"]


def test_the_audit_finds_the_key_url_encoded_in_results_events_and_poison() -> None:
    encoded = quote(KEY, safe="")
    assert encoded != KEY
    found = audit(SECRETS, results=[json.dumps({"correlationId": "op-1", "error": {"message": encoded}})],
                  poison=[json.dumps({"reason": KEY[:20]})], events=[{"id": "e", "data": {"x": f"key={KEY}"}}])
    assert found["secretsByOutput"] == {"events": 1, "poison": 1, "results": 1}
    assert {(e["where"], e["form"]) for e in found["secretExamples"]} == {
        ("result 0 (op-1)", "URL-encoded"), ("poison entry 0", "first 16 characters"), ("Event Grid event e", "as issued")}
    assert KEY not in scrub(json.dumps(found) + KEY + encoded, SECRETS)


def test_a_clean_run_has_no_findings() -> None:
    clean = json.dumps({"correlationId": "op-1", "error": {"message": "Bearer [redacted]"}, "percentComplete": None})
    found = audit(SECRETS, results=[clean], poison=[], logs=[("w.log", "INFO sig=[redacted]\n")])
    assert found["secretsFound"] == 0 and found["notStrictJson"] == 0


@pytest.mark.parametrize("text, why", [
    ('{"percentComplete":Infinity}', "Infinity"), ('{"p":NaN}', "NaN"), ('{"p":1e999}', "finite"),
    ('{"p":' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "nested"),
    ('{"p":' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
])
def test_the_audit_refuses_what_a_strict_parser_refuses(text: str, why: str) -> None:
    found = audit([], results=[text], poison=[text], producer_texts=())
    assert found["notStrictJson"] == 2 and why in found["notStrictExamples"][0]["why"]
    assert audit([], results=[], poison=[text], producer_texts=[text])["notStrictJson"] == 0  # the producer's own text
    assert audit([], results=[], poison=[], eventgrid_refused=3)["notStrictJson"] == 3


def test_a_secret_or_a_non_strict_output_fails_the_soak() -> None:
    base = {"lost": 0, "wrong": 0, "secretsFound": 0, "notStrictJson": 0}
    assert not failed(base)
    assert failed({**base, "secretsFound": 1}) and failed({**base, "notStrictJson": 1}) and failed({**base, "lost": 1})


def test_the_simulator_process_takes_secrets_that_look_like_options(tmp_path: Path) -> None:
    """A random identity header or key may start with '-' (token_urlsafe does one time in 64): not an option."""
    sim = SimulatorProcess(tmp_path / "sim.log", slow_seconds=1, max_requests=10, eventgrid_key="-key+/=",
                           identity_header="-header")
    try:
        sim.start()
        assert sim.info["identityHeader"] == "-header"
    finally:
        sim.stop()
