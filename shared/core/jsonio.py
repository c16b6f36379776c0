"""JSON in and out, strictly (contract §1): the one place that reads and writes message and status text.

* :func:`loads` (requests, the tools' input) accepts only JSON every strict parser accepts:
  a number too large for a double (``1e999``, which Python would read as infinity, or an
  integer of more than 308 digits, which JavaScript reads as ``Infinity``),
  ``NaN``/``Infinity``, a key twice in one object, or nesting deeper than ``max_depth`` is a
  :class:`JsonRefused` naming where (``path``), like any other malformed text a ``ValueError``.
* :func:`loads_lenient` (status bodies, error bodies: what a provider sends) reads such
  numbers (and ``NaN``/``Infinity``) as ``null`` and keeps the text to ``max_depth`` levels:
  a deeper array or object is read as ``null``. A key twice: the last one wins, as in most parsers.
* :func:`dumps` writes compact JSON that strict parsers accept (``allow_nan=False``) and that
  encodes to UTF-8: a lone UTF-16 surrogate (legal as a ``\\ud800`` escape in JSON text,
  impossible in UTF-8) is written as that escape, and only it.

Depth is counted in arrays and objects: ``{}`` is one level, ``{"a": [1]}`` two. Neither reader
recurses past ``max_depth``: the text is scanned (outside strings) before it is parsed, so
no input, however deep, raises ``RecursionError``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import uuid
from collections.abc import Callable
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "JsonRefused",
    "NotJsonConstant",
    "DuplicateKey",
    "TooDeep",
    "loads",
    "loads_lenient",
    "dumps",
    "path_text",
]

#: How deep a request's ``context`` and a status body may nest (contract §1).
MAX_DEPTH = 64
_MAX_DOUBLE = sys.float_info.max

Path = tuple[str | int, ...]


class JsonRefused(ValueError):
    """Text that is JSON to Python's parser but not to a strict one; ``path`` says where (keys and indexes)."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.path = path


class NotJsonConstant(JsonRefused):
    """``NaN``, ``Infinity``, ``-Infinity``, or a number no double holds (``1e999``); ``constant`` is its text."""

    def __init__(self, constant: str, path: Path = ()) -> None:
        super().__init__(f"{constant} is not a finite JSON number", path)
        self.constant = constant


class DuplicateKey(JsonRefused):
    """One object names ``key`` twice (``path`` is the object's)."""

    def __init__(self, key: str, path: Path = ()) -> None:
        super().__init__(f"the key {key!r} appears more than once in one object", path)
        self.key = key


class TooDeep(JsonRefused):
    """Arrays and objects nested deeper than ``limit`` levels (``path`` is the first value past it)."""

    def __init__(self, limit: int, path: Path = ()) -> None:
        super().__init__(f"nested deeper than {limit} levels", path)
        self.limit = limit


def path_text(path: Path) -> str:
    """``context.a[3]``: a path as a field name in a sentence."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# A JSON string (possessive: linear even when unterminated) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _deepest(text: str) -> int:
    """The deepest nesting outside strings (at C speed: regexes and accumulate); an upper bound for broken text."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _deep_spans(text: str, limit: int) -> list[tuple[int, int]]:
    """Where the values opening deeper than ``limit`` start and end; ``ValueError`` for unbalanced brackets."""
    if text.count("[") + text.count("{") <= limit or _deepest(text) <= limit:
        return []
    spans: list[tuple[int, int]] = []
    level, start = 0, -1
    for token in _TOKENS.finditer(text):
        char = text[token.start()]
        if char in "[{":
            level += 1
            if level == limit + 1:
                start = token.start()
        elif char in "]}":
            level -= 1
            if level < 0:
                raise ValueError(f"unbalanced '{char}' at offset {token.start()}")
            if level == limit and start >= 0:
                spans.append((start, token.end()))
                start = -1
    if start >= 0:
        raise ValueError("unterminated array or object")
    return spans


def _cut(text: str, spans: list[tuple[int, int]], filler: str) -> str:
    pieces, at = [], 0
    for start, end in spans:
        pieces += [text[at:start], filler]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def _text(raw: str | bytes) -> str:
    return raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")


class _Refused:
    """Stands where a strict parser refuses a value; found afterwards, to name its path."""

    def __init__(self, error: Callable[[Path], JsonRefused]) -> None:
        self.error = error


class _Doubled(dict[str, Any]):
    """An object that named ``key`` twice (kept until its path is known)."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


class _StrictHooks:
    """``json.loads`` hooks that mark what a strict parser refuses instead of raising (the path is not known yet)."""

    def __init__(self) -> None:
        self.marked = False

    def constant(self, name: str) -> _Refused:
        self.marked = True
        return _Refused(lambda path: NotJsonConstant(name, path))

    def number(self, text: str) -> float | _Refused:
        number = float(text)
        if math.isfinite(number):
            return number
        return self._refused(text)

    def integer(self, text: str) -> int | _Refused:
        number = _integer(text)
        return number if number is not None else self._refused(text if len(text) <= 40 else text[:37] + "...")

    def _refused(self, text: str) -> _Refused:
        self.marked = True
        return _Refused(lambda path: NotJsonConstant(text, path))

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) == len(pairs):
            return value
        self.marked = True
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _Doubled(pairs, key)
            seen.add(key)
        raise AssertionError("unreachable: a key repeats")  # pragma: no cover


def _first_refused(value: Any, marker: str | None) -> JsonRefused | None:
    """The first refused value in document order, with its path (iterative: no recursion)."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Refused):
            return item.error(path)
        if marker is not None and item == marker:
            return TooDeep(MAX_DEPTH, path)
        if isinstance(item, _Doubled):
            return DuplicateKey(item.key, path)
        if isinstance(item, dict):
            stack.extend((path + (key,), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((path + (index,), child) for index, child in reversed(list(enumerate(item))))
    return None


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON (module docstring); :class:`JsonRefused` or another ``ValueError`` for anything else."""
    text = _text(raw)
    spans = _deep_spans(text, max_depth)
    marker = f"\x00too deep {uuid.uuid4()}" if spans else None  # stands for each cut value, to find its path
    if marker is not None:
        text = _cut(text, spans, json.dumps(marker))
    hooks = _StrictHooks()
    value = json.loads(text, parse_constant=hooks.constant, parse_float=hooks.number, parse_int=hooks.integer,
                       object_pairs_hook=hooks.object)
    if hooks.marked or marker is not None:
        error = _first_refused(value, marker)
        if error is not None:
            raise TooDeep(max_depth, error.path) if isinstance(error, TooDeep) else error
    return value


def _integer(text: str) -> int | None:
    """An integer a double holds (up to about 1.8e308); None for a larger one, which strict readers get as infinity."""
    if len(text) > 310:
        return None
    number = int(text)
    return number if abs(number) <= _MAX_DOUBLE else None


def _lenient_float(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


def loads_lenient(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """A provider's JSON (module docstring): non-finite numbers and values deeper than ``max_depth`` read as null."""
    text = _text(raw)
    spans = _deep_spans(text, max_depth)
    if spans:
        text = _cut(text, spans, "null")
    return json.loads(text, parse_constant=lambda _: None, parse_float=_lenient_float, parse_int=_integer)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any) -> str:
    """Compact JSON text that strict parsers accept and that always encodes to UTF-8.

    ``ValueError`` for a non-finite number, or for a value nested too deeply to write
    (nothing the readers above return is).
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise ValueError("the value is nested too deeply to write as JSON") from None
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub(lambda lone: f"\\u{ord(lone.group()):04x}", text)
