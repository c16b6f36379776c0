"""Progress events (PUBLISH_PROGRESS): when a read deserves one, its data and envelope, the Event Grid
sink's ``publish_progress`` over the fake transport, and the watcher's best-effort publish."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from shared import runtime
from shared.core.cloud_events import PROGRESS_EVENT_TYPE, progress_event
from shared.core.decide import Reenqueue, decide
from shared.core.errors import SettingsError
from shared.core.interpretation import StatusAnswer
from shared.core.settings import load_settings
from shared.edges.eventgrid import EventGridSink
from shared.edges.tokens import TokenCache
from shared.watcher import Watcher
from tests.support.builders import T0, apim, parse, settings
from tests.support.fakes import CountingCredential, RecordingPublisher, RecordingQueues, ScriptedStatus
from tests.support.http import FakeTransport, SentRequest, answer

ENDPOINT = "https://topic-1.westus-1.eventgrid.azure.net/api/events"
CONFIG = settings()


def ok(body: dict[str, Any], **headers: str) -> StatusAnswer:
    return StatusAnswer(200, {k.lower().replace("_", "-"): v for k, v in headers.items()}, json.dumps(body).encode())


def running(message: dict[str, Any], body: dict[str, Any], seconds: float = 60) -> Reenqueue:
    decision = decide(parse(message), ok(body), T0 + timedelta(seconds=seconds), CONFIG)
    assert isinstance(decision, Reenqueue)
    return decision


def poll_after(decision: Reenqueue) -> dict[str, Any]:
    return decision.poll.to_json()


class TestWhen:
    def test_the_first_read_of_a_status_is_a_change(self) -> None:
        decision = running(apim(), {"status": "InProgress", "percentComplete": 10})
        assert decision.progress is not None and decision.progress.data["percentComplete"] == 10

    def test_same_status_and_percentage_is_not(self) -> None:
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "lastStatus": "InProgress", "lastPercentComplete": 10}
        assert running(apim(poll=poll), {"status": "InProgress", "percentComplete": 10}).progress is None
        assert running(apim(poll=poll), {"status": "InProgress", "percentComplete": 11}).progress is not None
        assert running(apim(poll=poll), {"status": "Finalizing", "percentComplete": 10}).progress is not None

    def test_a_failed_read_publishes_nothing_and_keeps_the_last_percentage(self) -> None:
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "lastStatus": "InProgress", "lastPercentComplete": 40}
        decision = decide(parse(apim(poll=poll)), StatusAnswer(503, {}, b""), T0 + timedelta(seconds=60), CONFIG)
        assert isinstance(decision, Reenqueue) and decision.progress is None
        assert poll_after(decision)["lastPercentComplete"] == 40

    def test_old_messages_without_the_new_field_still_parse_and_keep_their_shape(self) -> None:
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "lastStatus": "InProgress", "lastHttpStatus": 200}
        decision = running(apim(poll=poll), {"status": "InProgress"})
        assert "lastPercentComplete" not in poll_after(decision)
        assert decision.progress is None  # status unchanged, no percentage before or now


class TestData:
    def test_fields_and_deterministic_id(self) -> None:
        message = apim(correlationId="release-42", context={"stage": "prod"}, expectedSeconds=600)
        body = {"status": "InProgress", "percentComplete": 20, "startTime": "2026-11-22T12:00:00Z"}
        first = running(message, body).progress
        again = running(message, body).progress
        assert first is not None and again is not None and first.event_id == again.event_id
        assert set(first.data) == {"source", "operationId", "statusUrl", "correlationId", "context", "status",
                                   "percentComplete", "startTime", "polls", "expectedEndAt", "observedAt"}
        assert first.data["expectedEndAt"] == "2026-11-22T12:04:00.000Z"  # 20 % (a coarse step: 25 % likely) after 60 s
        assert first.data["observedAt"] == "2026-11-22T12:01:00.000Z" and first.data["polls"] == 1
        other_poll = running(apim(correlationId="release-42", context={"stage": "prod"}, expectedSeconds=600,
                                  poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 1}), body).progress
        assert other_poll is not None and other_poll.event_id != first.event_id

    def test_envelope(self) -> None:
        update = running(apim(), {"status": "InProgress", "percentComplete": 5}).progress
        assert update is not None
        event = progress_event(update.event_id, update.data, "lro-watcher")
        assert event["type"] == PROGRESS_EVENT_TYPE == "LroWatcher.Operation.Progress"
        assert event["subject"] == "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.ApiManagement/locations/West%20US/operationStatuses/op-1"
        assert event["time"] == update.data["observedAt"] and event["id"] == update.event_id and event["data"] == update.data
        from azure.core.messaging import CloudEvent

        assert CloudEvent.from_dict(json.loads(json.dumps(event))).type == PROGRESS_EVENT_TYPE


def a_sink(topic: FakeTransport, **env: str) -> EventGridSink:
    credential = CountingCredential()
    config = settings(PUBLISH_PROGRESS="true", EVENTGRID_TOPIC_ENDPOINT=ENDPOINT, EVENTGRID_TOPIC_KEY="k3y", **env)
    return EventGridSink(config, TokenCache(credential, clock=lambda: credential.now), topic)


def test_the_sink_posts_one_progress_event_with_the_outcomes_auth() -> None:
    topic = FakeTransport()
    update = running(apim(context={"stage": "prod"}), {"status": "InProgress", "percentComplete": 5}).progress
    assert update is not None
    data = {**update.data, "context": {"big": "x" * 2_000_000}}  # a request's context is < 64 KiB; the limit is 1 MB
    a_sink(topic).publish_progress(update.event_id, data)
    sent: SentRequest = topic.seen[0]
    assert sent.method == "POST" and sent.url == ENDPOINT + "?api-version=2018-01-01" and sent.headers["aeg-sas-key"] == "k3y"
    [event] = sent.json()
    assert event["type"] == PROGRESS_EVENT_TYPE and event["id"] == update.event_id
    assert event["data"]["context"] is None and event["data"]["trimmed"] == ["context"]  # trimmed like an outcome


def test_the_watcher_publishes_progress_after_the_reenqueue_and_a_failure_never_fails_the_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queues = RecordingQueues()
    topic = FakeTransport(lambda sent: answer(503, {"error": {"code": "ServiceUnavailable", "message": "down"}}))
    watcher = Watcher(settings(PUBLISH_PROGRESS="true", EVENTGRID_TOPIC_ENDPOINT=ENDPOINT),
                      ScriptedStatus(ok({"status": "InProgress", "percentComplete": 30})), queues, publisher=RecordingPublisher(),
                      clock=lambda: T0, progress=a_sink(topic))
    with caplog.at_level(logging.WARNING, logger="lro_watcher"):
        handled = watcher.handle(json.dumps(apim()))
    assert handled.action == "reenqueued" and len(queues.reenqueued) == 1 and len(topic.seen) == 1
    assert "not published" in caplog.text and "k3y" not in caplog.text
    quiet = Watcher(CONFIG, ScriptedStatus(ok({"status": "InProgress", "percentComplete": 30})), RecordingQueues(), publisher=RecordingPublisher(),
                    clock=lambda: T0)
    assert quiet.handle(json.dumps(apim())).action == "reenqueued"  # PUBLISH_PROGRESS off: no sink, nothing sent


class TestSettings:
    def test_defaults(self) -> None:
        loaded = load_settings({}, require_storage=False)
        assert loaded.publish_progress is False and loaded.arm_reads_reserve == 100

    def test_publish_progress_needs_an_event_grid_topic(self) -> None:
        with pytest.raises(SettingsError) as err:
            load_settings({"PUBLISH_PROGRESS": "true"}, require_storage=False)
        assert err.value.setting == "EVENTGRID_TOPIC_ENDPOINT" and "PUBLISH_PROGRESS" in str(err.value)
        assert load_settings({"PUBLISH_PROGRESS": "TRUE", "EVENTGRID_TOPIC_ENDPOINT": ENDPOINT}, require_storage=False).needs_eventgrid

    @pytest.mark.parametrize(("name", "value"), [("PUBLISH_PROGRESS", "maybe"), ("ARM_READS_RESERVE", "-1"),
                                                 ("ARM_READS_RESERVE", "250"), ("ARM_READS_RESERVE", "ten")])
    def test_bad_values_name_the_setting(self, name: str, value: str) -> None:
        with pytest.raises(SettingsError) as err:
            load_settings({name: value}, require_storage=False)
        assert err.value.setting == name

    def test_runtime_checks_the_topic_when_only_progress_goes_there(self) -> None:
        with pytest.raises(SettingsError) as err:
            runtime.check_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "PUBLISH_PROGRESS": "true",
                                    "EVENTGRID_TOPIC_ENDPOINT": "http://topic.example.com/api/events"})
        assert err.value.setting == "EVENTGRID_TOPIC_ENDPOINT"
