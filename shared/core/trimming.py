"""How a result is made to fit a sink (pure). The sinks themselves are :mod:`shared.edges.sinks`.

Each sink has a size limit: a Storage queue message 64 KiB
(:data:`MAX_QUEUE_MESSAGE_BYTES`), an Event Grid event 1 MB
(:data:`shared.edges.eventgrid.MAX_BATCH_BYTES`). A result that does not fit is
never dropped: :func:`fit_result` trims a copy, one step at a time, in this
order, until it fits, and lists the steps it took in an added ``trimmed`` field:

1. ``operation``      the status body copy -> ``null``
2. ``context``        the producer's context -> ``null``
3. ``error.details``  ``error`` keeps only ``code``, ``message``, ``target``, ``httpStatus``
                      (``details``, ``innererror``, ``additionalInfo`` go)
4. ``strings``        every remaining string longer than 512 characters (error
                      fields included; ``eventId`` and ``outcome`` are short) is
                      cut to 512, ending in ``…``

A result that fits is published exactly as decided, without a ``trimmed`` field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.core import jsonio
from shared.core.errors import PublishError

__all__ = [
    "MAX_QUEUE_MESSAGE_BYTES",
    "result_text",
    "encode_json",
    "fit_result",
    "TRIM_STEPS",
    "TRIMMED_STRING_CHARS",
]

#: A Storage queue message is at most 64 KiB; keep a margin for the service's XML envelope.
MAX_QUEUE_MESSAGE_BYTES = 64_000

TRIM_STEPS = ("operation", "context", "error.details", "strings")
#: Step ``strings`` cuts longer strings to this many characters (the last one an ellipsis).
TRIMMED_STRING_CHARS = 512
_KEPT_ERROR_KEYS = ("code", "message", "target", "httpStatus")
_NEVER_CUT = frozenset({"eventId", "outcome", "trimmed"})


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; a string holding a lone surrogate falls back to ``\\u`` escapes (still valid JSON)."""
    return jsonio.dumps(value).encode("utf-8")


def result_text(result: Mapping[str, Any]) -> str:
    """The result as the text of a queue message."""
    return encode_json(result).decode("utf-8")


def _drop(key: str) -> Callable[[dict[str, Any]], bool]:
    def step(result: dict[str, Any]) -> bool:
        if result.get(key) is None:
            return False
        result[key] = None
        return True

    return step


def _drop_error_details(result: dict[str, Any]) -> bool:
    error = result.get("error")
    if not isinstance(error, dict):
        return False
    kept = {key: error[key] for key in _KEPT_ERROR_KEYS if key in error}
    if len(kept) == len(error):
        return False
    result["error"] = kept
    return True


def _cut(value: str) -> str:
    return value[: TRIMMED_STRING_CHARS - 1] + "…"


def _cut_strings(result: dict[str, Any]) -> bool:
    changed = False
    for key, value in result.items():
        if key not in _NEVER_CUT and isinstance(value, str) and len(value) > TRIMMED_STRING_CHARS:
            result[key] = _cut(value)
            changed = True
    error = result.get("error")
    if isinstance(error, dict) and any(isinstance(v, str) and len(v) > TRIMMED_STRING_CHARS for v in error.values()):
        result["error"] = {k: _cut(v) if isinstance(v, str) and len(v) > TRIMMED_STRING_CHARS else v for k, v in error.items()}
        changed = True
    return changed


_STEPS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("operation", _drop("operation")),
    ("context", _drop("context")),
    ("error.details", _drop_error_details),
    ("strings", _cut_strings),
)


def fit_result(
    result: Mapping[str, Any],
    encode: Callable[[Mapping[str, Any]], bytes],
    max_bytes: int,
) -> tuple[Mapping[str, Any], bytes]:
    """``(result, encode(result))`` if that is at most ``max_bytes``; else a trimmed copy (module docstring).

    Pure: ``result`` is never modified (both sinks get the same object).
    Raises :class:`PublishError` only if even the fully trimmed copy is too big,
    which the result's shape rules out for both sinks' limits.
    """
    body = encode(result)
    if len(body) <= max_bytes:
        return result, body
    trimmed: dict[str, Any] = dict(result)
    taken: list[str] = []
    for name, step in _STEPS:
        if not step(trimmed):
            continue
        taken.append(name)
        trimmed["trimmed"] = list(taken)
        body = encode(trimmed)
        if len(body) <= max_bytes:
            return trimmed, body
    raise PublishError(
        f"result {result.get('eventId')} is {len(body)} bytes even after trimming ({', '.join(taken) or 'nothing to trim'}); "
        f"the limit is {max_bytes}"
    )
