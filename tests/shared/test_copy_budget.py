"""Size budgets and the watcher's own bookkeeping (contract §1, issue 18 classes 2 and 6).

A re-enqueued copy always fits a queue message (64 KiB of UTF-8 text): the request as written
back is at most 63 KiB, ``poll`` without a moved URL at most :data:`POLL_RESERVE_BYTES`
(``lastStatus`` cut to a prefix), and a moved Location that does not fit ends the operation
``PollingFailed`` / ``LocationTooLong``. ``poll`` is checked like any field: a forged
``firstSeenAt`` or a count of 10^30 poisons naming the field; the watcher's own copies pass.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core import jsonio
from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.core.message_text import MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES
from shared.core.poll_state import MAX_LAST_STATUS_BYTES, MAX_LAST_STATUS_CHARS, MAX_POLLS, POLL_RESERVE_BYTES, PollState
from shared.watcher import Watcher
from tests.support.builders import SUBSCRIPTION, T0, apim, arm, parse, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus

OPERATIONS = f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults"
#: A 3 KB Location that passes the URL rules (ARM paths stop at 2,048 characters; the query does not).
FAR = f"{OPERATIONS}/op-9?api-version=2022-03-01&t={'a' * 3000}"


class StorageQueues(RecordingQueues):
    """Refuses a message over 64 KiB of UTF-8, as Storage and Azurite do (RequestBodyTooLarge)."""

    def reenqueue(self, text: str, delay_seconds: int, time_to_live_seconds: int) -> None:
        assert len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES, "RequestBodyTooLarge"
        super().reenqueue(text, delay_seconds, time_to_live_seconds)


def sized(message: dict[str, Any], size: int) -> str:
    """``message`` with a context blob making its written form ``size`` bytes."""
    base = len(jsonio.dumps({**message, "context": {"blob": ""}}).encode())
    return jsonio.dumps({**message, "context": {"blob": "x" * (size - base)}})


def watch(text: str, *answers: StatusAnswer | dict[str, Any]) -> tuple[StorageQueues, RecordingPublisher]:
    queues, publisher = StorageQueues(), RecordingPublisher()
    Watcher(settings(), ScriptedStatus(*answers), queues, publisher, clock=lambda: T0).handle(text)  # type: ignore[arg-type]
    return queues, publisher


def rejected(message: dict[str, Any] | str, now: Any = T0) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(message if isinstance(message, str) else json.dumps(message), now)
    return caught.value


# -- size budgets ---------------------------------------------------------------------------------------


def test_a_63_kib_request_whose_202_names_a_3_kb_location_ends_location_too_long() -> None:
    text = sized(arm(statusHeader="Location"), MAX_REQUEST_BYTES)
    queues, publisher = watch(text, StatusAnswer(202, {"location": FAR}))
    assert queues.reenqueued == []
    (result,) = publisher.results
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "LocationTooLong"
    assert "64 KiB" in result["error"]["message"]


def test_a_small_request_carries_the_same_3_kb_location() -> None:
    queues, _ = watch(json.dumps(arm(statusHeader="Location")), StatusAnswer(202, {"location": FAR}))
    ((text, _, _),) = queues.reenqueued
    assert parse(text).poll_url == FAR


def test_a_70_kb_status_string_is_kept_as_a_prefix_and_the_copy_fits() -> None:
    status = "Running-" + "é" * 70_000
    queues, _ = watch(sized(apim(), MAX_REQUEST_BYTES), {"status": status})
    ((text, _, _),) = queues.reenqueued
    assert parse(text).poll.last_status == status[:131]  # 2 quotes + 8 + 2 x 123 bytes: 256
    assert len(text.encode()) <= MAX_MESSAGE_BYTES


@pytest.mark.parametrize("status", ["x" * 5000, "\x00" * 300, "😀" * 300, "\ud800" * 300, "a\"\\" * 200])
def test_last_status_is_at_most_256_characters_and_256_bytes_of_json(status: str) -> None:
    kept = PollState(T0).after_read(ok=True, status=status, http_status=200).last_status
    assert kept is not None and (status.startswith(kept) or set(kept) == {"\ufffd"})
    assert len(kept) <= MAX_LAST_STATUS_CHARS and len(jsonio.dumps(kept).encode()) <= MAX_LAST_STATUS_BYTES


def test_the_poll_reserve_holds_every_field_at_its_widest() -> None:
    widest = PollState(T0, polls=MAX_POLLS, failures=MAX_POLLS, last_status="\x00" * 1000, last_http_status=999,
                       last_percent_complete=1.0000000000000002e-300, read_slot_at=T0)
    widest = replace(widest, last_status=widest.after_read(ok=True, status="\x00" * 1000, http_status=999).last_status)
    assert len(',"poll":' + jsonio.dumps(widest.to_json())) <= POLL_RESERVE_BYTES
    assert MAX_REQUEST_BYTES + POLL_RESERVE_BYTES < MAX_MESSAGE_BYTES


@given(st.integers(2_000, MAX_REQUEST_BYTES), st.integers(0, 70_000),
       st.sampled_from(["x", "é", "😀", "\x00", "\ud800"]), st.sampled_from([200, 202]))
def test_any_request_size_and_any_read_fits_or_ends_with_a_named_outcome(size: int, extra: int, char: str, code: int) -> None:
    """Never a failing re-enqueue (StorageQueues refuses one), never a poison for a valid request."""
    text = sized(arm(statusHeader="Location") if code == 202 else arm(), size)
    location = f"{OPERATIONS}/op-9?api-version=2022-03-01&t={'a' * extra}"
    answer = StatusAnswer(code, {"location": location}) if code == 202 else StatusAnswer(
        200, {}, jsonio.dumps({"status": char * extra}).encode())
    queues, publisher = watch(text, answer)
    assert queues.poisoned == []
    if queues.reenqueued:
        ((copy, _, _),) = queues.reenqueued
        parse(copy)
    else:
        (result,) = publisher.results
        assert result["outcome"] == "Succeeded" or result["error"]["code"] == "LocationTooLong"


def test_a_copy_holding_a_moved_url_too_long_to_carry_is_invalid_naming_it() -> None:
    forged = {**json.loads(sized(arm(statusHeader="Location"), MAX_REQUEST_BYTES - 300)),
              "poll": {"firstSeenAt": "2026-11-22T12:00:00.000Z", "statusUrl": f"{OPERATIONS}/op-9?api-version=1&t={'a' * 900}"}}
    assert rejected(forged).field == "poll.statusUrl"


@pytest.mark.parametrize("code", [600, 999])
def test_a_status_code_past_599_is_carried_to_the_next_read(code: int) -> None:
    """HTTP lets a server answer any three-digit status; a hostile one must not get the copy poisoned."""
    queues, _ = watch(json.dumps(apim()), StatusAnswer(code, {}, b""))
    ((text, _, _),) = queues.reenqueued
    assert parse(text).poll.last_http_status == code


def test_the_millionth_poll_ends_the_operation_rather_than_write_a_count_it_would_refuse() -> None:
    request = parse({**apim(), "poll": {"firstSeenAt": "2026-11-22T12:00:00.000Z", "polls": MAX_POLLS}})
    decision = decide(request, StatusAnswer(200, {}, b'{"status":"Running"}'), T0, settings())
    assert isinstance(decision, Publish) and decision.result["error"]["code"] == "TooManyPolls"
    almost = replace(request, poll=replace(request.poll, polls=MAX_POLLS - 1))
    assert isinstance(decide(almost, StatusAnswer(200, {}, b'{"status":"Running"}'), T0, settings()), Reenqueue)


# -- forged bookkeeping -----------------------------------------------------------------------------------


def with_poll(**poll: Any) -> dict[str, Any]:
    return {**apim(timeoutSeconds=60), "poll": {"firstSeenAt": "2026-11-22T12:00:00.000Z", **poll}}


@pytest.mark.parametrize(("poll", "field"), [
    ({"firstSeenAt": "9999-01-01T00:00:00Z"}, "poll.firstSeenAt"),
    ({"firstSeenAt": "2026-11-22T12:01:01Z"}, "poll.firstSeenAt"),
    ({"firstSeenAt": "2026-01-01T00:00:00Z"}, "poll.firstSeenAt"),
    ({"firstSeenAt": 1795348800}, "poll.firstSeenAt"),
    ({"firstSeenAt": "1795348800"}, "poll.firstSeenAt"),
    ({"firstSeenAt": "2026-11-22"}, "poll.firstSeenAt"),
    ({"firstSeenAt": "2026-11-22T12:00:00"}, "poll.firstSeenAt"),
    ({"firstSeenAt": "2026-02-30T12:00:00Z"}, "poll.firstSeenAt"),
    ({"polls": 10**30}, "poll.polls"),
    ({"polls": 10**6}, "poll.polls"),
    ({"polls": -1}, "poll.polls"),
    ({"polls": True}, "poll.polls"),
    ({"polls": 1.0}, "poll.polls"),
    ({"failures": 10**6}, "poll.failures"),
    ({"failures": False}, "poll.failures"),
    ({"lastPercentComplete": "50"}, "poll.lastPercentComplete"),
    ({"lastPercentComplete": 100.5}, "poll.lastPercentComplete"),
    ({"lastPercentComplete": True}, "poll.lastPercentComplete"),
    ({"lastHttpStatus": 99}, "poll.lastHttpStatus"),
    ({"lastHttpStatus": 1000}, "poll.lastHttpStatus"),
    ({"lastHttpStatus": True}, "poll.lastHttpStatus"),
    ({"lastStatus": "s" * 257}, "poll.lastStatus"),
    ({"readSlotAt": 1795348800}, "poll.readSlotAt"),
    ({"readSlotAt": "9999-01-01T00:00:00Z"}, "poll.readSlotAt"),
])
def test_forged_bookkeeping_is_invalid_naming_the_field(poll: dict[str, Any], field: str) -> None:
    err = rejected(with_poll(**poll))
    assert err.field == field and "producers omit 'poll'" in err.reason


def test_a_non_finite_percentage_names_poll() -> None:
    err = rejected(json.dumps(with_poll(lastPercentComplete=5)).replace("5}", "1e999}"))
    assert err.field == "poll" and "poll.lastPercentComplete" in err.reason


def test_a_first_sighting_within_a_minute_of_clock_skew_is_accepted() -> None:
    assert parse(with_poll(firstSeenAt="2026-11-22T12:00:59.999Z")).poll.first_seen_at == T0 + timedelta(seconds=59.999)
    assert parse(with_poll(firstSeenAt="2026-11-22T13:00:00+01:00")).poll.first_seen_at == T0


def test_a_copy_delayed_past_its_deadline_by_a_backlog_still_times_out() -> None:
    """The oldest sighting accepted covers the longest timeout, the longest delay and the copy's TTL margin."""
    message = {**apim(timeoutSeconds=2_592_000), "poll": {"firstSeenAt": "2026-11-22T12:00:00.000Z", "polls": 3}}
    request = parse(message, T0 + timedelta(days=43))
    decision = decide(request, StatusAnswer(200, {}, b'{"status":"Running"}'), T0 + timedelta(days=43), settings())
    assert isinstance(decision, Publish) and decision.outcome == "TimedOut"


moments = st.datetimes(min_value=T0.replace(tzinfo=None) - timedelta(days=30), max_value=T0.replace(tzinfo=None))
statuses = st.none() | st.text(max_size=600) | st.sampled_from(["x" * 70_000, "\ud800" * 300, "😀" * 400])
percents = st.none() | st.floats(0, 100) | st.integers(0, 100)


@given(moments, st.integers(0, MAX_POLLS - 1), st.integers(0, 10_000), statuses, st.none() | st.integers(100, 999),
       percents, st.booleans(), st.none() | st.integers(0, 2_000))
def test_every_copy_the_watcher_writes_parses_back_to_the_same_bookkeeping(
    first: Any, polls: int, failures: int, status: str | None, http: int | None, percent: float | None, slot: bool,
    moved: int | None,
) -> None:
    first = first.replace(tzinfo=T0.tzinfo, microsecond=first.microsecond // 1000 * 1000)  # the copy keeps milliseconds
    request = parse(arm(statusHeader="Location", timeoutSeconds=2_592_000), first)
    poll = replace(request.poll, polls=polls, failures=failures).after_read(
        ok=percent is not None, status=status, http_status=http, percent_complete=percent)
    url = f"{OPERATIONS}/op-9?api-version=2022-03-01&t={'m' * moved}" if moved is not None else None
    poll = replace(poll, read_slot_at=T0 + timedelta(seconds=30) if slot else None, poll_url=url)
    text = request.message_text(poll)
    assert len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES
    again = parse(text, T0)
    assert again.poll == poll
