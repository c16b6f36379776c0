"""Fuzzing of everything that reads outside input: request messages, delay hints, status reads.

Properties (example counts from the hypothesis profile, see ``conftest.py``; ``make soak``
runs them with at least 10,000 examples each):

* request parsing raises nothing but :class:`InvalidRequest` for any JSON (nested, huge
  or non-finite numbers, any Unicode, escaped lone surrogates), any bytes and base64;
  a request that parses has a URL that passes the token rules, and its re-enqueued text
  parses back to the same request;
* ``Retry-After`` / ``retry-after-ms`` parsing never raises and is never negative or
  non-finite, and the decided delay always lies within the clamp and the deadline;
* ``decide()`` never raises for any status read (status code, headers, body) and its
  decision obeys the protocol's invariants.

The examples at the end are the holes this fuzzing found (fixed in ``shared/jsonio.py`` and
``shared/request.py``): deep nesting, NaN, lone surrogates, a deadline past the year 9999,
raw or huge field names in reasons.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.core.message_text import MAX_MESSAGE_BYTES
from shared.core.poll_state import MAX_POLLS
from shared.core.request_parser import RequestParser
from shared.core.result import OUTCOMES
from shared.core.retry_after import delay_hint, parse_retry_after
from shared.core.trimming import encode_json
from shared.core.urls import HostAllowlist, checked_url
from shared.watcher import Watcher
from tests.support.builders import T0, apim, arm, devcenter, operationalinsights, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus
from tests.support.strict_json import strict_loads

CONFIG = settings(STATUS_HOST_ALLOWLIST="*.devcenter.azure.com,127.0.0.1:8080")
PARSER = RequestParser(CONFIG)
DATAPLANE = {"source": "dataplane", "statusUrl": "https://t-dc.westus.devcenter.azure.com/projects/p/operationstatuses/o?api-version=1"}
BASES = [apim(), devcenter(), operationalinsights(), arm(), arm(statusHeader="Location"), DATAPLANE,
         {**DATAPLANE, "statusHeader": "location"}]
FIELDS = ["source", "subscriptionId", "location", "operationId", "endpoint", "projectName", "statusUrl",
          "apiVersion", "correlationId", "context", "timeoutSeconds", "poll"]

# -- strategies ------------------------------------------------------------------------------------

lone_surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
tricky = st.sampled_from(["\x00", "\x7f", "\u2028", "\ufeff", "\u202e", "é", "ｅ", "𝔘", "/", "\\", "%2f", "..", "@", "#", "?"])


def texts(chars: st.SearchStrategy[str], max_size: int = 24) -> st.SearchStrategy[str]:
    return st.lists(chars | tricky, max_size=max_size).map("".join)


#: Any Unicode, surrogates included (they reach the parser as JSON escapes, which is valid JSON).
any_text = texts(st.characters(exclude_categories=()) | lone_surrogates)
#: Unicode text that UTF-8 can carry (what a queue message can hold literally).
utf8_text = texts(st.characters(codec="utf-8"))
numbers = (
    st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2592000, 2592001, 2**31, 2**63, -(2**63), 10**100, 1e308, -0.0, 0.5])
)


def json_values(text: st.SearchStrategy[str], *, finite: bool = False) -> st.SearchStrategy[Any]:
    scalars = st.integers() | st.floats(allow_nan=False, allow_infinity=False) if finite else numbers
    return st.recursive(
        st.none() | st.booleans() | scalars | text,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(text | st.sampled_from(FIELDS), children, max_size=4),
        max_leaves=30,
    )


def messages(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Arbitrary objects, and valid requests with fields replaced, added or dropped."""
    values = json_values(text)
    arbitrary = st.dictionaries(st.sampled_from(FIELDS) | text, values, max_size=8)
    mutated = st.builds(
        lambda base, changes, dropped: {k: v for k, v in {**base, **changes}.items() if k not in dropped},
        st.sampled_from(BASES),
        st.dictionaries(st.sampled_from(FIELDS) | text, values, max_size=3),
        st.sets(st.sampled_from(FIELDS), max_size=2),
    )
    return arbitrary | mutated


def _parse(raw: str | bytes) -> Any:
    """The request, or None for an InvalidRequest (anything else propagates and fails the test)."""
    try:
        request = PARSER.parse(raw, T0)
    except InvalidRequest as err:
        assert err.field and err.reason.strip() and "\n" not in err.reason and len(err.reason) < 500
        return None
    allowed = HostAllowlist.parse("*.devcenter.azure.com,127.0.0.1:8080,management.azure.com")
    assert checked_url(request.poll_url, field="url", allowed=allowed, producer_supplied=False) == request.poll_url
    return request




def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # ASCII: lone surrogates become \ud800 escapes


# -- request parsing ------------------------------------------------------------------------------


@given(messages(any_text))
def test_any_json_object_parses_or_is_an_invalid_request(message: dict[str, Any]) -> None:
    text = _dumps(message)
    _parse(text)
    _parse(text.encode("utf-8"))
    _parse(base64.b64encode(text.encode("utf-8")).decode("ascii"))


@given(json_values(any_text))
def test_any_json_value_parses_or_is_an_invalid_request(value: Any) -> None:
    assert _parse(_dumps(value)) is None or isinstance(value, dict)


@given(
    st.binary(max_size=400)
    | messages(utf8_text).map(lambda m: json.dumps(m, ensure_ascii=False, allow_nan=True).encode("utf-8"))
    | messages(any_text).map(lambda m: json.dumps(m, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass"))
    | st.tuples(st.sampled_from([b"\xef\xbb\xbf", b"\xc0\xae", b"\xed\xa0\x80", b"\x00", b" \t\r\n"]), st.binary(max_size=40))
    .map(lambda parts: parts[0] + json.dumps(apim()).encode() + parts[1])
)
def test_any_bytes_parse_or_are_an_invalid_request(raw: bytes) -> None:
    _parse(raw)


@given(st.text(max_size=300) | st.from_regex(r"\A[A-Za-z0-9+/=\s]{0,80}\Z"))
def test_any_text_parses_or_is_an_invalid_request(text: str) -> None:
    _parse(text)


@given(
    st.sampled_from(BASES),
    st.none() | texts(st.characters(codec="utf-8"), max_size=100),
    st.none() | st.dictionaries(utf8_text, json_values(utf8_text, finite=True), max_size=4),
    st.booleans(),
)
def test_a_parsed_request_reenqueues_as_text_that_parses_back(
    base: dict[str, Any], correlation: str | None, context: dict[str, Any] | None, ok: bool
) -> None:
    message = {**base, **({"correlationId": correlation} if correlation is not None else {}),
               **({"context": context} if context is not None else {})}
    request = _parse(_dumps(message))
    assume(request is not None)  # e.g. a float that is not a whole number
    poll = request.poll.after_read(ok=ok, status="Running" if ok else None, http_status=200 if ok else 503)
    again = PARSER.parse(request.message_text(poll).encode("utf-8"), T0 + timedelta(hours=1))
    assert (again.poll_url, again.body, again.poll) == (request.poll_url, request.body, poll)


# -- delay hints ----------------------------------------------------------------------------------

days = st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Sunday", "Foo", ""])
months = st.sampled_from(["Jan", "Feb", "Nov", "Dec", "Xyz", ""])
http_dates = st.builds(
    lambda d, day, m, y, hh, mm, ss, zone: f"{d}, {day} {m} {y} {hh}:{mm}:{ss} {zone}".strip(),
    days, st.integers(-5, 99), months, st.integers(-10, 100_000) | st.sampled_from([0, 99, 1900, 9999]),
    st.integers(-1, 99), st.integers(-1, 99), st.integers(-1, 99),
    st.sampled_from(["GMT", "UTC", "+0000", "-2359", "+9999", "PST", "", "Z"]),
)
numeric_texts = st.sampled_from(["1e309", "-1e309", "1e-400", "-0", "0x10", "١٢", "1_000", " 5\n", "nan", "+inf", "5.", ".5"]) \
    | st.integers(-(10**30), 10**30).map(str) | st.floats(allow_nan=True, allow_infinity=True).map(repr)
hint_values = http_dates | numeric_texts | st.text(max_size=60)
moments = st.datetimes(timezones=st.just(UTC)) | st.sampled_from(
    [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), T0]
)


@given(hint_values, moments)
def test_retry_after_never_raises_and_is_finite_and_not_negative(value: str, now: datetime) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x-ms-retry-after-ms"]), hint_values, max_size=3),
       moments)
def test_delay_hint_never_raises_and_is_finite_and_not_negative(headers: dict[str, str], now: datetime) -> None:
    seconds = delay_hint(headers, now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


# -- the decision core -----------------------------------------------------------------------------

header_names = st.sampled_from(["retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-ms-error-code", "location",
                                "www-authenticate"])
status_values = st.sampled_from(["Succeeded", "succeeded", "Completed", "Failed", "FAILED", "Canceled", "Cancelled",
                                 "InProgress", "Running", "", " succeeded"]) | any_text | json_values(any_text)
status_bodies = st.builds(
    lambda status, error, extra: {**extra, "status": status, **({"error": error} if error is not None else {})},
    status_values, st.none() | json_values(any_text), st.dictionaries(any_text, json_values(any_text), max_size=3),
)
bodies = (
    st.binary(max_size=200)
    | status_bodies.map(lambda b: _dumps(b).encode())
    | json_values(any_text).map(lambda v: _dumps(v).encode())
    | st.sampled_from([b"", b"  ", b"null", b"{}", b'{"status":null}', b"\xff\xfe", b'{"status":"Succeeded"'])
)
#: What a 202's Location header may say: moves that pass the rules, moves that do not, junk.
location_values = st.sampled_from([
    "/subscriptions/x/providers/p/locations/eastus/operationResults/op-3?api-version=1",
    "https://management.azure.com/subscriptions/x/providers/p/operationResults/y?api-version=2",
    "https://t-dc2.westus.devcenter.azure.com/projects/p/operationstatuses/o?api-version=1",
    "https://evil.example/operations/1?api-version=1", "http://127.0.0.1:8080/operations/1?api-version=1",
    "//evil.example/x", "../../x?api-version=1", "https://user@management.azure.com/x", "",
]) | any_text
reads = st.builds(
    StatusAnswer,
    st.none() | st.sampled_from([200, 201, 202, 204, 301, 302, 307, 400, 401, 403, 404, 408, 409, 429, 500, 503])
    | st.integers(-1, 1000),
    st.dictionaries(header_names, hint_values, max_size=4).flatmap(
        lambda headers: st.one_of(st.just(headers), location_values.map(lambda where: {**headers, "location": where}))
    ),
    bodies,
    st.none() | st.text(max_size=40),
)
requests = st.builds(
    lambda base, timeout, first_seen, polls, failures, last: {
        **base, "timeoutSeconds": timeout,
        "poll": {"firstSeenAt": first_seen.isoformat(), "polls": polls, "failures": failures, "lastStatus": last},
    },
    st.sampled_from(BASES), st.integers(1, 2_592_000),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(0, MAX_POLLS), st.integers(0, 10**4), st.none() | any_text,
)


@given(requests, reads, st.integers(-(10**6), 4 * 10**6), st.integers(0, 600), st.integers(0, 600), st.integers(1, 20))
def test_decide_never_raises_and_keeps_its_invariants(
    message: dict[str, Any], answer: StatusAnswer, elapsed: int, low: int, span: int, max_failures: int
) -> None:
    config = settings(POLL_MIN_DELAY_SECONDS=str(low), POLL_MAX_DELAY_SECONDS=str(low + span),
                      POLL_MAX_FAILURES=str(max_failures))
    request = RequestParser(config).parse(_dumps(message), datetime.fromisoformat(message["poll"]["firstSeenAt"]))
    now = request.poll.first_seen_at + timedelta(seconds=elapsed)
    decision = decide(request, answer, now, config)
    if isinstance(decision, Reenqueue):
        remaining = (request.deadline - now).total_seconds()
        assert remaining > 0, "no re-enqueue at or past the deadline"
        assert 0 <= decision.delay_seconds <= min(math.ceil(low + span), math.ceil(remaining))
        assert decision.delay_seconds >= min(low, math.floor(remaining))
        assert decision.poll.polls == request.poll.polls + 1 <= MAX_POLLS
        assert decision.poll.failures < max_failures
        assert answer.http_status is None or not 300 <= answer.http_status < 400
        text = request.message_text(decision.poll)
        assert len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES
        # a moved URL passes the rules again (read no earlier than the first sighting: clocks do not run back for days)
        again = RequestParser(config).parse(text, max(now, request.poll.first_seen_at))
        assert again.poll_url == (decision.poll.poll_url or request.poll_url) and again.scope == request.scope
        return
    assert isinstance(decision, Publish)
    result = decision.result
    assert result["outcome"] in OUTCOMES and result["polls"] == request.poll.polls + 1
    assert strict_loads(encode_json(result))["eventId"] == result["eventId"]
    if answer.http_status is not None and 300 <= answer.http_status < 400:
        assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "RedirectNotFollowed"


# -- holes this fuzzing found, kept as regression examples ---------------------------------------------

DEEP = 30_000  # a 60 KB message: under the 63 KiB request limit


def test_a_deeply_nested_request_is_an_invalid_request() -> None:
    assert _parse(json.dumps({**apim(), "context": {"x": 1}}).replace('{"x": 1}', "[" * DEEP + "]" * DEEP)) is None


def test_a_deeply_nested_status_body_is_a_failed_read() -> None:
    request = PARSER.parse(_dumps(apim()), T0)
    decision = decide(request, StatusAnswer(200, {}, b"[" * DEEP + b"]" * DEEP), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 1


def test_a_first_sighting_at_the_end_of_time_is_rejected_or_decided() -> None:
    message = {**apim(), "poll": {"firstSeenAt": "9999-12-31T23:59:59Z"}}
    try:
        request = PARSER.parse(_dumps(message), T0)
    except InvalidRequest:
        return
    decide(request, StatusAnswer(200, {}, b'{"status":"Running"}'), T0, CONFIG)


def test_a_request_with_a_lone_surrogate_reenqueues_as_utf8() -> None:
    request = PARSER.parse(_dumps({**apim(), "context": {"note": "\ud800"}}), T0)
    text = request.message_text(request.poll.after_read(ok=True, status="Running", http_status=200))
    assert PARSER.parse(text.encode("utf-8"), T0).body == request.body


def test_nan_and_infinity_are_not_json() -> None:
    with pytest.raises(InvalidRequest):
        PARSER.parse(json.dumps({**apim(), "context": {"ratio": float("nan")}}), T0)


@pytest.mark.parametrize("name", ["x\ny", "\u2028", "k" * 30_000])
def test_an_unknown_field_name_is_shown_on_one_short_line(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        PARSER.parse(json.dumps({**apim(), name: 1}), T0)
    assert "\n" not in caught.value.reason and "\u2028" not in caught.value.reason and len(caught.value.reason) < 500


def test_every_poison_entry_carries_a_reason() -> None:
    queue = RecordingQueues()
    Watcher(CONFIG, ScriptedStatus({"status": "Succeeded"}), queue, RecordingPublisher()).handle(json.dumps({**apim(), "k" * 33_000: 1}).encode())
    (entry,) = queue.poisoned
    assert "reason" in json.loads(entry)
