"""The watcher and Azure Pipelines: a feed line per read, TaskCompleted after the sinks, the token in no output."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.core.errors import PublishError
from shared.edges.azure_devops import AzureDevOpsClient
from shared.watcher import HOST_MAX_DEQUEUE_COUNT, Watcher
from tests.support.builders import T0, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus
from tests.support.http import FakeTransport, SentRequest, answer

from .test_azure_devops import TOKEN, with_callback


class _AzureDevOps:
    """The plan endpoints: answers TaskCompleted with ``events`` in turn (then 200), the feed with ``feed``."""

    def __init__(self, order: list[str], events: tuple[int, ...] = (), feed: int = 200) -> None:
        self.order = order
        self.events = list(events)
        self.feed = feed
        self.seen: list[SentRequest] = []

    def __call__(self, request: SentRequest) -> Any:
        self.seen.append(request)
        if request.url.split("?")[0].endswith("/feed"):
            self.order.append("feed")
            return answer(self.feed)
        self.order.append("TaskCompleted")
        return answer(self.events.pop(0) if self.events else 200)

    def completed(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.seen if "/events" in r.url]

    def lines(self) -> list[str]:
        return [r.json()["value"][0] for r in self.seen if "/feed" in r.url]


def rig(*bodies: dict[str, Any], events: tuple[int, ...] = (), feed: int = 200) -> tuple[Watcher, _AzureDevOps, RecordingPublisher, RecordingQueues]:
    order: list[str] = []
    devops = _AzureDevOps(order, events, feed)
    publisher = RecordingPublisher(order=order)
    queues = RecordingQueues()
    watcher = Watcher(settings(), ScriptedStatus(*bodies), queues, publisher, clock=lambda: T0,
                      callbacks=AzureDevOpsClient(FakeTransport(devops)))
    return watcher, devops, publisher, queues


def test_each_read_appends_one_line_and_the_outcome_ends_with_task_completed_after_the_sinks() -> None:
    watcher, devops, publisher, queues = rig({"status": "Running", "percentComplete": 40})
    assert watcher.handle(json.dumps(with_callback())).action == "reenqueued"
    assert devops.lines() == ["12:00:00 Running 40% (next read in 5 s)"] or devops.lines()[0].startswith("12:00:00 Running 40% (next read in ")
    watcher2, devops2, publisher2, _ = rig({"status": "Failed", "error": {"code": "Quota", "message": "no quota"}})
    handled = watcher2.handle(queues.reenqueued[0][0])
    assert handled.outcome == "Failed"
    assert devops2.order == ["sinks", "feed", "TaskCompleted"]
    assert devops2.lines() == ["12:00:00 Failed (status Failed, 2 reads): no quota"]
    assert devops2.completed() == [{"name": "TaskCompleted", "taskId": with_callback()["callback"]["azureDevOps"]["taskInstanceId"],
                                    "jobId": with_callback()["callback"]["azureDevOps"]["jobId"], "result": "failed"}]
    assert "callback" not in publisher2.results[0]


def test_a_request_without_callback_never_calls_azure_devops() -> None:
    watcher, devops, _, _ = rig({"status": "Succeeded"})
    body = with_callback()
    del body["callback"]
    watcher.handle(json.dumps(body))
    assert devops.seen == []


def test_a_failed_feed_post_never_fails_the_poll(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher, devops, _, queues = rig({"status": "Running"}, feed=500)
    assert watcher.handle(json.dumps(with_callback())).action == "reenqueued"
    assert len(queues.reenqueued) == 1
    assert any("log line not appended" in r.getMessage() for r in caplog.records)


def test_task_completed_500_raises_so_the_message_is_retried_then_one_succeeds_with_the_same_event_id() -> None:
    watcher, devops, publisher, _ = rig({"status": "Succeeded"}, events=(500,))
    text = json.dumps(with_callback())
    with pytest.raises(PublishError):
        watcher.handle(text, 1)
    assert watcher.handle(text, 2).outcome == "Succeeded"
    assert [c["result"] for c in devops.completed()] == ["succeeded", "succeeded"]  # the 500 one was not taken
    assert len({r["eventId"] for r in publisher.results}) == 1 and len(publisher.results) == 2


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_is_logged_once_and_not_retried(status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher, devops, publisher, _ = rig({"status": "Succeeded"}, events=(status,))
    assert watcher.handle(json.dumps(with_callback())).outcome == "Succeeded"  # no exception: the message is done
    assert len(publisher.results) == 1 and len(devops.completed()) == 1
    refused = [r for r in caplog.records if "refused by Azure DevOps" in r.getMessage()]
    assert len(refused) == 1 and f"HTTP {status}" in refused[0].getMessage()


def test_at_the_last_dequeue_a_failing_callback_is_given_up_instead_of_poisoning_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher, _, publisher, _ = rig({"status": "Succeeded"}, events=(503,) * 10)
    assert watcher.handle(json.dumps(with_callback()), HOST_MAX_DEQUEUE_COUNT).outcome == "Succeeded"
    assert any("given up" in r.getMessage() for r in caplog.records)


def test_host_json_max_dequeue_count_is_the_watchers() -> None:
    from pathlib import Path

    host = json.loads((Path(__file__).parents[2] / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == HOST_MAX_DEQUEUE_COUNT


def test_a_poisoned_callback_request_keeps_its_token_out_of_the_entry() -> None:
    watcher, devops, _, queues = rig({"status": "Succeeded"})
    bad = {**with_callback(), "timeoutSeconds": 999_999}
    assert watcher.handle(json.dumps(bad)).action == "poisoned"
    (entry,) = queues.poisoned
    assert TOKEN not in entry and "[redacted]" in entry
    assert json.loads(json.loads(entry)["original"])["callback"]["azureDevOps"]["jobId"]
    import base64

    assert watcher.handle(base64.b64encode(json.dumps(bad).encode()).decode()).action == "poisoned"
    assert TOKEN not in queues.poisoned[1]
    assert devops.seen == []


def test_the_token_is_in_no_log_line_result_or_requeued_text_but_the_authorization_header(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    watcher, devops, publisher, queues = rig({"status": "Running"}, {"status": "Succeeded"}, events=(500, 401))
    text = json.dumps(with_callback())
    watcher.handle(text)
    with pytest.raises(PublishError):
        watcher.handle(queues.reenqueued[0][0], 1)
    watcher.handle(queues.reenqueued[0][0], 2)
    outputs = [r.getMessage() for r in caplog.records] + [json.dumps(r) for r in publisher.results]
    outputs += [repr(vars(r)) for r in caplog.records]
    assert outputs and not [o for o in outputs if TOKEN in o or TOKEN[:16] in o]


def test_at_the_last_dequeue_a_failing_sink_poisons_a_redacted_copy_not_the_raw_token() -> None:
    """The host would copy the raw message (token included) to the poison queue: the watcher writes its own entry."""
    order: list[str] = []

    queues = RecordingQueues()
    down = RecordingPublisher(fail=ConnectionError("results queue down"), order=order)
    watcher = Watcher(settings(), ScriptedStatus({"status": "Succeeded"}), queues, down, clock=lambda: T0,
                      callbacks=AzureDevOpsClient(FakeTransport(_AzureDevOps(order))))
    text = json.dumps(with_callback())
    with pytest.raises(ConnectionError):
        watcher.handle(text, HOST_MAX_DEQUEUE_COUNT - 1)  # not yet the last: the host retries
    assert watcher.handle(text, HOST_MAX_DEQUEUE_COUNT).action == "poisoned"
    (entry,) = queues.poisoned
    assert TOKEN not in entry and "Given up at attempt 5" in json.loads(entry)["reason"]
    assert json.loads(json.loads(entry)["original"])["callback"]["azureDevOps"]["authToken"] == "[redacted]"


@pytest.mark.parametrize("second", [200, 400, 409])
def test_a_redelivery_after_task_completed_sends_the_same_result_again_and_never_raises(second: int) -> None:
    """The message came back after TaskCompleted was taken (its delete was lost): same eventId, same result, no retry loop."""
    watcher, devops, publisher, queues = rig({"status": "Failed", "error": {"code": "Quota", "message": "no quota"}},
                                             events=(200, second))
    text = json.dumps(with_callback())
    first, again = watcher.handle(text, 1), watcher.handle(text, 2)
    assert (first.action, again.action) == ("published", "published") and first.outcome == again.outcome == "Failed"
    assert [c["result"] for c in devops.completed()] == ["failed", "failed"]
    assert len(publisher.results) == 2 and len({r["eventId"] for r in publisher.results}) == 1
    assert queues.reenqueued == [] and queues.poisoned == []
