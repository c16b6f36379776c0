"""The Event Grid sink's wire format (contract §3), over the fake transport of tests/support/http.py (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared import runtime
from shared.core.cloud_events import outcome_event
from shared.core.errors import PublishError, SettingsError
from shared.core.poll_state import PollState
from shared.core.result import OUTCOMES, build_result
from shared.edges.eventgrid import (
    CONTENT_TYPE,
    EVENTGRID_SCOPE,
    MAX_BATCH_BYTES,
    EventGridSink,
    topic_url,
)
from shared.edges.http import HttpResponse, TransportError, TransportTimeout
from shared.edges.sinks import QueueSink
from shared.edges.tokens import TokenCache
from tests.support.builders import T0, apim, devcenter, parse, settings
from tests.support.fakes import CountingCredential
from tests.support.http import FakeTransport, SentRequest, answer

ENDPOINT = "https://topic-1.westus-1.eventgrid.azure.net/api/events"
KEY = "s3cr3t-topic-key=="
Handler = Callable[[SentRequest], HttpResponse]


def a_result(message: dict[str, Any] | None = None, outcome: str = "Succeeded", body: Any = None) -> dict[str, Any]:
    request = parse(message or apim(correlationId="release-42", context={"stage": "prod"}))
    status = {"Succeeded": "Succeeded", "Failed": "Failed", "Canceled": "Canceled"}.get(outcome, "InProgress")
    body = body if body is not None else {"status": status, "percentComplete": 100}
    return build_result(request, outcome, PollState(T0, polls=2), T0 + timedelta(seconds=61.5), body=body, error=None)


class Topic(FakeTransport):
    """A fake topic recording every request in ``seen``; answers with ``handler`` (200 by default)."""

    def batch(self, i: int = 0) -> list[dict[str, Any]]:
        body = self.seen[i].body
        assert body is not None
        return json.loads(body)


def sink(topic: Topic, *, key: str | None = None, endpoint: str = ENDPOINT, credential: CountingCredential | None = None,
         **env: str) -> tuple[EventGridSink, CountingCredential]:
    credential = credential or CountingCredential()
    config = settings(RESULT_SINK="eventgrid", EVENTGRID_TOPIC_ENDPOINT=endpoint, **({"EVENTGRID_TOPIC_KEY": key} if key else {}), **env)
    return EventGridSink(config, TokenCache(credential, clock=lambda: credential.now), topic), credential


# ------------------------------------------------------------------ the envelope and the request


def test_key_mode_posts_a_cloudevents_batch_with_the_key_and_no_authorization() -> None:
    topic = Topic()
    eg, credential = sink(topic, key=KEY, EVENT_SOURCE="/pipelines/release")
    result = a_result()
    eg.publish(result)

    (request,) = topic.seen
    assert request.method == "POST"
    assert request.url == ENDPOINT + "?api-version=2018-01-01"
    assert request.max_body == 64 * 1024  # only the start of a refusal is read
    assert request.headers["content-type"] == "application/cloudevents-batch+json; charset=utf-8" == CONTENT_TYPE
    assert request.headers["aeg-sas-key"] == KEY
    assert "authorization" not in request.headers
    assert request.headers["x-ms-client-request-id"]
    assert credential.calls == []
    assert topic.batch() == [
        {
            "specversion": "1.0",
            "id": result["eventId"],
            "source": "/pipelines/release",
            "type": "LroWatcher.Operation.Succeeded",
            "subject": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.ApiManagement"
            "/locations/West%20US/operationStatuses/op-1",
            "time": "2026-11-22T12:01:01.500Z",
            "datacontenttype": "application/json",
            "data": result,
        }
    ]
    assert topic.batch()[0]["time"] == result["completedAt"]


def test_entra_mode_sends_a_bearer_token_for_event_grid_and_no_key() -> None:
    topic = Topic()
    eg, credential = sink(topic)
    eg.publish(a_result())
    eg.publish(a_result(outcome="Failed"))
    assert credential.calls == [EVENTGRID_SCOPE] == ["https://eventgrid.azure.net/.default"]  # cached once
    for request in topic.seen:
        assert request.headers["authorization"] == "Bearer token-https://eventgrid.azure.net/.default-1"
        assert "aeg-sas-key" not in request.headers


def test_the_default_source_and_one_type_per_outcome() -> None:
    topic = Topic()
    eg, _ = sink(topic, key=KEY)
    for outcome in OUTCOMES:
        eg.publish(a_result(outcome=outcome))
    types = [topic.batch(i)[0]["type"] for i in range(len(OUTCOMES))]
    assert types == [f"LroWatcher.Operation.{o}" for o in ("Succeeded", "Failed", "Canceled", "TimedOut", "PollingFailed")]
    assert {topic.batch(i)[0]["source"] for i in range(len(OUTCOMES))} == {"lro-watcher"}
    assert len({topic.batch(i)[0]["id"] for i in range(len(OUTCOMES))}) == len(OUTCOMES)


def test_subject_is_the_status_url_path_without_query() -> None:
    result = a_result(devcenter(apiVersion="2024-02-01"))
    assert "?api-version=2024-02-01" in result["statusUrl"]
    event = outcome_event(result, "lro-watcher")
    assert event["subject"] == "/projects/myProject/operationstatuses/fa067167-e49d-41bd-8dd8-de719b9de3b3"


def test_publishing_again_sends_the_same_event_id() -> None:
    topic = Topic()
    eg, _ = sink(topic, key=KEY)
    eg.publish(a_result())
    eg.publish(a_result())
    assert topic.batch(0) == topic.batch(1)
    assert topic.seen[0].headers["x-ms-client-request-id"] != topic.seen[1].headers["x-ms-client-request-id"]


def test_the_envelope_parses_as_a_cloudevent_for_azure_core_and_azure_functions() -> None:
    from azure.core.messaging import CloudEvent
    from azure.functions import CloudEvent as FunctionsCloudEvent
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    topic = Topic()
    eg, _ = sink(topic, key=KEY)
    result = a_result()
    eg.publish(result)
    (wire,) = topic.batch()

    event = CloudEvent.from_dict(wire)
    assert (event.id, event.source, event.type, event.specversion) == (result["eventId"], "lro-watcher", "LroWatcher.Operation.Succeeded", "1.0")
    assert event.subject == wire["subject"] and event.datacontenttype == "application/json"
    assert event.data == result and not event.extensions
    assert event.time is not None and event.time.isoformat() == "2026-11-22T12:01:01.500000+00:00"

    delivered = EventGridEventInConverter.decode(Datum(json.dumps(wire), "json"), trigger_metadata={})
    assert isinstance(delivered, FunctionsCloudEvent)
    assert delivered.id == result["eventId"] and delivered.get_json() == result and delivered.extension_attrs == {}


# ------------------------------------------------------------------ the endpoint


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (ENDPOINT, ENDPOINT + "?api-version=2018-01-01"),
        (ENDPOINT + "?api-version=2024-06-01", ENDPOINT + "?api-version=2024-06-01"),
        (ENDPOINT + "?x=1", ENDPOINT + "?x=1&api-version=2018-01-01"),
        (ENDPOINT + "?x=1&api-version=2018-01-01", ENDPOINT + "?x=1&api-version=2018-01-01"),
        ("https://Topic-1.westus-1.EventGrid.azure.net:443/api/events", "https://topic-1.westus-1.eventgrid.azure.net:443/api/events?api-version=2018-01-01"),
        ("http://127.0.0.1:9000/eventgrid/api/events", "http://127.0.0.1:9000/eventgrid/api/events?api-version=2018-01-01"),
        ("http://[::1]:9000/eventgrid/api/events", "http://[::1]:9000/eventgrid/api/events?api-version=2018-01-01"),
    ],
)
def test_api_version_is_added_only_when_absent(endpoint: str, url: str) -> None:
    assert topic_url(endpoint) == url
    topic = Topic()
    eg, _ = sink(topic, key=KEY, endpoint=endpoint)
    eg.publish(a_result())
    assert eg.url == url and topic.seen[0].url == url  # exactly the checked string goes to the transport


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://topic.westus-1.eventgrid.azure.net/api/events",  # http off loopback
        "https://user:pw@topic.westus-1.eventgrid.azure.net/api/events",  # user information
        "https://topic.westus-1.eventgrid.azure.net/api/events#frag",
        "https://topic.westus-1.eventgrid.azure.net/api/ev ents",
        "https://topic.westus-1.eventgrid.azure.net./api/events",  # trailing dot
        "https://tоpic.westus-1.eventgrid.azure.net/api/events",  # Cyrillic о
        "https://topic.westus-1.eventgrid.azure.net/api/../events",
        "https://topic.westus-1.eventgrid.azure.net/api/%2e%2e/events",
        "https://topic.westus-1.eventgrid.azure.net:99999/api/events",
        "https://topic.westus-1.eventgrid.azure.net/api/events?api-version=",
        "ftp://topic.westus-1.eventgrid.azure.net/api/events",
    ],
)
def test_an_endpoint_that_breaks_the_token_rules_stops_start_up(endpoint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        topic_url(endpoint)
    assert caught.value.setting == "EVENTGRID_TOPIC_ENDPOINT"
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "RESULT_SINK": "both", "EVENTGRID_TOPIC_ENDPOINT": endpoint}
    with pytest.raises(SettingsError) as caught:
        runtime.check_settings(env)
    assert caught.value.setting == "EVENTGRID_TOPIC_ENDPOINT" and "pw" not in str(caught.value)


def test_a_key_that_cannot_be_a_header_value_stops_start_up_without_showing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        sink(Topic(), key="s3cr3t\u00e9key")
    assert caught.value.setting == "EVENTGRID_TOPIC_KEY" and "s3cr3t" not in str(caught.value)
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "RESULT_SINK": "eventgrid",
           "EVENTGRID_TOPIC_ENDPOINT": ENDPOINT, "EVENTGRID_TOPIC_KEY": "s3cr3t key"}
    with pytest.raises(SettingsError) as caught:
        runtime.check_settings(env)
    assert caught.value.setting == "EVENTGRID_TOPIC_KEY" and "s3cr3t" not in str(caught.value)


def test_start_up_checks_the_endpoint_only_when_publishing_to_event_grid() -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "EVENTGRID_TOPIC_ENDPOINT": "https://t.example.com/api/events#x"}
    assert runtime.check_settings({**env, "RESULT_SINK": "queue"}).result_sink == "queue"
    with pytest.raises(SettingsError, match="EVENTGRID_TOPIC_ENDPOINT.*fragment"):
        runtime.check_settings({**env, "RESULT_SINK": "eventgrid"})


# ------------------------------------------------------------------ failures


def test_entra_mode_refreshes_the_token_once_on_401() -> None:
    answers = iter([answer(401), answer(200)])
    topic = Topic(lambda request: next(answers))
    eg, credential = sink(topic)
    eg.publish(a_result())
    assert [r.headers["authorization"] for r in topic.seen] == [
        "Bearer token-https://eventgrid.azure.net/.default-1",
        "Bearer token-https://eventgrid.azure.net/.default-2",
    ]
    assert topic.batch(0) == topic.batch(1)

    topic = Topic(lambda request: answer(401, {"error": {"code": "Unauthorized", "message": "no"}}))
    eg, credential = sink(topic)
    with pytest.raises(PublishError, match="HTTP 401") as caught:
        eg.publish(a_result())
    assert len(topic.seen) == 2 and len(credential.calls) == 2
    assert "token-" not in str(caught.value)


def test_key_mode_does_not_retry_a_401() -> None:
    topic = Topic(lambda request: answer(401, {"error": {"code": "Unauthorized", "message": f"bad key {KEY}"}}))
    eg, credential = sink(topic, key=KEY)
    with pytest.raises(PublishError, match="HTTP 401: Unauthorized") as caught:
        eg.publish(a_result())
    assert len(topic.seen) == 1 and credential.calls == []
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "response",
    [
        answer(429, headers={"Retry-After": "5"}),
        answer(500, body=b"oops"),
        answer(503, {"error": {"code": "ServiceUnavailable", "message": "Try again."}}),
        answer(400, {"error": {"code": "BadRequest", "message": "bad event"}}),
        answer(403, {"error": {"code": "Forbidden", "message": "no EventGrid Data Sender role"}}),
        answer(413),
    ],
    ids=lambda r: str(r.status),
)
@pytest.mark.parametrize("key", [KEY, None], ids=["key", "entra"])
def test_a_refused_publish_raises_publish_error_without_secrets(response: HttpResponse, key: str | None) -> None:
    topic = Topic(lambda request: response)
    eg, _ = sink(topic, key=key)
    result = a_result()
    with pytest.raises(PublishError) as caught:
        eg.publish(result)
    message = str(caught.value)
    assert f"HTTP {response.status}" in message and result["eventId"] in message
    assert "topic-1.westus-1.eventgrid.azure.net" in message
    assert KEY not in message and "token-" not in message
    assert len(topic.seen) == 1


#: What the transport raises when no answer came, given the request's key or token as ``quoted``. The real
#: transport's messages hold no header value, but the sink must not repeat one even if a message did.
NETWORK_TROUBLE: dict[str, Callable[[str], TransportError]] = {
    "timeout": lambda quoted: TransportTimeout("TimeoutError (connect limit 5 s, read limit 10 s)"),  # the real message
    "timeout-quoting-the-secret": lambda quoted: TransportTimeout(f"TimeoutError {quoted}"),
    "ConnectionRefusedError": lambda quoted: TransportError(f"ConnectionRefusedError: [Errno 111] Connection refused {quoted}"),
    "RemoteDisconnected": lambda quoted: TransportError(f"RemoteDisconnected: Remote end closed connection without response {quoted}"),
    "SSLCertVerificationError": lambda quoted: TransportError(f"SSLCertVerificationError: certificate verify failed {quoted}"),
}


@pytest.mark.parametrize("error", list(NETWORK_TROUBLE))
@pytest.mark.parametrize("key", [KEY, None], ids=["key", "entra"])
def test_network_trouble_raises_publish_error_without_secrets(error: str, key: str | None) -> None:
    def fail(request: SentRequest) -> HttpResponse:
        raise NETWORK_TROUBLE[error](f"trouble with {request.headers.get('aeg-sas-key')} {request.headers.get('authorization')}")

    topic = Topic(fail)
    eg, _ = sink(topic, key=key)
    with pytest.raises(PublishError) as caught:
        eg.publish(a_result())
    message = str(caught.value)
    assert KEY not in message and "token-" not in message
    assert ("timed out" in message) if "timeout" in error else (f"could not reach Event Grid at topic-1.westus-1.eventgrid.azure.net: {error}" in message)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(topic.seen) == 1  # no retry here: retrying is the queue's job


def test_a_token_that_cannot_be_had_raises_before_any_request() -> None:
    credential = CountingCredential()
    credential.fail_with = RuntimeError("no identity endpoint")
    topic = Topic()
    eg, _ = sink(topic, credential=credential)
    with pytest.raises(PublishError, match="could not get a token for https://eventgrid.azure.net/.default"):
        eg.publish(a_result())
    assert topic.seen == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("key", [KEY, None], ids=["key", "entra"])
def test_a_redirect_is_never_followed(status: int, key: str | None) -> None:
    # The sink must not follow one itself; that the real transport follows none: tests/integration/test_transport.py.
    topic = Topic(lambda request: answer(status, headers={"Location": "https://evil.example/steal"}))
    eg, _ = sink(topic, key=key)
    with pytest.raises(PublishError, match=f"HTTP {status}.*redirects are not followed") as caught:
        eg.publish(a_result())
    assert [urlsplit(r.url).hostname for r in topic.seen] == ["topic-1.westus-1.eventgrid.azure.net"]
    assert "evil.example" not in str(caught.value) and KEY not in str(caught.value) and "token-" not in str(caught.value)


# ------------------------------------------------------------------ size


def test_a_result_over_1_mb_is_trimmed_operation_first_and_the_envelope_stays_whole() -> None:
    topic = Topic()
    eg, _ = sink(topic, key=KEY)
    result = a_result(body={"status": "Succeeded", "blob": "x" * 1_100_000})
    eg.publish(result)
    assert topic.seen[0].body is not None and len(topic.seen[0].body) <= MAX_BATCH_BYTES
    (event,) = topic.batch()
    assert event["data"]["trimmed"] == ["operation"] and event["data"]["operation"] is None
    assert event["data"]["context"] == {"stage": "prod"}
    assert event["id"] == result["eventId"] and event["time"] == result["completedAt"]
    assert "trimmed" not in result and result["operation"]["blob"]  # the caller's copy is untouched


def test_a_result_between_64_kib_and_1_mb_is_trimmed_for_the_queue_only() -> None:
    topic = Topic()
    eg, _ = sink(topic, key=KEY)
    sent: list[str] = []

    class Queues:
        def publish_result(self, text: str) -> None:
            sent.append(text)

    result = a_result(body={"status": "Succeeded", "blob": "x" * 200_000})
    QueueSink(Queues()).publish(result)
    eg.publish(result)
    assert json.loads(sent[0])["trimmed"] == ["operation"]
    assert topic.batch()[0]["data"] == result


# ------------------------------------------------------------------ wiring


def test_the_runtime_reads_status_and_publishes_to_event_grid_through_one_http_client() -> None:
    def handler(request: SentRequest) -> HttpResponse:
        return answer(200, {"status": "Succeeded"}) if request.method == "GET" else answer(200)

    for extra, auth in (({}, "authorization"), ({"EVENTGRID_TOPIC_KEY": KEY}, "aeg-sas-key")):
        transport = Topic(handler)
        env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "RESULT_SINK": "eventgrid",
               "EVENTGRID_TOPIC_ENDPOINT": ENDPOINT, **extra}
        watcher = runtime.build_watcher(env, credential=CountingCredential(), http=transport)
        assert watcher.handle(json.dumps(apim())).action == "published"
        status, event = transport.seen
        assert (status.method, urlsplit(status.url).path) == ("GET", urlsplit(parse(apim()).poll_url).path)
        assert (event.method, event.url) == ("POST", ENDPOINT + "?api-version=2018-01-01") and auth in event.headers
        assert KEY not in repr(watcher.settings)
