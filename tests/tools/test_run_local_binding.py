"""run_local builds the function's argument with the azure-functions queue converter, from the host's trigger metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessageInConverter

from tools.dev.run_local.binding import queue_message_argument, trigger_metadata

INSERTED = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
EXPIRES = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
VISIBLE = datetime(2026, 11, 22, 12, 10, 0, tzinfo=UTC)


def received(**overrides: Any) -> Any:
    """What azure-storage-queue's receive_messages yields (the fields run_local reads)."""
    fields = {"id": "9632c9e1-0000-4000-8000-000000000001", "dequeue_count": 3, "pop_receipt": "AgAAAAMAAAAAAAAA",
              "inserted_on": INSERTED, "expires_on": EXPIRES, "next_visible_on": VISIBLE, "content": '{"a":1}'}
    return SimpleNamespace(**{**fields, **overrides})


def test_every_trigger_metadata_field_reaches_the_queue_message() -> None:
    message = queue_message_argument(received(), '{"a":1}')
    assert isinstance(message, func.QueueMessage)
    assert (message.id, message.dequeue_count, message.pop_receipt) == ("9632c9e1-0000-4000-8000-000000000001", 3, "AgAAAAMAAAAAAAAA")
    assert (message.insertion_time, message.expiration_time, message.time_next_visible) == (INSERTED, EXPIRES, VISIBLE)
    assert message.get_body() == b'{"a":1}'
    assert queue_message_argument(received(), b"\x00raw").get_body() == b"\x00raw"


def test_the_metadata_names_are_the_hosts() -> None:
    assert set(trigger_metadata(received())) == {"Id", "DequeueCount", "InsertionTime", "ExpirationTime", "NextVisibleTime", "PopReceipt"}
    assert "ExpirationTime" not in trigger_metadata(received(expires_on=None))


def test_the_argument_comes_from_the_libraries_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = QueueMessageInConverter.decode.__func__  # type: ignore[attr-defined]

    def recording(cls: Any, data: Any, *, trigger_metadata: Any) -> Any:
        calls.append((data.type, sorted(trigger_metadata)))
        return original(cls, data, trigger_metadata=trigger_metadata)

    monkeypatch.setattr(QueueMessageInConverter, "decode", classmethod(recording))
    assert queue_message_argument(received(), "text").dequeue_count == 3
    assert calls == [("string", ["DequeueCount", "ExpirationTime", "Id", "InsertionTime", "NextVisibleTime", "PopReceipt"])]
