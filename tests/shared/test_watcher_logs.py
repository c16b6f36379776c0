"""Every log line about a message names the operation: in its text and as structured fields (``extra=``)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from shared.core.log_fields import LOG_FIELDS
from shared.watcher import Watcher
from tests.support.builders import T0, apim, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus


def watcher(status: str = "Succeeded", *, queues: RecordingQueues | None = None, publisher: RecordingPublisher | None = None) -> Watcher:
    return Watcher(settings(), ScriptedStatus({"status": status}), queues or RecordingQueues(), publisher or RecordingPublisher(), clock=lambda: T0)


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lro_watcher"]


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in LOG_FIELDS}


def test_a_published_outcome_names_operation_correlation_message_dequeue_and_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher().handle(json.dumps(apim(correlationId="release-42")), 3, message_id="msg-1")
    (record,) = records(caplog)
    fields = fields_of(record)
    assert fields["eventId"] and len(fields["eventId"]) == 36
    assert fields == {"source": "apim", "operationId": "op-1", "correlationId": "release-42", "messageId": "msg-1",
                      "dequeueCount": 3, "eventId": fields["eventId"]}
    text = record.getMessage()
    assert "-> Succeeded" in text
    assert (f"[source=apim operationId=op-1 correlationId=release-42 messageId=msg-1 dequeueCount=3 "
            f"eventId={fields['eventId']}]") in text


def test_a_reenqueue_line_names_the_operation_without_an_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher("InProgress").handle(json.dumps(apim()), 1, message_id="msg-2")
    (record,) = records(caplog)
    assert fields_of(record) == {"source": "apim", "operationId": "op-1", "correlationId": None, "messageId": "msg-2",
                                 "dequeueCount": 1, "eventId": None}
    assert "again in" in record.getMessage() and "correlationId=- messageId=msg-2 dequeueCount=1 eventId=-]" in record.getMessage()


def test_a_failed_publish_names_the_operation_and_the_event_then_raises(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError):
        watcher(publisher=RecordingPublisher(fail=RuntimeError("Event Grid answered 503"))).handle(json.dumps(apim(correlationId="c-9")), 2, message_id="msg-3")
    (record,) = records(caplog)
    assert record.levelno == logging.ERROR
    assert "publish failed" in record.getMessage() and "Event Grid answered 503" in record.getMessage()
    assert fields_of(record)["operationId"] == "op-1" and fields_of(record)["correlationId"] == "c-9"
    assert fields_of(record)["eventId"] and "operationId=op-1" in record.getMessage()


def test_a_failed_reenqueue_names_the_operation(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConnectionError):
        watcher("InProgress", queues=RecordingQueues(fail=ConnectionError("queue down"))).handle(json.dumps(apim()), 1, message_id="msg-4")
    (record,) = records(caplog)
    assert "re-enqueue failed" in record.getMessage() and fields_of(record)["messageId"] == "msg-4"


def test_a_rejection_carries_the_message_id_and_what_could_be_read(caplog: pytest.LogCaptureFixture) -> None:
    watcher().handle(json.dumps(apim(correlationId="rel-1", operationID="typo")), 1, message_id="msg-5")
    (record,) = records(caplog)
    assert record.levelno == logging.WARNING and "operationID" in record.getMessage()
    assert fields_of(record) == {"source": "apim", "operationId": "op-1", "correlationId": "rel-1", "messageId": "msg-5",
                                 "dequeueCount": 1, "eventId": None}


def test_unreadable_rejections_and_hostile_correlation_ids_stay_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher().handle(b"\xff", 1, message_id="msg-6")
    watcher().handle(json.dumps(apim(correlationId="a\nFAKE LINE")), 1, message_id="msg-7")
    first, second = records(caplog)
    assert fields_of(first)["source"] is None and "source=- operationId=-" in first.getMessage()
    assert "\n" not in second.getMessage() and 'correlationId="a\\nFAKE LINE"' in second.getMessage()


#: One field of the text: ``name=bare`` or ``name="JSON string"``; the block closes the line.
_FIELD = r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"\[\]=]+)'
_BLOCK = re.compile(r"\[(" + _FIELD + r"(?: " + _FIELD + r")*)\]$")


def parsed_fields(line: str) -> dict[str, Any]:
    """The fields block at the end of a text log line, read the way a log query would (quotes respected)."""
    block = _BLOCK.search(line)
    assert block is not None, line
    pairs = re.findall(_FIELD, block.group(1))
    assert [name for name, _ in pairs] == list(LOG_FIELDS), line  # each field once, in order: none forged
    return {name: None if value == "-" else json.loads(value) if value.startswith('"') else value for name, value in pairs}


@pytest.mark.parametrize(
    "correlation",
    ["x] poll: status=Succeeded operationId=VICTIM", "x operationId=VICTIM", 'q" operationId="VICTIM',
     "a=b", "[source=apim]", "-", "x\\] operationId=VICTIM", "tab\there", "é-ok"],
)
def test_a_hostile_field_value_cannot_fake_fields_in_the_text_line(caplog: pytest.LogCaptureFixture, correlation: str) -> None:
    caplog.set_level(logging.INFO, "lro_watcher")
    watcher().handle(json.dumps(apim(correlationId=correlation)), 1, message_id="msg-8")
    (record,) = records(caplog)
    fields = parsed_fields(record.getMessage())
    assert fields["operationId"] == "op-1" and fields["correlationId"] == correlation
    assert "operationId=VICTIM" not in record.getMessage()  # not even to a grep
    assert fields_of(record)["correlationId"] == correlation  # the extra= fields stay raw
