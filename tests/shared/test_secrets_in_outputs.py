"""No secret in any output (contract §3, last paragraph): results, events, poison entries, feed lines, log lines.

Each test is one hostile echo the adversarial trial found: a status endpoint quoting the
``Authorization`` header back, an Event Grid topic quoting its key in another encoding, a
SAS ``sig=`` in a data-plane URL reaching a library's request log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from shared.core.errors import PublishError
from shared.edges.eventgrid import EventGridSink
from shared.edges.http import HttpResponse
from shared.edges.secrets import SecretKeeper
from shared.edges.sinks import Publisher
from shared.edges.status_client import StatusClient
from shared.edges.tokens import TokenCache
from shared.watcher import Watcher
from tests.support.builders import T0, apim, settings
from tests.support.fakes import CountingCredential, RecordingPublisher, RecordingQueues
from tests.support.http import FakeTransport, SentRequest, answer

ARM = "https://management.azure.com/.default"
KEY = "Zm9vYmFyYmF6cXV4K3NlY3JldC9rZXk9PUFCQ0RFRkdI+/=="  # an Event Grid key: base64 with + / =


def watcher(handler, *, keeper: SecretKeeper, publisher=None, queues=None, **env: str) -> tuple[Watcher, RecordingPublisher]:
    credential = CountingCredential()
    tokens = TokenCache(credential, clock=lambda: credential.now, secrets=keeper)
    publisher = publisher or RecordingPublisher()
    status = StatusClient(tokens, FakeTransport(handler))
    return Watcher(settings(**env), status, queues or RecordingQueues(), publisher, clock=lambda: T0, secrets=keeper), publisher


def echo(status: int, how):
    """A status endpoint that quotes the request's Authorization header back, ``how`` it likes."""
    def handler(request: SentRequest) -> HttpResponse:
        return answer(status, how(request.headers["authorization"].removeprefix("Bearer ")))
    return handler


@pytest.mark.parametrize(("status", "how"), [
    (400, lambda token: {"error": {"code": "BadRequest", "message": f"Authorization was Bearer {token}"}}),
    (400, lambda token: {"error": {"code": "BadRequest", "message": f"token {quote(token, safe='')} refused",
                                   "details": [{"code": "T", "message": token[:20]}]}}),
    (200, lambda token: {"status": "Failed", "error": {"code": "E", "message": f"echo: {token}"}, "properties": {token: token}}),
    (200, lambda token: {"status": "Succeeded", "properties": {"auth": quote_plus(token)[:-1]}}),
])
def test_a_status_endpoint_echoing_the_token_leaves_no_token_in_the_result(status: int, how) -> None:
    keeper = SecretKeeper()
    handle, publisher = watcher(echo(status, how), keeper=keeper)
    handle.handle(json.dumps(apim()), 1, message_id="m-1")
    [result] = publisher.results
    text = json.dumps(result)
    token = "token-" + ARM + "-1"
    for form in (token, quote(token, safe=""), quote_plus(token), token[:16]):
        assert form not in text, form
    assert "[redacted]" in text
    assert result["outcome"] in ("PollingFailed", "Failed", "Succeeded")


def test_progress_events_and_poison_reasons_are_redacted_too() -> None:
    keeper = SecretKeeper()
    keeper.hold("EVENTGRID_TOPIC_KEY", KEY)
    progress: list[dict] = []

    class Progress:
        def publish_progress(self, event_id: str, data: dict) -> None:
            progress.append(data)

    queues = RecordingQueues()
    handle, _ = watcher(lambda r: answer(200, {"status": f"Running {KEY}", "percentComplete": 5}), keeper=keeper, queues=queues)
    handle._progress = Progress()
    handle.handle(json.dumps(apim()), 1)
    assert progress and KEY not in json.dumps(progress)
    handle.handle(json.dumps(apim(operationId=f"x?sig={KEY}", unknownField=1)), 1)
    assert queues.poisoned and KEY not in queues.poisoned[-1]


def event_grid_failing_with(text: str, keeper: SecretKeeper) -> Publisher:
    topic = FakeTransport(lambda request: answer(401, {"error": {"code": "Unauthorized", "message": text}}))
    config = settings(RESULT_SINK="eventgrid", EVENTGRID_TOPIC_ENDPOINT="https://t.westus-1.eventgrid.azure.net/api/events",
                      EVENTGRID_TOPIC_KEY=KEY)
    credential = CountingCredential()
    return Publisher([EventGridSink(config, TokenCache(credential, secrets=keeper), topic, secrets=keeper)])


@pytest.mark.parametrize("shown", [quote(KEY, safe=""), quote_plus(KEY), KEY[:-1], KEY[:16], KEY.lower()[:0] + KEY])
def test_an_event_grid_error_quoting_the_key_in_another_form_reaches_no_error_line(
    shown: str, caplog: pytest.LogCaptureFixture,
) -> None:
    keeper = SecretKeeper()
    publisher = event_grid_failing_with(f"The key '{shown}' is not valid for this topic", keeper)
    handle, _ = watcher(lambda r: answer(200, {"status": "Succeeded"}), keeper=keeper, publisher=publisher)
    with pytest.raises(PublishError) as caught:
        handle.handle(json.dumps(apim()), 1, message_id="m-2")
    assert shown not in str(caught.value)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(shown not in r.getMessage() for r in errors)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog
