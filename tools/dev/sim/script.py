"""Operation scripts: step validation, per-operation state, seeded fault choice."""
from __future__ import annotations

import copy
import hashlib
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

STEP_KINDS = ("status", "http", "fault", "redirect", "runFor")
#: How an operation answers: a status resource (Azure-AsyncOperation / Operation-Location) or Location's HTTP codes.
STYLES = ("status", "location")
SCRIPT_FAULTS = ("reset", "slow", "malformed", "nostatus")
INJECTABLE_FAULTS = ("429", "500", "503", "slow", "reset", "malformed", "nostatus", "404early")
TERMINAL_STATUSES = frozenset({"succeeded", "completed", "failed", "canceled", "cancelled"})

#: "raw", "echo" and "drip" are the hostile lane's (tools/dev/sim/hostile.py).
_COMMON_KEYS = {"times", "headers", "retryAfter", "retryAfterMs", "raw", "echo", "drip"}
_KIND_KEYS = {
    "status": {"status", "percentComplete", "error", "properties", "resourceId", "startTime", "endTime", "extra"},
    "http": {"http", "error", "body"},
    "fault": {"fault", "seconds"},
    "redirect": {"redirect"},
    # runFor: answer 200 InProgress (with startTime, and a linear percentComplete when "progress" is
    # true) until runFor seconds after the operation was scripted (minus "startedAgo"), then the next step.
    "runFor": {"runFor", "progress", "startedAgo", "status"},
}


class ScriptError(ValueError):
    """A script or fault configuration that does not make sense (the message says why)."""


def is_terminal(status: Any) -> bool:
    return isinstance(status, str) and status.lower() in TERMINAL_STATUSES


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_steps(steps: Any, where: str = "steps") -> list[dict]:
    """Checked, normalised copies of ``steps`` (times filled in, header values as strings)."""
    if not isinstance(steps, list) or not steps:
        raise ScriptError(f"{where} must be a non-empty list of step objects")
    return [_validate_step(step, f"{where}[{i}]") for i, step in enumerate(steps)]


def _validate_step(step: Any, where: str) -> dict:
    if not isinstance(step, dict):
        raise ScriptError(f"{where} must be an object")
    kinds = [k for k in STEP_KINDS if k in step]
    if len(kinds) != 1:
        raise ScriptError(f"{where} must have exactly one of {', '.join(STEP_KINDS)}")
    kind = kinds[0]
    unknown = set(step) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise ScriptError(f"{where} has unknown field(s) for a {kind} step: {', '.join(sorted(unknown))}")
    out = {k: (copy.deepcopy(v) if isinstance(v, (dict, list)) else v) for k, v in step.items()}
    out["kind"] = kind
    times = out.get("times", 1)
    if not _is_int(times) or times < 1:
        raise ScriptError(f"{where}.times must be an integer >= 1")
    out["times"] = times
    headers: dict[str, str] = {}
    if "retryAfter" in out:
        if not isinstance(out["retryAfter"], (str, int)) or isinstance(out["retryAfter"], bool):
            raise ScriptError(f"{where}.retryAfter must be a string (seconds or HTTP-date) or an integer")
        headers["Retry-After"] = str(out["retryAfter"])
    if "retryAfterMs" in out:
        if not _is_number(out["retryAfterMs"]):
            raise ScriptError(f"{where}.retryAfterMs must be a number")
        value = out["retryAfterMs"]
        headers["retry-after-ms"] = str(int(value)) if float(value).is_integer() else str(value)
    extra_headers = out.get("headers", {})
    if not isinstance(extra_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int)) and not isinstance(v, bool) for k, v in extra_headers.items()
    ):
        raise ScriptError(f"{where}.headers must be an object of header name -> string")
    headers.update({k: str(v) for k, v in extra_headers.items()})
    out["_headers"] = headers
    _validate_hostile(out, where)

    if kind == "status":
        if not isinstance(out["status"], str):
            raise ScriptError(f"{where}.status must be a string")
        if "percentComplete" in out and not _is_number(out["percentComplete"]):
            raise ScriptError(f"{where}.percentComplete must be a number")
        for key in ("error", "properties", "extra"):
            if key in out and not isinstance(out[key], dict):
                raise ScriptError(f"{where}.{key} must be an object")
        for key in ("resourceId", "startTime", "endTime"):
            if key in out and not isinstance(out[key], str):
                raise ScriptError(f"{where}.{key} must be a string")
    elif kind == "http":
        code = out["http"]
        if not _is_int(code) or not 200 <= code <= 599 or (code == 200 and "body" not in out):
            raise ScriptError(f"{where}.http must be an HTTP status code 201..599, or 200 with a body (else use a status step)")
        if "error" in out and not isinstance(out["error"], dict):
            raise ScriptError(f"{where}.error must be an object")
    elif kind == "fault":
        if out["fault"] not in SCRIPT_FAULTS:
            raise ScriptError(f"{where}.fault must be one of {', '.join(SCRIPT_FAULTS)}")
        if "seconds" in out and (out["fault"] != "slow" or not _is_number(out["seconds"]) or out["seconds"] < 0):
            raise ScriptError(f"{where}.seconds is only for a slow fault and must be a number >= 0")
    elif kind == "runFor":
        if not _is_number(out["runFor"]) or out["runFor"] <= 0:
            raise ScriptError(f"{where}.runFor must be a number of seconds > 0")
        if not isinstance(out.get("progress", False), bool):
            raise ScriptError(f"{where}.progress must be true or false")
        if not _is_number(out.get("startedAgo", 0)) or out.get("startedAgo", 0) < 0:
            raise ScriptError(f"{where}.startedAgo must be a number of seconds >= 0")
        if not isinstance(out.setdefault("status", "InProgress"), str):
            raise ScriptError(f"{where}.status must be a string")
    elif kind == "redirect" and (not isinstance(out["redirect"], str) or not out["redirect"]):
        raise ScriptError(f"{where}.redirect must be a non-empty URL string")
    return out


def _validate_hostile(out: dict, where: str) -> None:
    raw = out.get("raw", {})
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items()):
        raise ScriptError(f"{where}.raw must be an object of field name -> JSON text")
    if not isinstance(out.get("echo", False), bool):
        raise ScriptError(f"{where}.echo must be true or false")
    if "drip" in out and (not _is_number(out["drip"]) or out["drip"] <= 0):
        raise ScriptError(f"{where}.drip must be a number of seconds > 0")


def validate_operation(item: Any, where: str = "operation") -> tuple[str, list[dict], str, bool]:
    """``(operationId, steps, style, faults)``; ``style`` "location" makes injected faults Location-shaped (a 202);
    ``faults`` false keeps injected faults off this operation (its script is all it answers)."""
    if not isinstance(item, dict):
        raise ScriptError(f"{where} must be an object with operationId and steps")
    unknown = set(item) - {"operationId", "steps", "style", "faults"}
    if unknown:
        raise ScriptError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    op_id = item.get("operationId")
    if not isinstance(op_id, str) or not op_id:
        raise ScriptError(f"{where}.operationId must be a non-empty string")
    style = item.get("style", "status")
    if style not in STYLES:
        raise ScriptError(f"{where}.style must be one of {', '.join(STYLES)}")
    faults = item.get("faults", True)
    if not isinstance(faults, bool):
        raise ScriptError(f"{where}.faults must be true or false")
    return op_id, validate_steps(item.get("steps"), f"{where}.steps"), style, faults


def validate_faults(rate: Any, kinds: Any, seed: Any) -> tuple[float, tuple[str, ...], int]:
    if not _is_number(rate) or not 0.0 <= rate <= 1.0:
        raise ScriptError("rate must be a number between 0 and 1")
    if not isinstance(kinds, (list, tuple)) or not all(isinstance(k, str) for k in kinds):
        raise ScriptError("kinds must be a list of strings")
    bad = [k for k in kinds if k not in INJECTABLE_FAULTS]
    if bad:
        raise ScriptError(f"unknown fault kind(s) {bad}; known: {', '.join(INJECTABLE_FAULTS)}")
    if not _is_int(seed):
        raise ScriptError("seed must be an integer")
    return float(rate), tuple(kinds), seed


def pick_fault(rate: float, kinds: tuple[str, ...], seed: int, op_key: str, read_no: int) -> str | None:
    """Deterministic per (seed, operation, read number): independent of thread interleaving."""
    if rate <= 0.0 or not kinds:
        return None
    digest = hashlib.sha256(f"{seed}|{op_key}|{read_no}".encode()).digest()
    if int.from_bytes(digest[:8], "big") / 2.0**64 >= rate:
        return None
    eligible = [k for k in kinds if k != "404early" or read_no <= 2]
    if not eligible:
        return None
    return eligible[int.from_bytes(digest[8:16], "big") % len(eligible)]


def _running(step: dict, elapsed: float) -> dict:
    """The status step a runFor step answers with ``elapsed`` seconds into its run."""
    started = datetime.now(UTC) - timedelta(seconds=elapsed)
    out = {"kind": "status", "status": step["status"], "_headers": step["_headers"],
           "startTime": started.strftime("%Y-%m-%dT%H:%M:%S.") + f"{started.microsecond // 1000:03d}Z"}
    if step.get("progress"):
        out["percentComplete"] = min(99, math.floor(100 * elapsed / step["runFor"]))
    return out


class Operation:
    """One scripted operation's progress. Mutated only under the simulator's lock."""

    __slots__ = ("operation_id", "steps", "style", "faults", "index", "used", "polls", "steps_served",
                 "faults_injected", "start_time", "end_time", "last_status", "scripted_at")

    def __init__(self, operation_id: str, steps: list[dict], polls: int = 0, style: str = "status", faults: bool = True) -> None:
        self.operation_id = operation_id
        self.steps = steps
        self.style = style
        self.faults = faults
        self.index = 0
        self.used = 0
        self.polls = polls
        self.steps_served = 0
        self.faults_injected = 0
        self.start_time: str | None = None
        self.end_time: str | None = None
        self.last_status: str | None = None
        self.scripted_at = time.monotonic()

    def next_step(self) -> dict:
        step = self.steps[self.index]
        if step["kind"] == "runFor":
            elapsed = time.monotonic() - self.scripted_at + step.get("startedAgo", 0)
            if elapsed < step["runFor"] or self.index == len(self.steps) - 1:
                self.steps_served += 1
                return _running(step, elapsed)
            self.index += 1
            self.used = 0
            step = self.steps[self.index]
        self.used += 1
        self.steps_served += 1
        if self.used >= step["times"] and self.index < len(self.steps) - 1:
            self.index += 1
            self.used = 0
        return step

    def info(self) -> dict:
        return {
            "operationId": self.operation_id,
            "scripted": True,
            "style": self.style,
            "polls": self.polls,
            "stepsServed": self.steps_served,
            "stepIndex": self.index,
            "stepCount": len(self.steps),
            "faultsInjected": self.faults_injected,
            "lastStatus": self.last_status,
            "startTime": self.start_time,
            "endTime": self.end_time,
        }
