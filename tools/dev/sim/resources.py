"""Scripted ARM resources and deployments: what ``resourceId`` requests and ``tools.start`` talk to.

A resource is scripted by its id (matched case-insensitively, as ARM does) with

* ``steps``: what each GET answers, one step per read (``"times": N`` repeats one; the last
  repeats forever)::

      {"state": "Accepted" | "Running" | "Succeeded" | "Failed" | ..., "properties": {...}, "error": {...}}
      {"state": null}                 # 200 without a provisioningState
      {"http": 404}                   # not created yet / gone (any 4xx/5xx; "error" for its body)

  every step may carry ``retryAfter`` and ``headers``. A 200 body is ARM's resource shape,
  ``{id, name, type, location, tags, properties: {provisioningState, ...}}``; a deployment's
  ``Failed`` carries ``properties.error``.
* ``answers``: how PUT / PATCH / POST / DELETE on the id answer (``tools.start``'s cases)::

      {"style": "aao", "http": 201, "operationSteps": [...]}       # Azure-AsyncOperation (+ the resource body)
      {"style": "location", "http": 202, "operationSteps": [...]}  # Location (an operationResults URL)
      {"style": "none", "http": 201, "state": "Accepted"}          # no async header: read the resource
      {"style": "none", "http": 200, "state": "Succeeded"}         # synchronous
      {"http": 409, "error": {"code": "Conflict", "message": "..."}}

  every answer may carry ``headers`` (added as they are: ARM often answers ``Azure-AsyncOperation``
  and ``Location`` together, which ``tools.start`` must choose between) and ``retryAfter``.

  ``operationSteps`` script the operation the header names (the simulator's status steps;
  defaults: Running then Succeeded, or 202 then 204 for Location). POST answers go to
  ``{id}/{action}`` too: the answer of ``POST`` is used for any action path under the id.
"""
from __future__ import annotations

import copy
from typing import Any

from shared.core.arm_paths import ArmPathError, parse_arm_path

from .script import ScriptError, validate_steps

__all__ = ["Resource", "validate_resource", "RESOURCE_METHODS", "ANSWER_STYLES"]

RESOURCE_METHODS = ("PUT", "PATCH", "POST", "DELETE")
ANSWER_STYLES = ("aao", "location", "none")
_STEP_KEYS = {"state", "http", "properties", "error", "times", "retryAfter", "headers", "tags"}
_ANSWER_KEYS = {"style", "http", "operationSteps", "state", "error", "retryAfter", "headers"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_step(step: Any, where: str) -> dict:
    if not isinstance(step, dict) or ("state" in step) == ("http" in step):
        raise ScriptError(f"{where} must be an object with exactly one of state, http")
    unknown = set(step) - _STEP_KEYS
    if unknown:
        raise ScriptError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    out = copy.deepcopy(step)
    if "state" in out and out["state"] is not None and not isinstance(out["state"], str):
        raise ScriptError(f"{where}.state must be a string or null")
    if "http" in out and (not _is_int(out["http"]) or not 200 <= out["http"] <= 599 or out["http"] == 200):
        raise ScriptError(f"{where}.http must be an HTTP status 201..599 (200 is a state step)")
    for key in ("properties", "error", "tags"):
        if key in out and not isinstance(out[key], dict):
            raise ScriptError(f"{where}.{key} must be an object")
    times = out.setdefault("times", 1)
    if not _is_int(times) or times < 1:
        raise ScriptError(f"{where}.times must be an integer >= 1")
    headers = out.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in headers.items()):
        raise ScriptError(f"{where}.headers must be an object of header name -> string")
    out["_headers"] = {k: str(v) for k, v in headers.items()}
    if "retryAfter" in out:
        out["_headers"]["Retry-After"] = str(out["retryAfter"])
    return out


def _validate_answer(method: str, answer: Any, where: str) -> dict:
    if not isinstance(answer, dict):
        raise ScriptError(f"{where} must be an object")
    unknown = set(answer) - _ANSWER_KEYS
    if unknown:
        raise ScriptError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    out = copy.deepcopy(answer)
    headers = out.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ScriptError(f"{where}.headers must be an object of header name -> string")
    code = out.get("http")
    if code is not None and (not _is_int(code) or not 200 <= code <= 599):
        raise ScriptError(f"{where}.http must be an HTTP status code")
    if code is not None and code >= 400:
        out.setdefault("style", "none")
        return out
    style = out.setdefault("style", "aao")
    if style not in ANSWER_STYLES:
        raise ScriptError(f"{where}.style must be one of {', '.join(ANSWER_STYLES)}")
    if style == "location":
        out.setdefault("http", 202)
        out["operationSteps"] = validate_steps(out.get("operationSteps", [{"http": 202}, {"http": 204}]), f"{where}.operationSteps")
    elif style == "aao":
        out.setdefault("http", 201 if method == "PUT" else 202 if method in ("POST", "DELETE") else 200)
        out["operationSteps"] = validate_steps(out.get("operationSteps", [{"status": "Running"}, {"status": "Succeeded"}]),
                                               f"{where}.operationSteps")
    else:
        out.setdefault("http", 201 if method == "PUT" else 200)
        if "operationSteps" in out:
            raise ScriptError(f"{where}.operationSteps needs style aao or location")
    return out


def validate_resource(item: Any, where: str = "resource") -> tuple[str, list[dict], dict[str, dict]]:
    """``(resourceId, steps, answers)`` checked; ``resourceId`` must parse as an ARM resource id."""
    if not isinstance(item, dict):
        raise ScriptError(f"{where} must be an object with resourceId, steps and answers")
    unknown = set(item) - {"resourceId", "steps", "answers"}
    if unknown:
        raise ScriptError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    resource_id = item.get("resourceId")
    if not isinstance(resource_id, str):
        raise ScriptError(f"{where}.resourceId must be a string")
    try:
        parse_arm_path(resource_id)
    except ArmPathError as err:
        raise ScriptError(f"{where}.resourceId is not an ARM resource id: {err}") from None
    steps_in = item.get("steps", [{"state": "Succeeded"}])
    if not isinstance(steps_in, list) or not steps_in:
        raise ScriptError(f"{where}.steps must be a non-empty list")
    steps = [_validate_step(step, f"{where}.steps[{i}]") for i, step in enumerate(steps_in)]
    answers_in = item.get("answers", {})
    if not isinstance(answers_in, dict) or not set(answers_in) <= set(RESOURCE_METHODS):
        raise ScriptError(f"{where}.answers must be an object keyed by {', '.join(RESOURCE_METHODS)}")
    answers = {method: _validate_answer(method, answer, f"{where}.answers.{method}") for method, answer in answers_in.items()}
    return resource_id, steps, answers


class Resource:
    """One scripted resource's state. Mutated only under the simulator's lock."""

    __slots__ = ("resource_id", "name", "type", "namespace", "subscription", "is_deployment", "steps", "answers",
                 "index", "used", "reads", "writes", "last_state")

    def __init__(self, resource_id: str, steps: list[dict], answers: dict[str, dict]) -> None:
        parsed = parse_arm_path(resource_id)
        self.resource_id = resource_id
        self.name = parsed.name
        self.type = parsed.type
        self.namespace = parsed.blocks[-1].namespace if parsed.blocks else "Microsoft.Resources"
        self.subscription = parsed.subscription or "00000000-0000-0000-0000-000000000000"
        self.is_deployment = parsed.is_deployment
        self.steps = steps
        self.answers = answers
        self.index = 0
        self.used = 0
        self.reads = 0
        self.writes = 0
        self.last_state: str | None = None

    def next_step(self) -> dict:
        step = self.steps[self.index]
        self.used += 1
        if self.used >= step["times"] and self.index < len(self.steps) - 1:
            self.index += 1
            self.used = 0
        if "state" in step:
            self.last_state = step["state"]
        return step

    def body(self, state: str | None, step: dict | None = None) -> dict:
        """ARM's resource shape (a deployment's Failed carries properties.error)."""
        step = step or {}
        properties: dict[str, Any] = {}
        if state is not None:
            properties["provisioningState"] = state
        if self.is_deployment:
            properties.update({"mode": "Incremental", "timestamp": "2026-12-04T21:00:00Z", "duration": "PT1M",
                               "outputs": {}, "correlationId": "00000000-0000-0000-0000-00000000c0de"})
        properties.update(step.get("properties", {}))
        if "error" in step:
            properties["error"] = step["error"]
        body: dict[str, Any] = {"id": self.resource_id, "name": self.name, "type": self.type, "properties": properties}
        if not self.is_deployment:
            body["location"] = "westus"
        if "tags" in step:
            body["tags"] = step["tags"]
        return body

    def info(self) -> dict:
        return {"resourceId": self.resource_id, "reads": self.reads, "writes": self.writes, "stepIndex": self.index,
                "stepCount": len(self.steps), "lastState": self.last_state}
