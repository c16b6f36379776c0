"""JSON in and out, strictly: the one place that reads and writes message and status text.

* :func:`loads` accepts only RFC 8259 JSON: ``NaN``/``Infinity`` (which Python's json
  reads by default) and nesting too deep for the parser are a ``ValueError``, like any
  other malformed text — never a crash, never a value that cannot be written back.
* :func:`dumps` writes compact UTF-8-ready JSON; a string holding a lone UTF-16
  surrogate (legal as a ``\\ud800`` escape in JSON text, impossible in UTF-8) falls
  back to ``\\u`` escapes, so anything :func:`loads` read can be written again.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads", "dumps", "NotJsonConstant"]


class NotJsonConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON does not have them."""

    def __init__(self, constant: str) -> None:
        super().__init__(f"{constant} is not JSON")
        self.constant = constant


def _no_constants(name: str) -> Any:
    raise NotJsonConstant(name)


def loads(text: str | bytes) -> Any:
    """Parse JSON text; ``ValueError`` for anything that is not plain JSON."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def dumps(value: Any) -> str:
    """Compact JSON text that always encodes to UTF-8."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text
