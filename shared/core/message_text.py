"""Queue message text -> the JSON object it holds, or :class:`InvalidRequest` saying exactly what is wrong.

A message is raw JSON or the base64 of JSON (many producers base64 by habit), in one line or
broken into lines. Each way a
producer gets this wrong has its own reason, so the poison entry (or ``tools.enqueue``'s
error) says what to fix: a message too large (its size, the limit, its largest field,
and that base64 adds a third), a byte-order mark, ``NaN``/``Infinity``, base64 that
decodes to bytes that are not UTF-8, or to text that is not JSON.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from shared.core import jsonio
from shared.core.errors import InvalidRequest

__all__ = ["MAX_REQUEST_BYTES", "decode_message_text"]

#: Storage queue messages are at most 64 KiB; 1 KiB is kept for the watcher's ``poll`` bookkeeping.
MAX_REQUEST_BYTES = 63 * 1024
_BOM = "\ufeff"
#: ASCII whitespace, which base64 writers put between lines (RFC 2045 decoders skip it).
_LINE_BREAKS = re.compile(r"[ \t\r\n]+")


def decode_message_text(raw: str | bytes) -> dict[str, Any]:
    """The JSON object in a queue message (raw or base64); InvalidRequest otherwise."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidRequest("message", f"The message is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}).") from None
    if raw.startswith(_BOM):
        raise InvalidRequest(
            "message",
            "The message starts with a UTF-8 byte-order mark (BOM, U+FEFF); write the JSON without one.",
        )
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        raise _too_large(raw, size)
    value = _json(raw)
    if not isinstance(value, dict):
        raise InvalidRequest("message", f"The message must be a JSON object; got a JSON {_json_kind(value)}.")
    return value


def _json(raw: str) -> Any:
    """JSON text, else base64 of JSON: each failure with a reason of its own."""
    try:
        return jsonio.loads(raw)
    except jsonio.NotJsonConstant as error:
        raise InvalidRequest("message", f"The message contains {error.constant}, which JSON does not allow; write null or a string instead.") from None
    except ValueError as error:
        json_error = error
    inner = _base64(raw)
    if inner is None:
        looks_json = raw.lstrip()[:1] in ("{", "[", '"')
        if looks_json:
            raise InvalidRequest("message", f"The message is not valid JSON ({json_error}).")
        raise InvalidRequest("message", "The message is neither JSON nor base64-encoded JSON.")
    try:
        text = inner.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            "message",
            f"The message is base64, but the bytes it encodes are not UTF-8 text (byte 0x{inner[error.start]:02x} at offset {error.start}); "
            "encode the JSON as UTF-8 before base64.",
        ) from None
    if text.startswith(_BOM):
        raise InvalidRequest("message", "The message is base64 of text that starts with a byte-order mark (BOM); encode the JSON without one.")
    try:
        return jsonio.loads(text)
    except jsonio.NotJsonConstant as error:
        raise InvalidRequest("message", f"The message is base64 of JSON that contains {error.constant}, which JSON does not allow; write null or a string instead.") from None
    except ValueError as error:
        raise InvalidRequest("message", f"The message is base64, but what it encodes is not JSON ({error}).") from None


def _base64(raw: str) -> bytes | None:
    """The bytes ``raw`` encodes as standard base64, lines broken or not (MIME's 76-character CRLF lines,
    PowerShell's ``InsertLineBreaks``, openssl's 64); None when it is not base64."""
    try:
        return base64.b64decode(_LINE_BREAKS.sub("", raw), validate=True)
    except (binascii.Error, ValueError):
        return None


def _too_large(raw: str, size: int) -> InvalidRequest:
    """Which field is large, the actual size, the limit, and (for base64) that base64 adds a third."""
    parts = [f"The message is {size:,} bytes, larger than the limit of {MAX_REQUEST_BYTES:,} bytes"]
    body: Any = None
    try:
        body = jsonio.loads(raw)
    except ValueError:
        inner = _base64(raw)
        if inner is not None:
            parts.append(
                f" (it is base64, which adds a third: the JSON inside is {len(inner):,} bytes, and at most "
                f"{MAX_REQUEST_BYTES * 3 // 4:,} bytes of JSON fit once base64-encoded; send the JSON itself)"
            )
            try:
                body = jsonio.loads(inner.decode("utf-8"))
            except ValueError:
                body = None
    field = "message"
    if isinstance(body, dict) and body:
        sizes = {key: len(jsonio.dumps(value).encode("utf-8")) for key, value in body.items()}
        largest = max(sizes, key=lambda key: sizes[key])
        field = largest if largest.isprintable() and len(largest) <= 64 else "message"
        parts.append(f"; its largest field is '{field}' ({sizes[largest]:,} bytes)")
    return InvalidRequest(field, "".join(parts) + ".")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
