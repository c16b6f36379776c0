"""Each way a producer gets the message text wrong has a reason of its own, naming the field where one is to blame."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.core.errors import InvalidRequest
from shared.core.message_text import MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, decode_message_text
from tests.support.builders import apim, arm, parse


def rejected(raw: str | bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        decode_message_text(raw)
    return caught.value


def b64(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(data).decode("ascii")


def test_a_large_message_names_its_largest_field_its_size_and_the_limit() -> None:
    text = json.dumps(apim(context={"blob": "x" * 70_000}))
    error = rejected(text)
    assert error.field == "context"
    assert f"The message is {len(text):,} bytes, larger than the limit of {MAX_REQUEST_BYTES:,} bytes" in error.reason
    assert "largest field is 'context' (70,011 bytes)" in error.reason
    assert "base64" not in error.reason


def test_a_large_base64_message_says_base64_adds_a_third() -> None:
    text = json.dumps(apim(correlationId="c", context={"blob": "x" * 50_000}))
    assert len(text) < MAX_REQUEST_BYTES < len(b64(text)), "fits as JSON, not as base64"
    error = rejected(b64(text))
    assert error.field == "context"
    assert "it is base64, which adds a third" in error.reason
    assert f"the JSON inside is {len(text):,} bytes" in error.reason
    assert f"at most {MAX_MESSAGE_BYTES * 3 // 4:,} bytes of JSON fit" in error.reason


def test_a_large_message_that_is_not_json_blames_the_message() -> None:
    error = rejected("x" * (MAX_MESSAGE_BYTES + 1))
    assert error.field == "message" and "larger than the limit" in error.reason


def test_the_limit_counts_the_request_as_the_watcher_writes_it_back() -> None:
    """Whitespace and escapes do not count; numbers that Python writes longer (1e9 -> 1000000000.0) do."""
    spaced = json.dumps(apim(context={"blob": "x" * 50_000}), indent=4).replace('"blob"', " " * 14_500 + '"blob"')
    assert MAX_REQUEST_BYTES < len(spaced) <= MAX_MESSAGE_BYTES
    assert decode_message_text(spaced)["context"] == {"blob": "x" * 50_000}
    grows = json.dumps(apim(context={"n": [0] * 12_000})).replace("0", "1e9")
    assert len(grows) < MAX_REQUEST_BYTES
    error = rejected(grows)
    assert error.field == "context" and "as the watcher writes it back" in error.reason


def test_poll_is_not_counted_against_the_request() -> None:
    body = apim(context={"blob": "x" * (MAX_REQUEST_BYTES - 200)})
    assert len(json.dumps(body, separators=(",", ":"))) <= MAX_REQUEST_BYTES
    with_poll = {**body, "poll": {"firstSeenAt": "2026-11-22T12:00:00.000Z", "lastStatus": "s" * 200}}
    assert len(json.dumps(with_poll, separators=(",", ":"))) > MAX_REQUEST_BYTES
    assert decode_message_text(json.dumps(with_poll, separators=(",", ":")))["poll"]["lastStatus"] == "s" * 200


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_have_their_own_reason(constant: str) -> None:
    text = '{"source":"apim","context":{"a":' + constant + '}}'
    assert f"contains {constant}, which JSON does not allow" in rejected(text).reason
    assert f"base64 of JSON that contains {constant}" in rejected(b64(text)).reason


@pytest.mark.parametrize("bom", ["\ufeff", b"\xef\xbb\xbf"])
def test_a_byte_order_mark_has_its_own_reason(bom: str | bytes) -> None:
    text = json.dumps(apim())
    raw: str | bytes = bom + text if isinstance(bom, str) else bom + text.encode()
    assert "byte-order mark" in rejected(raw).reason
    assert "byte-order mark" in rejected(b64("\ufeff" + text)).reason


def test_base64_of_bytes_that_are_not_utf8_has_its_own_reason() -> None:
    reason = rejected(b64(b'{"source":"apim","correlationId":"caf\xe9"}')).reason
    assert "base64, but the bytes it encodes are not UTF-8 text (byte 0xe9 at offset 37)" in reason


def test_base64_of_text_that_is_not_json_has_its_own_reason() -> None:
    assert "base64, but what it encodes is not JSON" in rejected(b64("hello")).reason


def test_broken_json_says_where_and_other_text_says_neither() -> None:
    assert "not valid JSON (Expecting" in rejected('{"source": "apim",').reason
    assert rejected("hello there").reason == "The message is neither JSON nor base64-encoded JSON."
    assert "must be a JSON object; got a JSON array" in rejected("[1]").reason
    assert "not UTF-8 text (byte 0xff at offset 1)" in rejected(b"{\xff}").reason


@pytest.mark.parametrize(
    "line",
    ["Azure-AsyncOperation: {url}", "< Location: {url}", "'Operation-Location': '{url}'", "azure-asyncoperation:{url}"],
)
def test_a_status_url_holding_a_pasted_header_line_says_so(line: str) -> None:
    url = arm()["statusUrl"]
    with pytest.raises(InvalidRequest) as caught:
        parse(arm(statusUrl=line.format(url=url)))
    assert caught.value.field == "statusUrl"
    assert "looks like a pasted header line" in caught.value.reason
    assert "put only the URL in statusUrl and the header name in statusHeader" in caught.value.reason


def test_the_decoded_object_is_returned_unchanged() -> None:
    body: dict[str, Any] = apim(context={"n": [1, 2]})
    assert decode_message_text(json.dumps(body)) == body
    assert decode_message_text(b64(json.dumps(body))) == body


def mime(text: str, width: int = 76, newline: str = "\r\n") -> str:
    """base64 broken into lines the way MIME (RFC 2045), PowerShell's InsertLineBreaks or openssl write it."""
    flat = b64(text)
    return newline.join(flat[i:i + width] for i in range(0, len(flat), width)) + newline


@pytest.mark.parametrize(
    "wrap",
    [lambda t: mime(t), lambda t: mime(t, newline="\n"), lambda t: mime(t, width=64, newline="\n"),
     lambda t: base64.encodebytes(t.encode()).decode("ascii"), lambda t: mime(t).rstrip("\r\n"), lambda t: "  " + mime(t) + "\t"],
)
def test_line_broken_base64_of_a_valid_request_is_accepted(wrap: Any) -> None:
    body = arm(correlationId="release-42", context={"stage": "prod", "notes": "x" * 300})
    text = wrap(json.dumps(body))
    assert "\n" in text.strip() or len(text.strip()) <= 76
    assert decode_message_text(text) == body
    assert parse(text).poll_url == parse(body).poll_url


def test_line_broken_base64_of_text_that_is_not_json_still_says_so() -> None:
    assert "base64, but what it encodes is not JSON" in rejected(mime("hello " * 30)).reason


@pytest.mark.parametrize("text", ["", " ", "\r\n", "\t \n"])
def test_an_empty_or_blank_message_is_called_empty_not_base64(text: str) -> None:
    assert rejected(text).reason == "The message is empty: write the request JSON (or base64 of it)."
