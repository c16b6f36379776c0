"""Provider delay hints."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.decide import decide
from shared.core.interpretation import StatusAnswer
from shared.core.retry_after import delay_hint, parse_retry_after
from tests.support.builders import apim, parse, settings

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("30", 30.0), (" 7 ", 7.0), ("1.5", 1.5), ("-4", 0.0),
     ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0), ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
     ("Sunday, 22-Nov-26 12:01:00 GMT", 60.0)],
)
def test_retry_after_values(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", ["", "soon", "nan", "inf", "-inf", "Mon, 99 Foo 2026", "1e400"])
def test_unreadable_retry_after_is_no_hint(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_header_precedence_like_azure_core() -> None:
    assert delay_hint({"retry-after-ms": "250", "x-ms-retry-after-ms": "900", "retry-after": "9"}, NOW) == 0.25
    assert delay_hint({"x-ms-retry-after-ms": "900", "retry-after": "9"}, NOW) == 0.9
    assert delay_hint({"retry-after-ms": "junk", "retry-after": "9"}, NOW) == 9
    assert delay_hint({}, NOW) is None


@given(st.text(max_size=60), st.datetimes(timezones=st.just(UTC)))
def test_parse_never_raises_and_is_never_negative(value: str, now: datetime) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@given(
    st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x-ms-retry-after-ms"]),
                    st.text(max_size=30) | st.integers(-10**12, 10**12).map(str), max_size=3),
    st.integers(0, 600), st.integers(0, 600), st.integers(0, 10**6),
)
def test_decided_delay_is_always_within_the_clamp_and_the_deadline(headers: dict, low: int, span: int, elapsed: int) -> None:
    config = settings(POLL_MIN_DELAY_SECONDS=str(low), POLL_MAX_DELAY_SECONDS=str(low + span))
    request = parse(apim(timeoutSeconds=10**6), config=config)
    now = request.poll.first_seen_at + timedelta(seconds=elapsed)
    decision = decide(request, StatusAnswer(200, headers, b'{"status":"Running"}'), now, config)
    if elapsed >= 10**6:
        assert decision.result["outcome"] == "TimedOut"
        return
    remaining = 10**6 - elapsed
    assert 0 <= decision.delay_seconds <= max(math.ceil(low + span), 0)
    assert decision.delay_seconds >= min(low, remaining)
    assert decision.delay_seconds <= math.ceil(remaining)
