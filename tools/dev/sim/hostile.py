"""Hostile answers for the soak's hostile lane (issue 18): raw JSON, echoed secrets, dripped bodies.

A status step may carry, besides its kind's keys:

* ``"raw": {field: "<JSON text>"}``: each field is put into the answer's JSON object exactly as
  written (replacing a field of that name), so a step can serve what ``json.dumps`` cannot
  write: ``1e999``, ``-1e999``, ``NaN``, or an array nested 100,000 levels deep;
* ``"echo": true``: placeholders in the answer's body are replaced by the request's own
  credentials, as a provider that quotes the request back in its error would:
  ``{{authorization}}`` (the ``Authorization`` header as sent), ``{{authorization.url}}``
  (URL-encoded), ``{{token}}`` (the bearer token), ``{{token.prefix}}`` (its first 24
  characters);
* ``"drip": seconds``: the headers at once, then the body trickled in small chunks over that
  many seconds (each chunk far inside any per-chunk timeout; the whole far past a whole-read one).

The Event Grid fake can echo its key the same way (:class:`EventGridEcho`) and refuses a batch that
is not strict JSON (``NaN``, ``Infinity``, a number too large for a double), as Event Grid does.
"""
from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .httpd import Resp, json_response

__all__ = ["hostile_answer", "splice_raw", "echo_credentials", "strict_loads", "EventGridEcho", "echo_forms"]

_PREFIX_CHARS = 24


def hostile_answer(resp: Resp, step: dict[str, Any], headers: Any) -> Resp:
    """``resp`` as ``step``'s hostile keys make it: raw fields spliced in, credentials echoed, a drip."""
    if step.get("raw") and resp.body.startswith(b"{"):
        resp.body = splice_raw(resp.body, step["raw"])
    if step.get("echo"):
        resp.body = echo_credentials(resp.body, headers.get("Authorization"))
    if step.get("drip"):
        resp.drip = float(step["drip"])
    return resp


def splice_raw(body: bytes, raw: dict[str, str]) -> bytes:
    """``body`` (a JSON object's text) with each ``raw`` field set to its JSON text as written."""
    obj = json.loads(body)
    for name in raw:
        obj.pop(name, None)
    head = json.dumps(obj, separators=(",", ":"))[:-1]
    fields = ",".join(f"{json.dumps(name)}:{text}" for name, text in raw.items())
    return f"{head}{',' if len(head) > 1 else ''}{fields}}}".encode()


def echo_forms(secret: str, *, header: str | None = None) -> dict[str, str]:
    """The placeholder -> value table for one secret (and the header value it travelled in)."""
    header = header if header is not None else secret
    return {"{{authorization}}": header, "{{authorization.url}}": quote(header, safe=""),
            "{{token}}": secret, "{{token.url}}": quote(secret, safe=""), "{{token.prefix}}": secret[:_PREFIX_CHARS]}


def echo_credentials(body: bytes, authorization: str | None) -> bytes:
    """``body`` with the echo placeholders replaced by the request's ``Authorization`` header and token."""
    if not authorization:
        return body
    _, _, token = authorization.strip().partition(" ")
    text = body.decode("utf-8")
    for placeholder, value in echo_forms(token.strip() or authorization, header=authorization).items():
        text = text.replace(placeholder, json.dumps(value)[1:-1])
    return text.encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def strict_loads(text: str | bytes) -> Any:
    """JSON as a strict parser reads it: no ``NaN`` / ``Infinity``, no number beyond a double; else ValueError."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class EventGridEcho:
    """The correlationIds whose first Event Grid POST is refused with a body that quotes the credential."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def add(self, correlation_ids: Iterable[str]) -> int:
        ids = list(correlation_ids)
        if not all(isinstance(i, str) for i in ids):
            raise ValueError("correlationIds must be strings")
        with self._lock:
            self._pending.update(ids)
        return len(ids)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, batch: list[dict[str, Any]]) -> bool:
        """True (once per correlationId) when ``batch`` holds an event of a pending correlationId."""
        with self._lock:
            for event in batch:
                data = event.get("data")
                cid = data.get("correlationId") if isinstance(data, dict) else None
                if isinstance(cid, str) and cid in self._pending:
                    self._pending.discard(cid)
                    return True
        return False

    @staticmethod
    def refusal(headers: Any) -> Resp:
        """A 500 whose message quotes the request's credential raw, URL-encoded and as a prefix, as a careless service might."""
        name = "aeg-sas-key" if headers.get("aeg-sas-key") else "Authorization"
        forms = echo_forms(headers.get(name) or "")
        message = (f"The request was refused. {name}: {forms['{{token}}']} (received as "
                   f"{forms['{{token.url}}']}; key starting {forms['{{token.prefix}}']}).")
        return json_response(500, {"error": {"code": "InternalServerError", "message": message}})
