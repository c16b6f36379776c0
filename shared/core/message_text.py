"""Queue message text -> the JSON object it holds, or :class:`InvalidRequest` saying exactly what is wrong.

A message is raw JSON or the base64 of JSON (many producers base64 by habit), in one line or
broken into lines, read strictly (:func:`shared.core.jsonio.loads`). Each way a producer gets
this wrong has its own reason, so the poison entry (or ``tools.enqueue``'s error) says what to
fix: a message too large (its size, the limit, its largest field, and that base64 adds a third),
a byte-order mark, a number JSON cannot hold (``NaN``, ``Infinity``, ``1e999``), a key twice,
nesting deeper than 64 levels, base64 that decodes to bytes that are not UTF-8, or to text that
is not JSON.

Size: a queue message is at most :data:`MAX_MESSAGE_BYTES` (Storage's 64 KiB, counted as
the UTF-8 bytes of the text: messageEncoding none, no base64). The request as the watcher
writes it back (compact JSON without ``poll``) is at most :data:`MAX_REQUEST_BYTES`; the
last KiB is for the watcher's bookkeeping (:mod:`shared.core.poll_state`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from shared.core import jsonio
from shared.core.errors import InvalidRequest

__all__ = ["MAX_MESSAGE_BYTES", "MAX_REQUEST_BYTES", "decode_message_text", "written_bytes"]

#: Storage's limit for one queue message: 64 KiB of UTF-8 text (what the service and Azurite count).
MAX_MESSAGE_BYTES = 64 * 1024
#: The request as the watcher writes it back, without ``poll``; the last KiB is for the watcher's ``poll``.
MAX_REQUEST_BYTES = 63 * 1024
_BOM = "\ufeff"
#: ASCII whitespace, which base64 writers put between lines (RFC 2045 decoders skip it).
_LINE_BREAKS = re.compile(r"[ \t\r\n]+")
#: The message object itself is one level; its ``context`` may nest :data:`jsonio.MAX_DEPTH` more.
_MESSAGE_DEPTH = jsonio.MAX_DEPTH + 1


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
    if size > MAX_MESSAGE_BYTES:
        raise _too_large(raw, size)
    value = _json(raw)
    if not isinstance(value, dict):
        raise InvalidRequest("message", f"The message must be a JSON object; got a JSON {_json_kind(value)}.")
    written = written_bytes(value)
    if written > MAX_REQUEST_BYTES:
        raise _too_large_written(value, written)
    return value


def written_bytes(body: dict[str, Any]) -> int:
    """The size of ``body`` as the watcher writes it back: compact UTF-8 JSON, without ``poll``."""
    return len(jsonio.dumps({key: value for key, value in body.items() if key != "poll"}).encode("utf-8"))


def _field(path: jsonio.Path) -> str:
    """The top-level field a path lies in, if it has a name fit for a sentence; else 'message'."""
    top = path[0] if path else None
    return top if isinstance(top, str) and top.isprintable() and 0 < len(top) <= 64 else "message"


def _quoted(text: str) -> str:
    """``text`` fit for a one-line sentence: control characters escaped, at most 100 characters."""
    shown = text if text.isprintable() else json.dumps(text)[1:-1]
    return shown if len(shown) <= 100 else shown[:97] + "..."


def _refused(error: jsonio.JsonRefused, base64_of: bool) -> InvalidRequest:
    """The reason for JSON that Python reads and a strict parser refuses, naming the field."""
    what = "The message is base64 of JSON that" if base64_of else "The message"
    where = _quoted(jsonio.path_text(error.path))
    field = _field(error.path)
    if isinstance(error, jsonio.NotJsonConstant):
        return InvalidRequest(field, f"{what} contains {_quoted(error.constant)}, which JSON does not allow (numbers must be "
                                     f"finite), in field '{where}'; write null or a string instead.")
    if isinstance(error, jsonio.DuplicateKey):
        inside = f" (in field '{where}')" if error.path else ""
        field = field if error.path else _field((error.key,))
        return InvalidRequest(field, f"{what} names the key '{_quoted(error.key)}' more than once in one object{inside}; "
                                     "JSON keys must be unique.")
    return InvalidRequest(field, f"Field '{field}' is nested deeper than {jsonio.MAX_DEPTH} levels of arrays and objects "
                                 f"(at '{where}').")


def _json(raw: str) -> Any:
    """JSON text, else base64 of JSON: each failure with a reason of its own."""
    try:
        return jsonio.loads(raw, max_depth=_MESSAGE_DEPTH)
    except jsonio.JsonRefused as error:
        raise _refused(error, base64_of=False) from None
    except ValueError as error:
        json_error = error
    if not raw.strip():  # "" and whitespace are valid (empty) base64: say what they are instead
        raise InvalidRequest("message", "The message is empty: write the request JSON (or base64 of it).")
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
        return jsonio.loads(text, max_depth=_MESSAGE_DEPTH)
    except jsonio.JsonRefused as error:
        raise _refused(error, base64_of=True) from None
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
    """A message over Storage's limit: its size, the limit, its largest field, and (for base64) that base64 adds a third."""
    note, body = "", None
    try:
        body = jsonio.loads_lenient(raw, max_depth=_MESSAGE_DEPTH)
    except ValueError:
        inner = _base64(raw)
        if inner is not None:
            note = (
                f" (it is base64, which adds a third: the JSON inside is {len(inner):,} bytes, and at most "
                f"{MAX_MESSAGE_BYTES * 3 // 4:,} bytes of JSON fit once base64-encoded; send the JSON itself)"
            )
            try:
                body = jsonio.loads_lenient(inner.decode("utf-8"), max_depth=_MESSAGE_DEPTH)
            except ValueError:
                body = None
    return _largest_field(f"The message is {size:,} bytes, larger than the limit of {MAX_REQUEST_BYTES:,} bytes{note}", body)


def _too_large_written(body: dict[str, Any], size: int) -> InvalidRequest:
    """A request that fits the queue but not once written back with the watcher's bookkeeping."""
    return _largest_field(
        f"The message is {size:,} bytes as the watcher writes it back (compact JSON without 'poll'), "
        f"larger than the limit of {MAX_REQUEST_BYTES:,} bytes", body,
    )


def _largest_field(sentence: str, body: Any) -> InvalidRequest:
    field = "message"
    if isinstance(body, dict) and body:
        sizes = {key: len(jsonio.dumps(value).encode("utf-8")) for key, value in body.items()}
        largest = max(sizes, key=lambda key: sizes[key])
        field = _field((largest,))
        sentence += f"; its largest field is '{field}' ({sizes[largest]:,} bytes)"
    return InvalidRequest(field, sentence + ".")


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
