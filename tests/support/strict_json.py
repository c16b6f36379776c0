"""A strict JSON parser for tests: what Node's JSON.parse and Event Grid accept of the watcher's output.

Python's json reads ``NaN``/``Infinity`` (refused here) and reads ``1e999`` as infinity, which
a JavaScript reader gets as ``Infinity`` too (refused here: every number must be finite).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["strict_loads"]


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} written: strict parsers refuse it")


def strict_loads(text: str | bytes) -> Any:
    value = json.loads(text, parse_constant=_refuse)
    stack = [value]
    while stack:  # iterative: the values may be deep
        item = stack.pop()
        if isinstance(item, float):
            assert math.isfinite(item), "a number no double holds was written"
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value
