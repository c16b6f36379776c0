"""Each message's work done once (issue 23 item 9): settings, the clock, the body's progress, ARM's budget
headers and the log text; counted through the module attributes the code calls, never timed."""

from __future__ import annotations

import json
import logging

import pytest

from shared import runtime, watcher
from shared.core import arm_budget, decide, end_estimate, interpretation
from shared.core.interpretation import StatusAnswer
from shared.watcher import Watcher
from tests.support.builders import T0, apim, arm, parse, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus

CALLBACK = {"azureDevOps": {"planUrl": "https://dev.azure.com/contoso/", "projectId": "p", "hubName": "build",
                            "planId": "plan", "jobId": "job", "timelineId": "tl", "taskInstanceId": "task",
                            "authToken": "job-token-123"}}


class Counting:
    """Wraps a function and counts its calls."""

    def __init__(self, function):  # type: ignore[no-untyped-def]
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.function(*args, **kwargs)


class Callbacks:
    def append_feed(self, callback: object, line: str) -> None:
        pass

    def task_completed(self, callback: object, outcome: str) -> object:
        raise AssertionError("not reached: the operation is running")


def test_settings_are_validated_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    loads = Counting(runtime.load_settings)
    monkeypatch.setattr(runtime, "load_settings", loads)
    runtime.reset()
    try:
        runtime.check_settings()  # function_app's import
        runtime.check_settings()
        runtime.get_watcher()  # the first message
        runtime.get_front_door()  # the first POST /api/watch
    finally:
        runtime.reset()
    assert loads.calls == 1


def test_the_clock_is_read_on_arrival_and_once_after_the_status_read() -> None:
    clock = Counting(lambda: T0)
    handler = Watcher(settings(), ScriptedStatus({"status": "InProgress", "percentComplete": 20}), RecordingQueues(),
                      RecordingPublisher(), clock=clock, callbacks=Callbacks())
    assert handler.handle(json.dumps({**apim(), "callback": CALLBACK})).action == "reenqueued"
    assert clock.calls == 2  # was 4: arrival, the budget estimate, the decision and the feed line each read it


def test_a_read_parses_the_bodys_progress_and_arms_budget_headers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = Counting(end_estimate.progress_of)
    headers = Counting(arm_budget.budget_headers_of)
    monkeypatch.setattr(end_estimate, "progress_of", progress)
    monkeypatch.setattr(interpretation, "budget_headers_of", headers)
    answer = StatusAnswer(200, {"x-ms-ratelimit-remaining-subscription-global-reads": "500"},
                          json.dumps({"status": "InProgress", "percentComplete": 40}).encode())
    request = parse(arm())
    watcher_budget = watcher.BudgetEstimates(100)
    watcher_budget.observe(request, answer, T0)
    decision = decide.decide(request, answer, T0, settings())
    assert isinstance(decision, decide.Reenqueue)
    assert (progress.calls, headers.calls) == (1, 1)


@pytest.mark.parametrize(("level", "built"), [(logging.WARNING, False), (logging.INFO, True)])
def test_log_text_is_built_only_when_the_line_is_written(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                                        level: int, built: bool) -> None:
    text = Counting(watcher.fields_text)
    monkeypatch.setattr(watcher, "fields_text", text)
    caplog.set_level(level, logger="lro_watcher")
    handler = Watcher(settings(), ScriptedStatus({"status": "InProgress"}), RecordingQueues(), RecordingPublisher(), clock=lambda: T0)
    handler.handle(json.dumps(apim()))
    assert (text.calls > 0) is built


def test_a_parse_writes_the_request_as_json_once_unless_a_url_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.core import message_text, request_parser

    sized = Counting(message_text.written_bytes)
    monkeypatch.setattr(message_text, "written_bytes", sized)  # the size check of every message
    monkeypatch.setattr(request_parser, "written_bytes", sized)  # the room a moved URL needs in the copy
    parse(arm(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 2}))
    assert sized.calls == 1  # was 2: the copy's room was measured for a URL that had not moved
