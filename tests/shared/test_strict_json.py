"""Strict JSON at the boundary (contract §1, issue 18 class 1): finite numbers, a depth limit, unique keys.

A request holding ``1e999`` (Python reads it as infinity), nesting deeper than 64 levels in
``context`` or a key twice is invalid, with a reason naming the field; a status body holding
such a number is read with ``null`` there and kept to 64 levels; nothing the watcher writes
holds ``NaN``/``Infinity`` or is too deep to write (no ``RecursionError``, on read or write).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.core import jsonio
from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.watcher import Watcher
from tests.support.builders import T0, apim, parse, settings
from tests.support.fakes import RecordingPublisher, RecordingQueues, ScriptedStatus
from tests.support.strict_json import strict_loads as strict


def rejected(text: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(text)
    return caught.value


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def depth(value: Any) -> int:
    """Levels of arrays and objects (iterative: the values under test are deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def watch(message: str, *answers: StatusAnswer | dict[str, Any]) -> tuple[RecordingQueues, RecordingPublisher]:
    queues, publisher = RecordingQueues(), RecordingPublisher()
    Watcher(settings(), ScriptedStatus(*answers), queues, publisher, clock=lambda: T0).handle(message)  # type: ignore[arg-type]
    return queues, publisher


# -- requests: non-finite numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400", "-0.5e1000"])
def test_a_request_holding_a_number_too_large_for_json_is_invalid_naming_the_field(number: str) -> None:
    text = json.dumps(apim(context={"ratio": 0})).replace('"ratio": 0', f'"ratio": {number}')
    err = rejected(text)
    assert err.field == "context"
    assert number in err.reason and "context.ratio" in err.reason


def test_an_integer_no_double_holds_is_invalid_and_a_large_one_is_fine() -> None:
    """JavaScript reads a 400-digit integer as Infinity: it is 1e400 by another name."""
    assert parse(json.dumps(apim(context={"big": 10**308}))).context == {"big": 10**308}
    err = rejected(json.dumps(apim(context={"big": [10**400]})))
    assert err.field == "context" and "context.big[0]" in err.reason
    assert "1000000000" in err.reason and len(err.reason) < 300


# -- requests: depth ---------------------------------------------------------------------------------


def test_a_context_of_64_levels_is_valid_and_of_65_is_invalid_naming_context() -> None:
    template = json.dumps(apim(context={"a": "X"}))
    assert depth(parse(template.replace('"X"', nested(63))).context) == 64
    err = rejected(template.replace('"X"', nested(64)))
    assert err.field == "context" and "64 levels" in err.reason


@pytest.mark.parametrize("levels", [980, 30_000])
def test_a_context_nested_near_or_past_the_parser_limit_is_invalid_naming_context(levels: int) -> None:
    text = json.dumps(apim(context={"x": 1})).replace('{"x": 1}', nested(levels, "{}"))
    err = rejected(text)
    assert err.field == "context" and "nested deeper than 64 levels" in err.reason


# -- requests: duplicate keys -------------------------------------------------------------------------


def test_a_duplicate_top_level_key_is_invalid_naming_it() -> None:
    err = rejected('{"source":"apim","subscriptionId":"00000000-0000-0000-0000-000000000000","location":"West US",'
                   '"operationId":"op-1","operationId":"op-2"}')
    assert err.field == "operationId" and "'operationId' more than once" in err.reason


def test_a_duplicate_key_inside_context_is_invalid_naming_context() -> None:
    err = rejected(json.dumps(apim(context={"a": {"b": 1}})).replace('{"b": 1}', '{"b": 1, "b": 2}'))
    assert err.field == "context" and "'b' more than once" in err.reason and "context.a" in err.reason


# -- status bodies ------------------------------------------------------------------------------------


def test_a_status_body_holding_non_finite_numbers_reads_them_as_null() -> None:
    body = b'{"status":"InProgress","percentComplete":1e999,"properties":{"low":-1e999,"nan":NaN,"inf":Infinity,"n":7,'
    body += b'"big":' + b"9" * 400 + b',"huge":' + b"9" * 5000 + b"}}"
    queues, _ = watch(json.dumps(apim()), StatusAnswer(200, {}, body))
    ((text, _, _),) = queues.reenqueued
    assert strict(text)["poll"]["lastStatus"] == "InProgress"
    decision = decide(parse(json.dumps(apim())), StatusAnswer(200, {}, body.replace(b"InProgress", b"Succeeded")), T0,
                      settings())
    assert isinstance(decision, Publish)
    assert decision.result["operation"]["properties"] == {"low": None, "nan": None, "inf": None, "n": 7, "big": None,
                                                          "huge": None}
    assert decision.result["percentComplete"] is None
    strict(jsonio.dumps(decision.result))


@pytest.mark.parametrize("levels", [980, 100_000])
def test_a_deep_status_body_is_kept_to_64_levels_and_published(levels: int) -> None:
    body = ('{"status":"Succeeded","deep":' + nested(levels) + "}").encode()
    _, publisher = watch(json.dumps(apim()), StatusAnswer(200, {}, body))
    (result,) = publisher.results
    assert result["outcome"] == "Succeeded"
    assert depth(result["operation"]) == 64
    strict(jsonio.dumps(result))


def test_a_deep_running_body_reenqueues() -> None:
    queues, _ = watch(json.dumps(apim()), StatusAnswer(200, {}, ('{"status":"Running","d":' + nested(5_000) + "}").encode()))
    ((text, _, _),) = queues.reenqueued
    assert parse(text).poll.last_status == "Running"


def test_duplicate_keys_in_a_status_body_are_read_as_any_parser_does() -> None:
    decision = decide(parse(json.dumps(apim())), StatusAnswer(200, {}, b'{"status":"Running","status":"Succeeded"}'), T0,
                      settings())
    assert isinstance(decision, Publish | Reenqueue)


# -- the writer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), {"a": [float("nan")]}])
def test_dumps_refuses_non_finite_numbers(value: Any) -> None:
    with pytest.raises(ValueError):
        jsonio.dumps(value)


def test_a_lone_surrogate_is_escaped_alone_and_nothing_else_grows() -> None:
    text = jsonio.dumps({"a": "😀é" * 1000 + "\ud800"})
    assert text.endswith('\\ud800"}') and "😀é" in text
    assert len(text.encode("utf-8")) < 6_100
    assert json.loads(text) == {"a": "😀é" * 1000 + "\ud800"}


def test_a_request_with_a_lone_surrogate_reenqueues_at_its_own_size() -> None:
    context = {"note": "😀" * 15_000 + "\ud800"}
    request = parse(json.dumps(apim(context={"note": "😀" * 15_000 + "SUR"}), ensure_ascii=False).replace("SUR", "\\ud800"))
    text = request.message_text(request.poll.after_read(ok=True, status="Running", http_status=200))
    assert len(text.encode("utf-8")) < 61_000
    assert parse(text).context == context


@pytest.mark.parametrize("text", [
    "]" + "[" * 100_000, "[" * 100_000, '"' + "[" * 100_000, '["' + "]" * 100_000 + "[" * 100_000,
    "[" * 100_000 + '"' + "]" * 100_000, '{"s":"' + "[" * 100_000 + '"}', '{"s":"\\"' + "[" * 5_000 + '"}',
    "[" * 65 + "1" + "]" * 64 + "}",
])
def test_no_text_makes_either_reader_recurse(text: str) -> None:
    """Brackets inside strings do not count; unbalanced or unterminated text is a ValueError, never a RecursionError."""
    for read in (jsonio.loads, jsonio.loads_lenient):
        try:
            value = read(text)
        except RecursionError:  # pragma: no cover - the failure this test is for
            pytest.fail("RecursionError")
        except ValueError:
            continue
        assert depth(value) <= jsonio.MAX_DEPTH
    assert jsonio.loads('{"s":"' + "[" * 100_000 + '"}') == {"s": "[" * 100_000}
