"""The ``watch`` HTTP function's logic: 200 and one message on the queue, or 400 with the reason and nothing queued."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.http_front import FrontDoor
from tests.support.builders import T0, apim, arm, settings
from tests.support.fakes import RecordingQueues

from .test_azure_devops import HEADERS, TOKEN


def door(queues: RecordingQueues | None = None, **env: str) -> tuple[FrontDoor, RecordingQueues]:
    queues = queues or RecordingQueues()
    return FrontDoor(settings(**env), queues, clock=lambda: T0), queues


def post(body: Any, headers: dict[str, str] | None = None, queues: RecordingQueues | None = None) -> tuple[int, dict[str, Any], RecordingQueues]:
    front, queues = door(queues)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answer = front.handle(raw, {"Content-Type": "application/json", **(headers or {})})
    return status, answer, queues


def test_the_azure_pipelines_headers_become_the_callback_and_the_answer_is_accepted() -> None:
    headers = {name.lower(): value for name, value in HEADERS.items()}  # as any proxy may pass them
    status, answer, queues = post(arm(correlationId="release-7"), headers)
    assert (status, answer) == (200, {"accepted": True, "correlationId": "release-7"})
    (text,) = queues.enqueued
    message = json.loads(text)
    assert message["callback"]["azureDevOps"]["authToken"] == TOKEN
    assert message["callback"]["azureDevOps"]["planUrl"] == HEADERS["PlanUrl"]
    assert "poll" not in message


def test_without_the_headers_it_is_a_plain_front_door_and_a_correlation_id_is_given() -> None:
    status, answer, queues = post(apim())
    assert status == 200 and answer["accepted"] is True
    assert len(answer["correlationId"]) == 36
    message = json.loads(queues.enqueued[0])
    assert "callback" not in message and message["correlationId"] == answer["correlationId"]


@pytest.mark.parametrize(("body", "headers", "field"), [
    ({"source": "apim", "operationID": "x"}, HEADERS, "operationID"),
    (b"not json", HEADERS, "message"),
    (b"", {}, "body"),
    (b" \r\n\t ", {}, "body"),
    ({**arm(), "poll": {"firstSeenAt": "2026-11-22T12:00:00Z"}}, {}, "poll"),
    (arm(), {k: v for k, v in HEADERS.items() if k != "JobId"}, "headers"),
    (arm(), {**HEADERS, "PlanUrl": "https://attacker.example.net/"}, "callback.azureDevOps.planUrl"),
    (arm(timeoutSeconds=172801), HEADERS, "timeoutSeconds"),
    (arm(callback={"azureDevOps": {}}), HEADERS, "callback"),
    ({**arm(), "correlationId": 5}, {}, "correlationId"),
])
def test_400_names_the_field_and_nothing_is_enqueued(body: Any, headers: dict[str, str], field: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    status, answer, queues = post(body, headers)
    assert status == 400 and set(answer) == {"error"}
    assert queues.enqueued == []
    assert f"'{field}'" in answer["error"] or field in answer["error"] or field in ("message", "headers")
    assert TOKEN not in answer["error"] and not [r for r in caplog.records if TOKEN in r.getMessage()]


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n", b"\t \n "])
def test_an_empty_or_blank_body_is_called_empty_not_bad_base64(body: bytes) -> None:
    status, answer, queues = post(body)
    assert status == 400 and queues.enqueued == []
    assert answer["error"].startswith("The body is empty") and "base64" not in answer["error"]


def test_partial_headers_name_what_is_missing() -> None:
    status, answer, _ = post(arm(), {k: v for k, v in HEADERS.items() if k not in ("JobId", "AuthToken")})
    assert status == 400 and "JobId, AuthToken are missing" in answer["error"]


def test_a_queue_that_is_down_is_a_503_not_an_accepted(caplog: pytest.LogCaptureFixture) -> None:
    status, answer, _ = post(arm(), HEADERS, RecordingQueues(fail=ConnectionError("queue down")))
    assert status == 503 and "try again" in answer["error"]


def test_accepted_lines_name_the_operation_and_never_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post(arm(correlationId="c-1"), HEADERS)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "lro_watcher"]
    assert "with an Azure Pipelines callback" in line and "correlationId=c-1" in line and "messageId=msg-1" in line
    assert TOKEN not in line
