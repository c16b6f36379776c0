"""The Event Grid sink against the loopback simulator's topic, over real sockets.

Entra mode uses a real ``azure.identity.ManagedIdentityCredential`` (chosen by
``shared.edges.credentials.app_credential`` because IDENTITY_ENDPOINT is set), which gets
its token from the simulator's App Service-style identity endpoint; key mode
uses a simulator started with a topic key. No Azurite needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.core.errors import PublishError
from shared.core.poll_state import PollState
from shared.core.request_parser import RequestParser
from shared.core.result import build_result
from shared.core.settings import load_settings
from shared.edges.credentials import app_credential
from shared.edges.eventgrid import EventGridSink
from shared.edges.http import HttpxTransport
from shared.edges.tokens import TokenCache
from tests.support.builders import T0, apim
from tools.dev.sim import Simulator

KEY = "sim-topic-key-0123456789"
EVENTGRID_AUDIENCE = "https://eventgrid.azure.net"
_IDENTITY_VARIABLES = ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "AZURE_CLIENT_ID",
                       "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")


@pytest.fixture
def http() -> Iterator[HttpxTransport]:
    transport = HttpxTransport(timeout_seconds=5)
    yield transport
    transport.close()


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator() as sim:
        for name in _IDENTITY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
        yield sim


@pytest.fixture
def keyed() -> Iterator[Simulator]:
    with Simulator(eventgrid_key=KEY) as sim:
        yield sim


def make_sink(sim: Simulator, http: HttpxTransport, key: str | None = None, endpoint: str | None = None) -> EventGridSink:
    env = {"RESULT_SINK": "eventgrid", "EVENTGRID_TOPIC_ENDPOINT": endpoint or sim.eventgrid_endpoint}
    if key:
        env["EVENTGRID_TOPIC_KEY"] = key
    settings = load_settings(env, require_storage=False)
    credential = app_credential(os.environ)
    return EventGridSink(settings, TokenCache(credential), http)


def a_result(operation_id: str = "op-1", outcome: str = "Succeeded", body: Any = None) -> dict[str, Any]:
    settings = load_settings({}, require_storage=False)
    request = RequestParser(settings).parse(json.dumps(apim(operationId=operation_id, correlationId="rel-1")), T0)
    body = body if body is not None else {"status": outcome}
    return build_result(request, outcome, PollState(T0, polls=1), T0 + timedelta(seconds=30), body=body, error=None)


def event_requests(sim: Simulator) -> list[dict[str, Any]]:
    return sim.requests(route="eventgrid")


def test_entra_mode_with_a_real_managed_identity_credential(entra: Simulator, http: HttpxTransport) -> None:
    from azure.identity import ManagedIdentityCredential

    sink = make_sink(entra, http)
    assert isinstance(app_credential(os.environ), ManagedIdentityCredential)
    first, second = a_result("op-1"), a_result("op-2", "Failed")
    sink.publish(first)
    sink.publish(second)

    events = entra.wait_for_events(2, timeout=5)
    assert [(e["id"], e["type"], e["authMode"]) for e in events] == [
        (first["eventId"], "LroWatcher.Operation.Succeeded", "bearer"),
        (second["eventId"], "LroWatcher.Operation.Failed", "bearer"),
    ]
    assert events[0]["data"] == first and events[0]["time"] == first["completedAt"]
    assert events[0]["subject"].endswith("/operationStatuses/op-1")
    posts = event_requests(entra)
    assert [(r["status"], r["audience"], r["query"]) for r in posts] == [(200, EVENTGRID_AUDIENCE, {"api-version": "2018-01-01"})] * 2
    msi = entra.requests(route="msi")
    assert [(r["audience"], r["status"]) for r in msi] == [(EVENTGRID_AUDIENCE, 200)], "one token, reused"


def test_key_mode_sends_the_key_and_no_token(keyed: Simulator, http: HttpxTransport) -> None:
    sink = make_sink(keyed, http, key=KEY)
    result = a_result()
    sink.publish(result)
    (event,) = keyed.wait_for_events(1, timeout=5)
    assert event["id"] == result["eventId"] and event["authMode"] == "key" and event["data"] == result
    assert keyed.requests(route="msi") == []
    assert [(r["authMode"], r["audience"]) for r in event_requests(keyed)] == [("key", None)]


def test_a_wrong_key_is_refused_and_not_repeated_in_the_error(keyed: Simulator, http: HttpxTransport) -> None:
    wrong = "wrong-key-abcdefghijklmnop"
    sink = make_sink(keyed, http, key=wrong)
    with pytest.raises(PublishError, match="HTTP 401") as caught:
        sink.publish(a_result())
    assert wrong not in str(caught.value) and KEY not in str(caught.value)
    assert keyed.events() == [] and len(event_requests(keyed)) == 1


@pytest.mark.parametrize("status", [503, 429, 500])
@pytest.mark.parametrize("mode", ["key", "entra"])
def test_a_topic_failing_twice_then_accepting_gets_the_same_event_once(
    mode: str, status: int, monkeypatch: pytest.MonkeyPatch, http: HttpxTransport
) -> None:
    with Simulator(eventgrid_key=KEY if mode == "key" else None) as sim:
        monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
        sink = make_sink(sim, http, key=KEY if mode == "key" else None)
        sim.eventgrid_fail_next(2, status)
        result = a_result()
        for _ in range(2):  # what the host's retries of the request message amount to
            with pytest.raises(PublishError, match=f"HTTP {status}"):
                sink.publish(result)
        sink.publish(result)
        (event,) = sim.wait_for_events(1, timeout=5)
        assert event["id"] == result["eventId"]
        assert [r["status"] for r in event_requests(sim)] == [status, status, 200]


def test_a_result_over_the_topic_limit_is_trimmed_and_accepted(keyed: Simulator, http: HttpxTransport) -> None:
    sink = make_sink(keyed, http, key=KEY)
    result = a_result(body={"status": "Succeeded", "blob": "x" * (1024 * 1024)})
    sink.publish(result)
    (event,) = keyed.wait_for_events(1, timeout=5)
    assert event["data"]["trimmed"] == ["operation"] and event["data"]["operation"] is None
    assert event["id"] == result["eventId"]


def test_an_unreachable_topic_raises_publish_error(http: HttpxTransport) -> None:
    sim = Simulator().start()
    endpoint = sim.eventgrid_endpoint
    sim.stop()
    sink = make_sink(sim, http, key=KEY, endpoint=endpoint)
    with pytest.raises(PublishError, match="could not reach Event Grid") as caught:
        sink.publish(a_result())
    assert KEY not in str(caught.value)


def test_entra_mode_retries_once_with_a_new_token_after_a_401(entra: Simulator, http: HttpxTransport) -> None:
    sink = make_sink(entra, http)
    sink.publish(a_result("op-1"))
    entra.revoke_tokens()
    sink.publish(a_result("op-2"))  # the real ManagedIdentityCredential must fetch a new token, not its cached one
    statuses = [r["status"] for r in event_requests(entra)]
    assert statuses == [200, 401, 200], "exactly one retry after the 401, with a fresh token"
    assert len(entra.requests(route="msi")) == 2
