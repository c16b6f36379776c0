"""The simulator's hostile answers (tools/dev/sim/hostile.py): raw JSON, echoed credentials, drips, Event Grid."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

import httpx
import pytest

from tools.dev.sim import ScriptError, Simulator
from tools.dev.sim.hostile import splice_raw, strict_loads
from tools.dev.sim.script import validate_steps

ARM = "https://management.azure.com"
PATH = "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Web/locations/westus/operationResults/{}"
KEY = "k+ey/with=signs0123456789abcdef"


@pytest.fixture
def sim():
    with Simulator(eventgrid_key=KEY) as s:
        yield s


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        yield c


def token_for(sim: Simulator, client: httpx.Client) -> str:
    r = client.get("/msi/token", params={"api-version": "2019-08-01", "resource": ARM},
                   headers={"X-IDENTITY-HEADER": sim.identity_header})
    return r.json()["access_token"]


def read(client: httpx.Client, op: str, token: str) -> httpx.Response:
    return client.get(PATH.format(op), params={"api-version": "1"}, headers={"Authorization": f"Bearer {token}"})


def test_raw_fields_are_served_exactly_as_written(sim, client):
    deep = "[" * 5000 + "]" * 5000
    sim.script("op", [{"status": "Running", "percentComplete": 5, "raw": {"percentComplete": "1e999", "deep": deep,
                                                                          "nan": "NaN"}}])
    text = read(client, "op", token_for(sim, client)).text
    assert '"percentComplete":1e999' in text and '"nan":NaN' in text and deep in text
    assert text.count("percentComplete") == 1
    with pytest.raises(ValueError):
        strict_loads(text)


def test_splice_raw_into_an_empty_object():
    assert splice_raw(b"{}", {"a": "-1e999"}) == b'{"a":-1e999}'


def test_echo_puts_the_request_credentials_into_the_body(sim, client):
    sim.script("op", [{"http": 403, "echo": True, "error": {
        "code": "AuthorizationFailed",
        "message": "{{authorization}} | {{authorization.url}} | {{token}} | {{token.prefix}}"}}])
    token = token_for(sim, client)
    message = read(client, "op", token).json()["error"]["message"]
    assert message == f"Bearer {token} | {quote('Bearer ' + token, safe='')} | {token} | {token[:24]}"
    assert {t["token"] for t in sim.tokens()} == {token}
    assert client.get("/_sim/tokens").json() == [{"audience": ARM, "token": token}]


def test_a_dripped_body_arrives_whole_but_slowly(sim, client):
    sim.script("op", [{"status": "Failed", "drip": 1.0}])
    token = token_for(sim, client)
    began = time.monotonic()
    r = read(client, "op", token)
    assert r.json()["status"] == "Failed" and time.monotonic() - began >= 0.9


def test_a_client_that_gives_up_on_a_drip_is_no_trouble(sim, client):
    sim.script("op", [{"status": "Failed", "drip": 30.0}, {"status": "Succeeded"}])
    token = token_for(sim, client)
    with (pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=sim.base_url, timeout=0.5) as impatient,
          impatient.stream("GET", PATH.format("op"), params={"api-version": "1"}, headers={"Authorization": f"Bearer {token}"}) as r):
        for _ in r.iter_bytes():
            pass
    assert read(client, "op", token).json()["status"] == "Succeeded"


@pytest.mark.parametrize("step, fragment", [
    ({"status": "x", "raw": {"a": 1}}, "raw must be"),
    ({"status": "x", "raw": {"a": ""}}, "raw must be"),
    ({"status": "x", "echo": "yes"}, "echo must be"),
    ({"status": "x", "drip": 0}, "drip must be"),
])
def test_hostile_keys_are_checked(step, fragment):
    with pytest.raises(ScriptError, match=fragment):
        validate_steps([step])


def cloud_event(correlation_id: str, **data: object) -> dict:
    return {"specversion": "1.0", "id": correlation_id, "source": "s", "type": "t",
            "data": {"correlationId": correlation_id, **data}}


def post(client: httpx.Client, sim: Simulator, body: bytes) -> httpx.Response:
    return client.post(sim.eventgrid_endpoint, params={"api-version": "2018-01-01"}, content=body,
                       headers={"aeg-sas-key": KEY, "Content-Type": "application/cloudevents-batch+json; charset=utf-8"})


def test_eventgrid_refuses_what_a_strict_parser_refuses(sim, client):
    good = json.dumps([cloud_event("a")], separators=(",", ":")).encode()
    for bad in (good.replace(b'"data":{', b'"data":{"p":1e999,'), good.replace(b'"data":{', b'"data":{"p":NaN,')):
        r = post(client, sim, bad)
        assert r.status_code == 400 and "not valid" in r.json()["error"]["message"]
    assert post(client, sim, good).status_code == 200 and len(sim.events()) == 1


def test_eventgrid_echo_refuses_the_first_publish_quoting_the_key(sim, client):
    assert client.post("/_sim/eventgrid/echo", json=["op-1"]).json() == {"scripted": 1}
    body = json.dumps([cloud_event("op-1")]).encode()
    first = post(client, sim, body)
    assert first.status_code == 500
    message = first.json()["error"]["message"]
    assert KEY in message and quote(KEY, safe="") in message and KEY[:24] in message
    assert post(client, sim, body).status_code == 200
    assert [r["fault"] for r in sim.requests(route="eventgrid")] == ["eventgrid-echo", None]



def test_an_operation_can_be_kept_out_of_injected_faults(sim, client):
    client.post("/_sim/operations", json=[{"operationId": "calm", "steps": [{"status": "Running"}], "faults": False},
                                          {"operationId": "busy", "steps": [{"status": "Running"}]}]).raise_for_status()
    sim.set_faults(1.0, ["500"], seed=1)
    token = token_for(sim, client)
    assert [read(client, "calm", token).status_code for _ in range(3)] == [200, 200, 200]
    assert read(client, "busy", token).status_code == 500
    with pytest.raises(ScriptError, match="faults must be"):
        sim.script_many([{"operationId": "x", "steps": [{"status": "Running"}], "faults": "no"}])
