"""tools.simulator over real loopback HTTP: routes, wire shapes, auth, scripts, faults, Event Grid, CLI."""
from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.dev.sim import EVENTGRID_CONTENT_TYPE, INJECTABLE_FAULTS, ScriptError, Simulator
from tools.dev.sim.script import validate_steps

ROOT = Path(__file__).resolve().parents[2]
ARM = "https://management.azure.com"
DEVCENTER = "https://devcenter.azure.com"
EVENTGRID = "https://eventgrid.azure.net"
SUB = "00000000-0000-0000-0000-000000000000"
DC_OP = "fa067167-e49d-41bd-8dd8-de719b9de3b3"


def apim_path(op: str, location: str = "testLocation") -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.ApiManagement/locations/{location}/operationStatuses/{op}"


def oi_path(op: str, location: str = "West%20US") -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.OperationalInsights/locations/{location}/operationStatuses/{op}"


def arm_path(op: str) -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/{op}"


def dc_path(op: str = DC_OP, project: str = "myProject") -> str:
    return f"/projects/{project}/operationstatuses/{op}"


@pytest.fixture
def sim():
    with Simulator(slow_seconds=5.0) as s:
        yield s


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        yield c


def msi_token(client: httpx.Client, sim: Simulator, resource: str) -> str:
    r = client.get("/msi/token", params={"api-version": "2019-08-01", "resource": resource},
                   headers={"X-IDENTITY-HEADER": sim.identity_header})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def arm_auth(client, sim):
    return bearer(msi_token(client, sim, ARM))


@pytest.fixture
def dc_auth(client, sim):
    return bearer(msi_token(client, sim, DEVCENTER))


def read(client, path, auth, api_version="2024-05-01"):
    return client.get(path, params={"api-version": api_version}, headers=auth)


# --------------------------------------------------------------------------- managed identity


def test_real_managed_identity_credential_gets_a_token_that_arm_routes_accept(sim, client, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    for var in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "AZURE_CLIENT_ID",
                "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    before = int(time.time())
    token = ManagedIdentityCredential().get_token(f"{ARM}/.default")
    assert 3500 <= token.expires_on - before <= 3700
    msi = sim.requests(route="msi")
    assert [(r["audience"], r["status"], r["authMode"]) for r in msi] == [(ARM, 200, "identity-header")]
    assert msi[0]["query"]["api-version"] == "2019-08-01"

    sim.script("op-mi", [{"status": "Succeeded"}])
    r = read(client, apim_path("op-mi"), bearer(token.token))
    assert r.status_code == 200 and r.json()["status"] == "Succeeded"
    assert sim.requests(operation_id="op-mi")[0]["audience"] == ARM


def test_real_credential_with_client_id_and_loopback_arm_scope(sim, client, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    token = ManagedIdentityCredential(client_id="11111111-2222-3333-4444-555555555555").get_token(
        f"{sim.base_url}/.default")
    msi = sim.requests(route="msi")[-1]
    assert msi["audience"] == sim.base_url
    assert msi["query"]["client_id"] == "11111111-2222-3333-4444-555555555555"
    sim.script("op-loop", [{"status": "InProgress"}])
    assert read(client, arm_path("op-loop"), bearer(token.token)).status_code == 200


def test_msi_response_shape(sim, client):
    r = client.get(sim.identity_endpoint, params={"api-version": "2019-08-01", "resource": DEVCENTER, "client_id": "c1"},
                   headers={"X-IDENTITY-HEADER": sim.identity_header})
    body = r.json()
    assert r.status_code == 200
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["resource"] == DEVCENTER and body["token_type"] == "Bearer" and body["client_id"] == "c1"
    assert isinstance(body["expires_on"], str) and abs(int(body["expires_on"]) - time.time() - 3600) < 60
    # Distinct tokens (a counter is encoded).
    assert msi_token(client, sim, DEVCENTER) != body["access_token"]


@pytest.mark.parametrize("params, headers, status", [
    ({"api-version": "2019-08-01", "resource": ARM}, {}, 400),
    ({"api-version": "2019-08-01", "resource": ARM}, {"X-IDENTITY-HEADER": "wrong"}, 401),
    ({"api-version": "2017-09-01", "resource": ARM}, {"X-IDENTITY-HEADER": "sim-identity-header"}, 400),
    ({"api-version": "2019-08-01"}, {"X-IDENTITY-HEADER": "sim-identity-header"}, 400),
])
def test_msi_rejections(sim, client, params, headers, status):
    r = client.get("/msi/token", params=params, headers=headers)
    assert r.status_code == status
    assert r.json()["statusCode"] == status and r.json()["message"]
    assert sim.requests()[-1]["status"] == status


# --------------------------------------------------------------------------- body shapes per source


def test_apim_shape_percent_retry_after_start_and_end_time(sim, client, arm_auth):
    sim.script("apim-op", [{"status": "InProgress", "percentComplete": 40, "retryAfter": "2"},
                           {"status": "Succeeded", "percentComplete": 100, "resourceId": "/subscriptions/x/r"}])
    first = read(client, apim_path("apim-op"), arm_auth)
    assert first.status_code == 200 and first.headers["Retry-After"] == "2"
    assert first.headers["content-type"].startswith("application/json")
    b1 = first.json()
    assert b1 == {"id": f"/subscriptions/{SUB}/providers/Microsoft.ApiManagement/locations/testLocation"
                        f"/operationStatuses/apim-op",
                  "name": "apim-op", "status": "InProgress", "percentComplete": 40, "startTime": b1["startTime"]}
    b2 = read(client, apim_path("apim-op"), arm_auth).json()
    assert b2["status"] == "Succeeded" and b2["percentComplete"] == 100 and b2["resourceId"] == "/subscriptions/x/r"
    assert b2["startTime"] == b1["startTime"] and b2["endTime"] >= b2["startTime"]
    assert b2["startTime"].endswith("Z")
    b3 = read(client, apim_path("apim-op"), arm_auth).json()   # the last step repeats, times stay fixed
    assert b3 == b2


def test_apim_error_is_a_bare_error_detail(sim, client, arm_auth):
    err = {"code": "Conflict", "message": "boom", "target": "x", "details": [{"code": "D", "message": "d"}],
           "additionalInfo": [{"type": "T", "info": {"k": 1}}]}
    sim.script("apim-fail", [{"status": "Failed", "error": err}])
    body = read(client, apim_path("apim-fail"), arm_auth).json()
    assert body["status"] == "Failed" and body["error"] == err and "endTime" in body


def test_operationalinsights_error_is_nested_one_level_deeper(sim, client, arm_auth):
    err = {"code": "WorkspaceFailed", "message": "nope"}
    sim.script("713192d7-503f-477a-9cfe-4efc3ee2bd11", [{"status": "Failed", "error": err}])
    r = read(client, oi_path("713192d7-503f-477a-9cfe-4efc3ee2bd11"), arm_auth, "2025-07-01")
    body = r.json()
    assert body["error"] == {"error": err}
    assert body["id"] == f"/subscriptions/{SUB}/locations/westus/operationStatuses/713192d7-503f-477a-9cfe-4efc3ee2bd11"
    assert body["name"] == "713192d7-503f-477a-9cfe-4efc3ee2bd11"
    rec = sim.requests()[-1]
    assert rec["path"] == oi_path("713192d7-503f-477a-9cfe-4efc3ee2bd11")   # raw, still percent-encoded
    assert "West%20US" in rec["path"] and rec["route"] == "operationalinsights"
    assert rec["query"] == {"api-version": "2025-07-01"}


def test_devcenter_shape_properties_and_foundations_error(sim, client, dc_auth):
    inner = {"code": "Outer", "innererror": {"code": "Inner"}}
    sim.script(DC_OP, [{"status": "Running", "percentComplete": 10.5},
                       {"status": "Succeeded", "properties": {"environment": "dev"}, "resourceId": "/projects/p/x"}])
    running = read(client, dc_path(), dc_auth, "2025-02-01").json()
    assert running == {"id": f"/projects/myProject/operationStatuses/{DC_OP}", "name": DC_OP, "status": "Running",
                       "percentComplete": 10.5, "startTime": running["startTime"]}
    done = read(client, dc_path(), dc_auth, "2025-02-01").json()
    assert done["properties"] == {"environment": "dev"} and done["resourceId"] == "/projects/p/x" and done["endTime"]

    other = "0a067167-e49d-41bd-8dd8-de719b9de3b3"
    sim.script(other, [{"status": "Failed", "error": {"code": "EnvFailed", "message": "m", "innererror": inner}}])
    failed = read(client, dc_path(other), dc_auth, "2025-02-01").json()
    assert failed["error"] == {"code": "EnvFailed", "message": "m", "innererror": inner}


def test_generic_arm_shape_on_any_subscription_path(sim, client, arm_auth):
    sim.script("arm-op", [{"status": "Canceled", "error": {"code": "Canceled", "message": "by user"}}])
    path = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/locations/eastus/operations/arm-op"
    body = read(client, path, arm_auth, "2023-01-01").json()
    assert body["id"] == path and body["name"] == "arm-op" and body["status"] == "Canceled"
    assert body["error"] == {"code": "Canceled", "message": "by user"} and body["endTime"]
    assert sim.requests()[-1]["route"] == "arm"
    body = read(client, arm_path("arm-op"), arm_auth, "2023-01-01").json()
    assert body["status"] == "Canceled"


def test_status_extra_fields_and_removals(sim, client, arm_auth):
    sim.script("x-op", [{"status": "InProgress", "extra": {"name": None, "operations": [], "novel": {"a": 1}}}])
    body = read(client, apim_path("x-op"), arm_auth).json()
    assert "name" not in body and body["operations"] == [] and body["novel"] == {"a": 1}


# --------------------------------------------------------------------------- 404 / 400 / 405


def test_unscripted_operation_is_404_with_route_error_body(sim, client, arm_auth, dc_auth):
    r = read(client, apim_path("never-scripted"), arm_auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    assert "x-ms-error-code" not in r.headers
    r = read(client, dc_path("1a067167-e49d-41bd-8dd8-de719b9de3b3"), dc_auth, "2025-02-01")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    assert r.headers["x-ms-error-code"] == "NotFound"
    assert sim.polls("never-scripted") == 1


def test_unknown_routes_are_404_and_recorded(sim, client):
    for path in ("/", "/nothing/here", "/projects/p/other/x", "/msi/token/extra"):
        assert client.get(path).status_code == 404
    assert [r["path"] for r in sim.requests()] == ["/", "/nothing/here", "/projects/p/other/x", "/msi/token/extra"]
    assert {r["route"] for r in sim.requests()} == {"unknown"}


def test_api_version_is_required(sim, client, arm_auth, dc_auth):
    sim.script("v-op", [{"status": "InProgress"}])
    sim.script(DC_OP, [{"status": "Running"}])
    r = client.get(apim_path("v-op"), headers=arm_auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    r = client.get(dc_path(), headers=dc_auth)
    assert r.status_code == 400 and r.headers["x-ms-error-code"] == "MissingApiVersionParameter"
    # Rejected reads do not consume steps.
    assert sim.operation("v-op")["stepsServed"] == 0


def test_status_routes_are_get_only(sim, client, arm_auth):
    sim.script("m-op", [{"status": "InProgress"}])
    r = client.post(apim_path("m-op"), params={"api-version": "1"}, headers=arm_auth)
    assert r.status_code == 405 and r.json()["error"]["code"] == "MethodNotAllowed"


# --------------------------------------------------------------------------- audience and token checks


def test_arm_route_rejects_missing_forged_and_wrong_audience_tokens(sim, client):
    sim.script("a-op", [{"status": "InProgress"}])
    cases = {
        "missing": {},
        "not-bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "forged": bearer("eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2ln"),
        "devcenter-audience": bearer(msi_token(client, sim, DEVCENTER)),
        "eventgrid-audience": bearer(msi_token(client, sim, EVENTGRID)),
    }
    for name, headers in cases.items():
        r = read(client, apim_path("a-op"), headers)
        assert r.status_code == 401, name
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken", name
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), name
    assert sim.operation("a-op")["stepsServed"] == 0
    assert sim.polls("a-op") == len(cases)
    audiences = [r["audience"] for r in sim.requests(operation_id="a-op")]
    assert audiences == [None, None, None, DEVCENTER, EVENTGRID]


def test_tokens_from_another_simulator_are_unknown(sim, client):
    with Simulator() as other:
        foreign = other.issue_token(ARM)
    sim.script("f-op", [{"status": "InProgress"}])
    assert read(client, apim_path("f-op"), bearer(foreign)).status_code == 401


@pytest.mark.parametrize("audience", [ARM, ARM + "/", "https://management.core.windows.net/", "SELF", "SELF/"])
def test_arm_audiences_accepted(sim, client, audience):
    audience = audience.replace("SELF", sim.base_url)
    sim.script("ok-op", [{"status": "InProgress"}])
    assert read(client, apim_path("ok-op"), bearer(msi_token(client, sim, audience))).status_code == 200


def test_devcenter_route_wants_devcenter_audience(sim, client, arm_auth, dc_auth):
    sim.script(DC_OP, [{"status": "Running"}])
    r = read(client, dc_path(), arm_auth, "2025-02-01")
    assert r.status_code == 401 and r.headers["x-ms-error-code"] == "InvalidAuthenticationToken"
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert read(client, dc_path(), dc_auth, "2025-02-01").status_code == 200


def test_revoked_and_expired_tokens_are_rejected(sim, client, arm_auth):
    sim.script("r-op", [{"status": "InProgress"}])
    assert read(client, apim_path("r-op"), arm_auth).status_code == 200
    sim.revoke_tokens()
    assert read(client, apim_path("r-op"), arm_auth).status_code == 401
    assert read(client, apim_path("r-op"), bearer(msi_token(client, sim, ARM))).status_code == 200
    with Simulator(token_lifetime_seconds=0) as short, httpx.Client(base_url=short.base_url) as c2:
        short.script("e-op", [{"status": "InProgress"}])
        r = read(c2, apim_path("e-op"), bearer(msi_token(c2, short, ARM)))
        assert r.status_code == 401 and r.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_reset_keeps_issued_tokens_valid(sim, client, arm_auth):
    sim.reset()
    sim.script("after-reset", [{"status": "InProgress"}])
    assert read(client, apim_path("after-reset"), arm_auth).status_code == 200


# --------------------------------------------------------------------------- scripts


def test_steps_times_last_repeats_case_insensitive_ids_and_polls(sim, client, arm_auth):
    sim.script("Op-Case", [{"status": "NotStarted"}, {"status": "InProgress", "times": 3}, {"status": "Succeeded"}])
    statuses = [read(client, apim_path("OP-CASE" if i % 2 else "op-case"), arm_auth).json()["status"]
                for i in range(7)]
    assert statuses == ["NotStarted", "InProgress", "InProgress", "InProgress", "Succeeded", "Succeeded", "Succeeded"]
    assert sim.polls("op-case") == 7 and sim.polls("OP-CASE") == 7
    info = sim.operation("op-case")
    assert info["operationId"] == "Op-Case" and info["stepsServed"] == 7 and info["lastStatus"] == "Succeeded"
    assert sim.polls("unknown-op") == 0


def test_rescripting_replaces_script_and_counters(sim, client, arm_auth):
    sim.script("re-op", [{"status": "InProgress"}])
    read(client, apim_path("re-op"), arm_auth)
    sim.script("re-op", [{"status": "Failed"}])
    assert sim.polls("re-op") == 0
    assert read(client, apim_path("re-op"), arm_auth).json()["status"] == "Failed"


def test_http_steps(sim, client, arm_auth):
    date = formatdate(time.time() + 30, usegmt=True)
    sim.script("h-op", [
        {"http": 429, "retryAfter": "1", "error": {"code": "TooManyRequests", "message": "slow down"}},
        {"http": 500},
        {"http": 503, "retryAfter": date},
        {"http": 202, "retryAfterMs": 1500},
        {"http": 404},
        {"http": 400, "error": {"code": "InvalidApiVersion"}},
        {"http": 403, "headers": {"x-ms-failure-cause": "gateway"}},
        {"http": 502, "body": {"message": "gateway says no"}},
        {"status": "Succeeded"},
    ])
    got = [read(client, apim_path("h-op"), arm_auth) for _ in range(9)]
    assert [r.status_code for r in got] == [429, 500, 503, 202, 404, 400, 403, 502, 200]
    assert got[0].headers["Retry-After"] == "1"
    assert got[0].json() == {"error": {"code": "TooManyRequests", "message": "slow down"}}
    assert got[1].json()["error"]["code"] == "InternalServerError" and got[1].json()["error"]["message"]
    assert got[2].headers["Retry-After"] == date
    assert got[3].content == b"" and got[3].headers["retry-after-ms"] == "1500"
    assert got[3].headers["content-length"] == "0"
    assert got[4].json()["error"]["code"] == "NotFound"
    assert got[5].json()["error"] == {"code": "InvalidApiVersion", "message": "Simulated HTTP 400."}
    assert got[6].json()["error"]["code"] == "AuthorizationFailed" and got[6].headers["x-ms-failure-cause"] == "gateway"
    assert got[7].json() == {"message": "gateway says no"}
    assert [r["status"] for r in sim.requests(operation_id="h-op")] == [429, 500, 503, 202, 404, 400, 403, 502, 200]


def test_devcenter_http_error_carries_x_ms_error_code(sim, client, dc_auth):
    sim.script(DC_OP, [{"http": 503, "error": {"code": "ServiceBusy", "message": "later",
                                                "innererror": {"code": "Deeper"}}}])
    r = read(client, dc_path(), dc_auth, "2025-02-01")
    assert r.status_code == 503 and r.headers["x-ms-error-code"] == "ServiceBusy"
    assert r.json()["error"]["innererror"] == {"code": "Deeper"}


def test_fault_steps_reset_malformed_nostatus(sim, client, arm_auth):
    sim.script("f-steps", [{"fault": "reset"}, {"fault": "malformed"}, {"fault": "nostatus"}, {"status": "Succeeded"}])
    with pytest.raises(httpx.TransportError):
        read(client, apim_path("f-steps"), arm_auth)
    malformed = read(client, apim_path("f-steps"), arm_auth)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.content)
    nostatus = read(client, apim_path("f-steps"), arm_auth)
    assert nostatus.status_code == 200 and "status" not in nostatus.json() and nostatus.json()["name"] == "f-steps"
    assert read(client, apim_path("f-steps"), arm_auth).json()["status"] == "Succeeded"
    recs = sim.requests(operation_id="f-steps")
    assert [(r["status"], r["fault"]) for r in recs] == [(None, "reset"), (200, "malformed"), (200, "nostatus"),
                                                          (200, None)]


def test_slow_step_delays_then_answers_previous_status(sim, client, arm_auth):
    sim.script("slow-op", [{"status": "InProgress", "percentComplete": 5}, {"fault": "slow", "seconds": 0.3},
                           {"fault": "slow"}, {"status": "Succeeded"}])
    assert read(client, apim_path("slow-op"), arm_auth).json()["status"] == "InProgress"
    t0 = time.monotonic()
    slow = read(client, apim_path("slow-op"), arm_auth)
    assert time.monotonic() - t0 >= 0.3
    assert slow.status_code == 200 and slow.json()["status"] == "InProgress" and "percentComplete" not in slow.json()
    # The next step sleeps slow_seconds (5s): a client with a short timeout gives up; the step is consumed.
    with pytest.raises(httpx.ReadTimeout):
        client.get(apim_path("slow-op"), params={"api-version": "1"}, headers=arm_auth, timeout=0.2)
    assert read(client, apim_path("slow-op"), arm_auth).json()["status"] == "Succeeded"


def test_stop_does_not_wait_for_sleeping_slow_responses():
    s = Simulator(slow_seconds=60).start()
    with httpx.Client(base_url=s.base_url) as c:
        s.script("slow", [{"fault": "slow"}])
        errors = []

        def go():
            try:
                read(c, apim_path("slow"), bearer(s.issue_token(ARM)))
            except httpx.TransportError as exc:
                errors.append(exc)

        t = threading.Thread(target=go)
        t.start()
        s.wait_for_polls("slow", 1)
        t0 = time.monotonic()
        s.stop()
        t.join(10)
        assert time.monotonic() - t0 < 5 and errors and not t.is_alive()


def test_redirect_step(sim, client, arm_auth):
    sim.script("redir", [{"redirect": "http://other-host.example/steal"}])
    r = read(client, apim_path("redir"), arm_auth)
    assert r.status_code == 302 and r.headers["Location"] == "http://other-host.example/steal"
    assert [r["route"] for r in sim.requests()] == ["msi", "apim"]   # nothing followed


@pytest.mark.parametrize("steps, fragment", [
    ([], "non-empty"),
    ([{"status": "InProgress", "retry_after": "1"}], "retry_after"),
    ([{"status": "InProgress", "http": 500}], "exactly one"),
    ([{"http": 200}], "201..599"),
    ([{"http": "500"}], "http"),
    ([{"fault": "explode"}], "fault"),
    ([{"status": "InProgress", "times": 0}], "times"),
    ([{"status": 3}], "status"),
    ([{"fault": "reset", "seconds": 1}], "seconds"),
    (["InProgress"], "object"),
])
def test_invalid_scripts_are_rejected(sim, steps, fragment):
    with pytest.raises(ScriptError, match=fragment):
        sim.script("bad", steps)
    assert isinstance(ScriptError("x"), ValueError)


@pytest.mark.parametrize("answer, fragment", [
    ({"style": "aao", "headers": ["Location"]}, "headers"),
    ({"style": "aao", "headers": {"Location": 1}}, "headers"),
    ({"style": "teapot"}, "style"),
    ({"style": "none", "operationSteps": []}, "operationSteps"),
    ({"style": "aao", "colour": "blue"}, "colour"),
])
def test_invalid_resource_answers_are_rejected(sim, answer, fragment):
    with pytest.raises(ScriptError, match=fragment):
        sim.script_resource("/subscriptions/s/resourceGroups/rg", answers={"PUT": answer})


# --------------------------------------------------------------------------- injected faults


def test_injected_faults_do_not_change_the_scripted_outcome(sim, client, arm_auth):
    script = [{"status": "NotStarted"}, {"status": "InProgress", "times": 3}, {"status": "Failed"}]
    sim.script("faulty", script)
    sim.set_faults(0.6, [k for k in INJECTABLE_FAULTS if k != "slow"], seed=7)
    seen = []
    for _ in range(200):
        try:
            r = read(client, apim_path("faulty"), arm_auth)
        except httpx.TransportError:
            continue
        if r.status_code == 200:
            try:
                body = r.json()
            except ValueError:
                continue
            if "status" in body:
                seen.append(body["status"])
                if body["status"] == "Failed":
                    break
    assert seen == ["NotStarted", "InProgress", "InProgress", "InProgress", "Failed"]
    faults = [r["fault"] for r in sim.requests(operation_id="faulty") if r["fault"]]
    assert faults, "rate 0.6 must have injected something"
    assert sim.operation("faulty")["faultsInjected"] == len(faults)
    assert sim.operation("faulty")["stepsServed"] == 5


def test_injected_faults_are_deterministic_per_seed(sim, client, arm_auth):
    def run(seed):
        sim.reset()
        sim.script("det", [{"status": "InProgress"}])
        sim.set_faults(0.5, ["429", "500", "503", "malformed", "nostatus", "404early"], seed=seed)
        for _ in range(40):
            read(client, apim_path("det"), arm_auth)
        return [(r["status"], r["fault"]) for r in sim.requests(operation_id="det")]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_404early_only_hits_the_first_two_reads(sim, client, arm_auth):
    sim.script("early", [{"status": "InProgress"}, {"status": "Succeeded"}])
    sim.set_faults(1.0, ["404early"], seed=0)
    codes = [read(client, apim_path("early"), arm_auth).status_code for _ in range(4)]
    assert codes == [404, 404, 200, 200]
    assert [r["fault"] for r in sim.requests(operation_id="early")] == ["404early", "404early", None, None]
    assert read(client, apim_path("early"), arm_auth).json()["status"] == "Succeeded"


def test_injected_429_has_retry_after_and_injected_slow_serves_previous_status():
    with Simulator(slow_seconds=0.2) as s, httpx.Client(base_url=s.base_url) as c:
        auth = bearer(s.issue_token(ARM))
        s.script("inj", [{"status": "Running"}, {"status": "Succeeded"}])
        assert read(c, apim_path("inj"), auth).json()["status"] == "Running"
        s.set_faults(1.0, ["slow"])
        t0 = time.monotonic()
        assert read(c, apim_path("inj"), auth).json()["status"] == "Running"
        assert time.monotonic() - t0 >= 0.2
        s.set_faults(1.0, ["429"])
        r = read(c, apim_path("inj"), auth)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        s.set_faults(0.0, [])
        assert read(c, apim_path("inj"), auth).json()["status"] == "Succeeded"


def test_set_faults_validation(sim):
    with pytest.raises(ScriptError):
        sim.set_faults(1.5, ["429"])
    with pytest.raises(ScriptError):
        sim.set_faults(0.5, ["418"])


@pytest.fixture(scope="module")
def shared_sim():
    with Simulator(slow_seconds=0.01) as s, httpx.Client(base_url=s.base_url, timeout=10) as c:
        yield s, c, bearer(s.issue_token(ARM))


step_st = st.one_of(
    st.builds(lambda s, n: {"status": s, "times": n},
              st.sampled_from(["InProgress", "Running", "Accepted", "NotStarted"]), st.integers(1, 3)),
    st.builds(lambda c: {"http": c}, st.sampled_from([429, 500, 503, 202])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step_st, max_size=4),
       final=st.sampled_from(["Succeeded", "Failed", "Canceled"]),
       rate=st.floats(0.0, 0.9),
       kinds=st.lists(st.sampled_from(INJECTABLE_FAULTS), min_size=1, unique=True),
       seed=st.integers(0, 2**31))
def test_property_faults_never_alter_the_sequence_of_scripted_answers(shared_sim, steps, final, rate, kinds, seed):
    sim, client, auth = shared_sim
    script = steps + [{"status": final}]
    expected = []
    for step in script:
        expected += [step.get("status") or step["http"]] * step.get("times", 1)

    sim.reset()
    sim.script("prop", script)
    sim.set_faults(rate, kinds, seed)
    answers = []
    for _ in range(400):
        try:
            r = read(client, apim_path("prop"), auth)
        except httpx.TransportError:
            continue
        rec = sim.requests()[-1]
        if rec["fault"] is not None:
            continue
        answers.append(r.json()["status"] if r.status_code == 200 else r.status_code)
        if answers[-1] == final:
            break
    assert answers == expected


# --------------------------------------------------------------------------- event grid


def cloud_event(i=0, **overrides):
    ev = {"specversion": "1.0", "id": f"evt-{i}", "source": "lro-watcher", "type": "LroWatcher.Operation.Succeeded",
          "subject": "/x", "time": "2024-01-01T00:00:00Z", "datacontenttype": "application/json",
          "data": {"outcome": "Succeeded"}}
    ev.update(overrides)
    return {k: v for k, v in ev.items() if v is not None}


def post_events(client, url, events, headers=None, content_type=EVENTGRID_CONTENT_TYPE, api_version="2018-01-01"):
    hdrs = {"Content-Type": content_type, **(headers or {})}
    params = {"api-version": api_version} if api_version else {}
    body = events if isinstance(events, (bytes, str)) else json.dumps(events)
    return client.post(url, params=params, content=body, headers=hdrs)


@pytest.fixture
def keyed():
    with Simulator(eventgrid_key="topic-key-123") as s, httpx.Client(base_url=s.base_url, timeout=10) as c:
        yield s, c


def test_eventgrid_key_mode(keyed):
    sim, client = keyed
    r = post_events(client, sim.eventgrid_endpoint, [cloud_event(1), cloud_event(2)], {"aeg-sas-key": "topic-key-123"})
    assert r.status_code == 200 and r.content == b""
    events = sim.events()
    assert [e["id"] for e in events] == ["evt-1", "evt-2"]
    assert {e["authMode"] for e in events} == {"key"}
    assert events[0]["data"] == {"outcome": "Succeeded"}
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()], {"aeg-sas-key": "nope"}).status_code == 401
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()]).status_code == 401
    entra = bearer(sim.issue_token(EVENTGRID))
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()], entra).status_code == 401
    assert len(sim.events()) == 2
    recs = sim.requests(route="eventgrid")
    assert [(r["status"], r["authMode"]) for r in recs] == [(200, "key"), (401, "key"), (401, None), (401, "bearer")]
    assert "topic-key-123" not in json.dumps(recs)


def test_eventgrid_entra_mode(sim, client):
    good = bearer(msi_token(client, sim, EVENTGRID))
    r = post_events(client, sim.eventgrid_endpoint, [cloud_event()], good)
    assert r.status_code == 200
    assert sim.events()[0]["authMode"] == "bearer"
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()], bearer(msi_token(client, sim, ARM))).status_code == 401
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()], {"aeg-sas-key": "k"}).status_code == 401
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event()]).status_code == 401
    assert [r["audience"] for r in sim.requests(route="eventgrid")] == [EVENTGRID, ARM, None, None]
    assert len(sim.events()) == 1


@pytest.mark.parametrize("content_type", [
    "application/json", "application/cloudevents+json; charset=utf-8", "application/cloudevents-batch+json",
    "application/cloudevents-batch+json; charset=latin-1", "",
])
def test_eventgrid_content_type_must_be_cloudevents_batch(keyed, content_type):
    sim, client = keyed
    r = post_events(client, sim.eventgrid_endpoint, [cloud_event()], {"aeg-sas-key": "topic-key-123"}, content_type)
    assert r.status_code == 415 and r.json()["error"]["code"] == "UnsupportedMediaType"
    assert sim.events() == []


def test_eventgrid_content_type_variants_accepted(keyed):
    sim, client = keyed
    for ct in ("application/cloudevents-batch+json;charset=UTF-8", 'Application/CloudEvents-Batch+JSON; charset="utf-8"'):
        assert post_events(client, sim.eventgrid_endpoint, [cloud_event()], {"aeg-sas-key": "topic-key-123"},
                           ct).status_code == 200


@pytest.mark.parametrize("body", [
    b"not json", json.dumps({"specversion": "1.0"}), json.dumps([]), json.dumps(["x"]),
    json.dumps([cloud_event(specversion="0.3")]), json.dumps([cloud_event(id=None)]),
    json.dumps([cloud_event(source="")]), json.dumps([cloud_event(type=None)]),
    json.dumps([cloud_event(1), cloud_event(2, specversion=None)]),
])
def test_eventgrid_rejects_invalid_batches(keyed, body):
    sim, client = keyed
    r = post_events(client, sim.eventgrid_endpoint, body, {"aeg-sas-key": "topic-key-123"})
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert sim.events() == []


def test_eventgrid_requires_api_version_and_post(keyed):
    sim, client = keyed
    r = post_events(client, sim.eventgrid_endpoint, [cloud_event()], {"aeg-sas-key": "topic-key-123"}, api_version=None)
    assert r.status_code == 400
    assert client.get(sim.eventgrid_endpoint, params={"api-version": "2018-01-01"}).status_code == 405


def test_eventgrid_fail_next(keyed):
    sim, client = keyed
    key = {"aeg-sas-key": "topic-key-123"}
    sim.eventgrid_fail_next(2)
    codes = [post_events(client, sim.eventgrid_endpoint, [cloud_event(i)], key).status_code for i in range(3)]
    assert codes == [503, 503, 200]
    assert [e["id"] for e in sim.events()] == ["evt-2"]
    sim.eventgrid_fail_next(1, status=500)
    r = post_events(client, sim.eventgrid_endpoint, [cloud_event(9)], key)
    assert r.status_code == 500 and r.json()["error"]["code"] == "InternalServerError"
    # Over HTTP too.
    assert client.post("/_sim/eventgrid/fail", json={"count": 1, "status": 429}).status_code == 200
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event(10)], key).status_code == 429
    assert post_events(client, sim.eventgrid_endpoint, [cloud_event(11)], key).status_code == 200
    assert [e["id"] for e in sim.events()] == ["evt-2", "evt-11"]
    with pytest.raises(ScriptError):
        sim.eventgrid_fail_next(1, status=200)


def test_wait_for_events_wakes_on_publish(keyed):
    sim, client = keyed
    t = threading.Thread(target=post_events,
                         args=(client, sim.eventgrid_endpoint, [cloud_event(5)], {"aeg-sas-key": "topic-key-123"}))
    t.start()
    assert [e["id"] for e in sim.wait_for_events(1, timeout=10)] == ["evt-5"]
    t.join()
    with pytest.raises(TimeoutError):
        sim.wait_for_events(2, timeout=0.05)


# --------------------------------------------------------------------------- control plane over HTTP


def test_control_plane_over_http(sim, client, arm_auth):
    r = client.post("/_sim/operations", json={"operationId": "c-op", "steps": [{"status": "InProgress"},
                                                                                 {"status": "Succeeded"}]})
    assert r.status_code == 200 and r.json() == {"scripted": 1}
    read(client, apim_path("c-op"), arm_auth)
    info = client.get("/_sim/operations/C-OP").json()
    assert info["polls"] == 1 and info["scripted"] is True
    assert client.get("/_sim/operations/nobody").json() == {"operationId": "nobody", "scripted": False, "polls": 0}
    reqs = client.get("/_sim/requests").json()
    assert [r["route"] for r in reqs] == ["msi", "apim"]        # control requests are not recorded
    assert client.get("/_sim/requests", params={"operationId": "c-op"}).json()[0]["status"] == 200
    assert client.get("/_sim/events").json() == []
    assert client.get("/_sim/info").json() == sim.info()
    assert client.post("/_sim/faults", json={"rate": 0.2, "kinds": ["429", "reset"], "seed": 1}).status_code == 200
    assert client.post("/_sim/faults", json={"rate": 0.2, "kinds": ["bogus"]}).status_code == 400
    bad = client.post("/_sim/operations", json={"operationId": "b", "steps": [{"status": "x", "typo": 1}]})
    assert bad.status_code == 400 and "typo" in bad.json()["error"]["message"]
    assert client.post("/_sim/operations", content=b"{nope").status_code == 400
    assert client.get("/_sim/nothing").status_code == 404
    assert client.post("/_sim/reset").status_code == 200
    assert sim.requests() == [] and sim.polls("c-op") == 0
    assert read(client, apim_path("c-op"), arm_auth).status_code == 404   # scripts are gone too
    assert client.post("/_sim/tokens/revoke").status_code == 200
    sim.script("c-op", [{"status": "InProgress"}])
    assert read(client, apim_path("c-op"), arm_auth).status_code == 401


def test_chunked_request_bodies_are_read(sim, client):
    def body():
        yield b'{"operationId": "chunked",'
        yield b' "steps": [{"status": "InProgress"}]}'

    r = client.post("/_sim/operations", content=body())
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 200 and sim.operation("chunked")["scripted"] is True


def test_bulk_scripting_is_all_or_nothing(sim, client):
    items = [{"operationId": "ok-1", "steps": [{"status": "InProgress"}]},
             {"operationId": "bad", "steps": [{"fault": "nope"}]}]
    r = client.post("/_sim/operations", json=items)
    assert r.status_code == 400 and "operations[1]" in r.json()["error"]["message"]
    assert sim.operation("ok-1")["scripted"] is False


def test_ten_thousand_operations_scripted_quickly(sim, client, dc_auth):
    ids = [f"{i:08x}-0000-0000-0000-000000000000" for i in range(10_000)]
    items = [{"operationId": op, "steps": [{"status": "Running", "times": 2}, {"status": "Succeeded"}]} for op in ids]
    t0 = time.monotonic()
    r = client.post("/_sim/operations", json=items)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.json() == {"scripted": 10_000}
    assert elapsed < 3.0, f"bulk scripting took {elapsed:.2f}s"
    assert read(client, dc_path(ids[9_999]), dc_auth, "2025-02-01").json()["status"] == "Running"
    assert sim.script_many([{"operationId": "py-bulk", "steps": [{"status": "Running"}]}]) == 1


# --------------------------------------------------------------------------- HTTP behaviour, concurrency, hygiene


def test_keep_alive_and_content_length_on_every_response(sim):
    token = sim.issue_token(ARM)
    sim.script("ka", [{"http": 202}, {"status": "InProgress"}, {"http": 404}])
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        for path in [apim_path("ka") + "?api-version=1"] * 3 + ["/unknown", "/_sim/info"]:
            conn.request("GET", path, headers=bearer(token))
            resp = conn.getresponse()
            resp.read()
            assert resp.version == 11 and resp.getheader("Content-Length") is not None
            assert resp.getheader("Connection") != "close"
        assert conn.sock is not None          # still the same open connection
    finally:
        conn.close()


def test_stop_closes_idle_keep_alive_connections():
    s = Simulator().start()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("GET", "/_sim/info")
    conn.getresponse().read()
    s.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/_sim/info")
        conn.getresponse().read()
    conn.close()
    s.stop()   # idempotent


def test_concurrent_polls_are_counted_exactly(sim):
    token = sim.issue_token(ARM)
    sim.script_many([{"operationId": f"cc-{i}", "steps": [{"status": "InProgress", "times": 24},
                                                          {"status": "Succeeded"}]} for i in range(16)])

    def worker(i):
        with httpx.Client(base_url=sim.base_url, timeout=10) as c:
            statuses = [read(c, apim_path(f"cc-{i}"), bearer(token)).json()["status"] for _ in range(25)]
        assert statuses == ["InProgress"] * 24 + ["Succeeded"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(sim.polls(f"cc-{i}") == 25 for i in range(16))
    assert len(sim.requests(route="apim")) == 16 * 25


def test_records_have_the_documented_fields_and_no_secrets(sim, client):
    token = msi_token(client, sim, ARM)
    sim.script("rec", [{"status": "InProgress"}])
    read(client, apim_path("rec"), bearer(token))
    rec = sim.requests(operation_id="rec")[0]
    assert {"method", "path", "query", "host", "audience", "authMode", "status", "operationId"} <= set(rec)
    assert rec["method"] == "GET" and rec["host"] == f"127.0.0.1:{sim.port}" and rec["operationId"] == "rec"
    assert rec["authMode"] == "bearer" and rec["audience"] == ARM and rec["status"] == 200
    dump = json.dumps(sim.requests())
    assert token not in dump and token.split(".")[2] not in dump and sim.identity_header not in dump
    rec["query"]["mutated"] = "1"
    assert "mutated" not in sim.requests(operation_id="rec")[0]["query"]   # copies, not live state


def test_request_cursor_and_record_limit(client, sim):
    for i in range(5):
        client.get(f"/nothing/{i}")
    seqs = [r["seq"] for r in sim.requests()]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [r["path"] for r in sim.requests(since=seqs[3])] == ["/nothing/3", "/nothing/4"]
    assert [r["path"] for r in client.get("/_sim/requests", params={"since": seqs[4]}).json()] == ["/nothing/4"]
    assert client.get("/_sim/requests", params={"since": "x"}).status_code == 400
    with Simulator(max_requests=3) as small, httpx.Client(base_url=small.base_url) as c:
        for i in range(5):
            c.get(f"/n/{i}")
        assert [r["path"] for r in small.requests()] == ["/n/2", "/n/3", "/n/4"]


def test_context_manager_addresses():
    with Simulator(identity_header="hdr") as s:
        assert s.base_url.startswith("http://127.0.0.1:") and s.port > 0
        assert s.identity_endpoint == s.base_url + "/msi/token"
        assert s.eventgrid_endpoint == s.base_url + "/eventgrid/api/events"
        assert s.identity_header == "hdr"
    with pytest.raises(RuntimeError):
        _ = Simulator().base_url


# --------------------------------------------------------------------------- CLI


def _read_line(proc, timeout=20.0) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        assert sel.select(timeout), "simulator printed nothing"
        return proc.stdout.readline()
    finally:
        sel.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_one_json_line_serves_and_exits_128_plus_the_signal(sig):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # the flush must be explicit
    proc = subprocess.Popen([sys.executable, "-m", "tools.simulator", "--port", "0", "--eventgrid-key", "k"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(_read_line(proc))
        assert set(info) == {"baseUrl", "identityEndpoint", "identityHeader", "eventgridEndpoint"}
        assert info["identityEndpoint"] == info["baseUrl"] + "/msi/token"
        assert info["eventgridEndpoint"] == info["baseUrl"] + "/eventgrid/api/events"
        with httpx.Client(timeout=10) as c:
            r = c.get(info["identityEndpoint"], params={"api-version": "2019-08-01", "resource": ARM},
                      headers={"X-IDENTITY-HEADER": info["identityHeader"]})
            assert r.status_code == 200
            r = c.post(info["eventgridEndpoint"], params={"api-version": "2018-01-01"},
                       content=json.dumps([cloud_event()]),
                       headers={"Content-Type": EVENTGRID_CONTENT_TYPE, "aeg-sas-key": "k"})
            assert r.status_code == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 128 + sig, err  # never 0: a cancelled step that ran it must not pass
        assert out == "" and err == f"interrupted by {signal.Signals(sig).name}: the simulator is stopped " \
                                     "(its scripts and records were in memory only)\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_for_answers_running_with_linear_progress_until_its_time_then_the_next_step(sim, client, arm_auth):
    sim.script("half-way", [{"runFor": 3600, "startedAgo": 1800, "progress": True, "retryAfter": 30}, {"status": "Succeeded"}])
    sim.script("no-progress", [{"runFor": 3600, "startedAgo": 60}, {"status": "Succeeded"}])
    sim.script("done", [{"runFor": 10, "startedAgo": 10, "progress": True}, {"status": "Succeeded"}])
    half = read(client, apim_path("half-way"), arm_auth)
    assert half.status_code == 200 and half.headers["Retry-After"] == "30"
    body = half.json()
    assert body["status"] == "InProgress" and body["percentComplete"] == 50
    started = datetime.fromisoformat(body["startTime"].replace("Z", "+00:00"))
    assert 1795 <= (datetime.now(UTC) - started).total_seconds() <= 1830
    plain = read(client, apim_path("no-progress"), arm_auth).json()
    assert plain["status"] == "InProgress" and "percentComplete" not in plain and "startTime" in plain
    assert read(client, apim_path("done"), arm_auth).json()["status"] == "Succeeded"
    with pytest.raises(ScriptError):
        validate_steps([{"runFor": 0}])
    with pytest.raises(ScriptError):
        validate_steps([{"runFor": 5, "progress": "yes"}])
