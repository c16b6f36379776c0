"""Sinks: trimming a result to a size limit (pure), the queue sink, and the publisher."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from shared.core.errors import PublishError
from shared.core.poll_state import PollState
from shared.core.result import build_result
from shared.core.trimming import (
    MAX_QUEUE_MESSAGE_BYTES,
    TRIM_STEPS,
    TRIMMED_STRING_CHARS,
    encode_json,
    fit_result,
    result_text,
)
from shared.edges.sinks import Publisher, QueueSink
from tests.support.builders import T0, apim, parse
from tests.support.fakes import RecordingQueues


def a_result(*, operation: Any = None, context: Any = None, error: Any = None, outcome: str = "Failed") -> dict[str, Any]:
    request = parse(apim(correlationId="release-42", context={"stage": "test"}))
    body = operation if operation is not None else {"status": outcome, "name": "op-1"}
    result = build_result(request, outcome, PollState(T0, polls=3), T0 + timedelta(minutes=5), body=body, error=error)
    result["context"] = context  # a real context is at most ~63 KiB; tests need bigger ones
    return result


def size(result: Any) -> int:
    return len(encode_json(result))


BIG = "x" * 50_000
DEEP_ERROR = {
    "code": "Conflict",
    "message": "It failed.",
    "target": "api",
    "details": [{"code": "Inner", "message": BIG}],
    "innererror": {"code": "Deeper", "blob": BIG},
    "additionalInfo": [{"type": "t", "info": {"blob": BIG}}],
}


def test_a_result_that_fits_is_returned_as_is_without_a_flag() -> None:
    result = a_result()
    fitted, body = fit_result(result, encode_json, MAX_QUEUE_MESSAGE_BYTES)
    assert fitted is result and "trimmed" not in fitted
    assert json.loads(body) == result


def test_the_operation_body_goes_first() -> None:
    result = a_result(operation={"status": "Failed", "blob": BIG}, context={"stage": "prod"}, error=DEEP_ERROR)
    original = copy.deepcopy(result)
    fitted, body = fit_result(result, encode_json, size(result) - 10)
    assert fitted["operation"] is None and fitted["trimmed"] == ["operation"]
    assert fitted["context"] == {"stage": "prod"} and fitted["error"] == DEEP_ERROR
    assert json.loads(body) == fitted
    assert result == original, "the caller's result is never modified (both sinks share it)"


def test_then_the_context_then_the_error_details() -> None:
    result = a_result(operation={"status": "Failed", "blob": BIG}, context={"blob": BIG}, error=DEEP_ERROR)
    fitted, _ = fit_result(result, encode_json, 160_000)  # error alone is ~150 kB
    assert fitted["trimmed"] == ["operation", "context"] and fitted["error"] == DEEP_ERROR

    fitted, _ = fit_result(result, encode_json, MAX_QUEUE_MESSAGE_BYTES)
    assert fitted["trimmed"] == ["operation", "context", "error.details"]
    assert fitted["operation"] is None and fitted["context"] is None
    assert fitted["error"] == {"code": "Conflict", "message": "It failed.", "target": "api"}
    # everything that identifies the outcome is intact
    for key in ("eventId", "outcome", "status", "source", "operationId", "statusUrl", "correlationId", "completedAt"):
        assert fitted[key] == result[key]


def test_steps_that_remove_nothing_are_not_listed() -> None:
    result = a_result(error={"code": "Conflict", "message": BIG * 2})  # context absent, error has no details
    fitted, body = fit_result(result, encode_json, MAX_QUEUE_MESSAGE_BYTES)
    assert fitted["trimmed"] == ["operation", "strings"]
    assert len(fitted["error"]["message"]) == TRIMMED_STRING_CHARS and fitted["error"]["message"].endswith("…")
    assert fitted["error"]["code"] == "Conflict"
    assert len(body) <= MAX_QUEUE_MESSAGE_BYTES


def test_the_last_step_cuts_long_strings_but_never_the_event_id_or_outcome() -> None:
    result = a_result(error={"code": "C", "message": "m"})
    result["statusUrl"] = result["statusUrl"] + "&pad=" + "p" * 70_000
    result["startTime"] = "s" * 600
    fitted, body = fit_result(result, encode_json, MAX_QUEUE_MESSAGE_BYTES)
    assert fitted["trimmed"] == ["operation", "strings"]
    assert fitted["statusUrl"].startswith(result["statusUrl"][:100]) and len(fitted["statusUrl"]) == TRIMMED_STRING_CHARS
    assert len(fitted["startTime"]) == TRIMMED_STRING_CHARS
    assert fitted["eventId"] == result["eventId"] and fitted["outcome"] == result["outcome"]
    assert len(body) <= MAX_QUEUE_MESSAGE_BYTES


def test_the_documented_order_is_the_order_applied() -> None:
    assert TRIM_STEPS == ("operation", "context", "error.details", "strings")
    result = a_result(operation={"blob": BIG}, context={"blob": BIG}, error={**DEEP_ERROR, "message": BIG})
    fitted, _ = fit_result(result, encode_json, 2_000)
    assert fitted["trimmed"] == list(TRIM_STEPS)


def test_a_worst_case_result_always_fits_a_queue_message() -> None:
    nasty = "\x01" * 70_000  # each character is 6 bytes of JSON
    result = a_result(operation={"blob": nasty}, context={"blob": nasty}, error={**DEEP_ERROR, "code": nasty, "message": nasty, "target": nasty})
    for key in ("status", "operationId", "statusUrl", "correlationId", "startTime", "endTime"):
        result[key] = nasty
    fitted, body = fit_result(result, encode_json, MAX_QUEUE_MESSAGE_BYTES)
    assert len(body) <= MAX_QUEUE_MESSAGE_BYTES and fitted["outcome"] == "Failed"


def test_an_impossible_limit_raises_rather_than_dropping_silently() -> None:
    with pytest.raises(PublishError, match="even after trimming"):
        fit_result(a_result(), encode_json, 50)


def test_json_encoding_is_compact_utf8_and_survives_lone_surrogates() -> None:
    assert encode_json({"a": "é", "b": [1]}) == '{"a":"é","b":[1]}'.encode()
    text = encode_json({"a": "\ud800"})
    assert json.loads(text) == {"a": "\ud800"} and text.isascii()
    assert result_text({"a": "é"}) == '{"a":"é"}'


def test_the_queue_sink_sends_raw_json_trimmed_to_64_kib(caplog: pytest.LogCaptureFixture) -> None:
    queues = RecordingQueues()
    sink = QueueSink(queues)
    small = a_result()
    sink.publish(small)
    assert json.loads(queues.published[0]) == small

    big = a_result(operation={"status": "Failed", "blob": BIG * 2})
    sink.publish(big)
    sent = json.loads(queues.published[1])
    assert sent["trimmed"] == ["operation"] and sent["eventId"] == big["eventId"]
    assert len(queues.published[1].encode("utf-8")) <= MAX_QUEUE_MESSAGE_BYTES
    assert "trimmed for queue" in caplog.text and big["eventId"] in caplog.text


class RecordingSink:
    def __init__(self, name: str, log: list[tuple[str, str]], fail: Exception | None = None) -> None:
        self.name = name
        self.log = log
        self.fail = fail

    def publish(self, result: dict[str, Any]) -> None:
        self.log.append((self.name, result["eventId"]))
        if self.fail:
            raise self.fail


def test_the_publisher_publishes_to_each_sink_in_order_and_a_failure_propagates() -> None:
    log: list[tuple[str, str]] = []
    result = a_result()
    Publisher([RecordingSink("queue", log), RecordingSink("eventgrid", log)]).publish(result)
    assert log == [("queue", result["eventId"]), ("eventgrid", result["eventId"])]

    log.clear()
    failing = Publisher([RecordingSink("queue", log), RecordingSink("eventgrid", log, PublishError("503"))])
    with pytest.raises(PublishError):
        failing.publish(result)
    with pytest.raises(PublishError):  # the host retries: the queue copy is sent again, with the same eventId
        failing.publish(result)
    assert log == [("queue", result["eventId"]), ("eventgrid", result["eventId"])] * 2
