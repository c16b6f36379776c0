"""How one status read is understood, per ``statusHeader`` (contract section 2a). Pure.

Modelled on azure-core's ``base_polling.py``, where each way of reporting an operation is a
small strategy (``OperationResourcePolling``, ``LocationPolling``) answering the same
questions: is the operation running, or finished with which outcome, body and error; did the
read fail (transient or permanent); is there a new URL to poll. :func:`interpreter_for` picks
one by the request's status header; :mod:`shared.core.decide` keeps the deadline, the
failure count and the delays.

=====================  =====================================================================
strategy               a read means
=====================  =====================================================================
status body            (Azure-AsyncOperation, Operation-Location, the seeded sources)
                       200 with a JSON object holding ``status``: terminal per
                       :data:`TERMINAL_OUTCOMES`, any other value running; 2xx without a body:
                       running; a 200 body that is not JSON or has no ``status``: transient
Location               202: running (a new ``Location`` header moves the URL); 200, 201, 204:
                       Succeeded, a JSON object body is the result's ``operation``; 401/403
                       (after the client's token refresh): PollingFailed, our token was
                       refused; any other 4xx past the rules below: Failed, with the body's
                       error; another 2xx: PollingFailed
resource               (``resourceId``, contract section 2b) ``waitFor: provisioned``: 200 with
                       ``properties.provisioningState`` Succeeded / Failed / Canceled (any case):
                       terminal; any other value or none: running. ``waitFor: deleted``: 404
                       or 204: Succeeded; 200: running, except Failed. The body is read for the
                       state (and a deployment's ``properties.error``) and then dropped: the
                       interpretation's body is the projection ``{id, name, type, provisioningState}``
all                    no response, 408, 429, 5xx, 404 in the grace period: transient; 3xx
                       (never followed): PollingFailed
=====================  =====================================================================

Why a Location 4xx is the operation's failure: the RPC says a Location URL answers, once
the operation is done, what the synchronous call would have answered, so a 400 or 409
there is the action failing (azure-core reports it as failed too). The ambiguity: a 4xx
can also be a problem with the read itself (a bad api-version). 401 and 403 are treated
as read failures because they are about the watcher's own identity, not the operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from shared.core import jsonio
from shared.core.arm_budget import BudgetHeaders, budget_headers_of
from shared.core.poll_state import WatchedRequest, WatchedResource
from shared.core.provider_errors import error_from_response_body, normalise_error
from shared.core.status_urls import shown_url

__all__ = [
    "StatusAnswer",
    "PollFailure",
    "Interpretation",
    "Interpreter",
    "interpreter_for",
    "interpreter_for_request",
    "resource_interpreter",
    "RESOURCE_TERMINAL_STATES",
    "interpret_status_body",
    "interpret_location",
    "TERMINAL_OUTCOMES",
    "NOT_FOUND_GRACE_SECONDS",
]

#: Lower-cased terminal status -> outcome. Everything else means "not finished yet".
TERMINAL_OUTCOMES: Mapping[str, str] = {
    "succeeded": "Succeeded",
    "completed": "Succeeded",
    "failed": "Failed",
    "canceled": "Canceled",
    "cancelled": "Canceled",
}
#: Lower-cased terminal provisioningState -> outcome (ARM's RPC: the three terminal states).
RESOURCE_TERMINAL_STATES: Mapping[str, str] = {"succeeded": "Succeeded", "failed": "Failed", "canceled": "Canceled"}
#: The longest provisioningState kept (a status, not a document).
MAX_STATE_CHARS = 256
#: A 404 this soon after the first sighting is replication lag, not a missing operation.
NOT_FOUND_GRACE_SECONDS = 300
#: What a Location URL answers once the operation is done (the synchronous call's answer).
LOCATION_DONE = frozenset({200, 201, 204})


@dataclass(frozen=True)
class StatusAnswer:
    """What one GET of the status URL produced. ``http_status`` is None when no response arrived."""

    http_status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    failure: str | None = None  # why no response arrived (timeout, connection reset, token error)

    @cached_property
    def budget(self) -> BudgetHeaders:
        """ARM's read-budget headers of this answer, parsed once (:func:`shared.core.arm_budget.budget_headers_of`)."""
        return budget_headers_of(self.headers)


@dataclass(frozen=True)
class PollFailure:
    """A read that says nothing about the operation; ``transient`` ones are retried."""

    code: str
    message: str
    http_status: int | None
    provider_error: dict[str, Any] | None = None
    transient: bool = True

    def as_error(self) -> dict[str, Any]:
        error = dict(self.provider_error or {})
        error.setdefault("code", self.code)
        error.setdefault("message", self.message)
        if self.http_status is not None:
            error["httpStatus"] = self.http_status
        return error


@dataclass(frozen=True)
class Interpretation:
    """One read, understood: running (``outcome`` None), terminal (``outcome`` set) or failed (``failure``)."""

    status: str | None = None  # the provider's status value, if the read carried one
    outcome: str | None = None
    body: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    failure: PollFailure | None = None
    next_url: str | None = None  # a new URL the answer names (a moved Location), not yet checked
    status_in_body: bool = True  # False when the body is an action's result (Location)


#: (read, now, first_seen_at) -> Interpretation
Interpreter = Callable[[StatusAnswer, datetime, datetime], Interpretation]


def interpret_status_body(answer: StatusAnswer, now: datetime, first_seen_at: datetime) -> Interpretation:
    """Azure-AsyncOperation / Operation-Location: a status resource with a ``status`` field."""
    code = answer.http_status
    if code is None or not 200 <= code < 300:
        return Interpretation(failure=poll_failure(answer, now, first_seen_at))
    if not answer.body.strip():
        if code == 200:
            return Interpretation(failure=PollFailure("EmptyStatusBody", "status endpoint answered 200 with an empty body", 200))
        return Interpretation()  # 202/201/204 without a body: still running
    body, problem = _json_object(answer)
    if problem is not None:
        return Interpretation(failure=PollFailure("MalformedStatusBody", f"status body ({code}) {problem}", code))
    assert body is not None
    status = body.get("status")
    if not isinstance(status, str) or not status:
        return Interpretation(failure=PollFailure("NoStatusInBody", f"status body ({code}) has no 'status'", code))
    outcome = TERMINAL_OUTCOMES.get(status.lower())
    if outcome is None:
        return Interpretation(status=status, body=body)
    error = normalise_error(body.get("error")) if outcome != "Succeeded" else None
    return Interpretation(status=status, outcome=outcome, body=body, error=error)


def interpret_location(answer: StatusAnswer, now: datetime, first_seen_at: datetime) -> Interpretation:
    """Location: 202 while running; the synchronous call's answer when done."""
    code = answer.http_status
    if code == 202:
        return Interpretation(next_url=answer.headers.get("location") or None, status_in_body=False)
    if code in LOCATION_DONE:
        body, _ = _json_object(answer) if answer.body.strip() else (None, None)
        return Interpretation(outcome="Succeeded", body=body, status_in_body=False)
    failure = poll_failure(answer, now, first_seen_at)
    if code is not None and 200 <= code < 300:
        failure = PollFailure("UnexpectedLocationStatus", f"Location URL answered {code}, not 200/201/202/204", code, transient=False)
    if failure.transient or code is None or not 400 <= code < 500 or code in (401, 403):
        return Interpretation(failure=failure)
    body, _ = _json_object(answer) if answer.body.strip() else (None, None)
    error = error_from_response_body(body, answer.headers.get("x-ms-error-code")) or {
        "code": f"Http{code}",
        "message": f"The Location URL answered {code} without an error body.",
    }
    return Interpretation(outcome="Failed", body=body, error={**error, "httpStatus": code}, status_in_body=False)


_INTERPRETERS: Mapping[str, Interpreter] = {
    "azure-asyncoperation": interpret_status_body,
    "operation-location": interpret_status_body,
    "location": interpret_location,
}


def interpreter_for(status_header: str) -> Interpreter:
    """The strategy for a request's (canonical or any-case) status header."""
    return _INTERPRETERS[status_header.lower()]


def interpreter_for_request(request: WatchedRequest) -> Interpreter:
    """A resource's strategy for a ``resourceId`` request, else the one its status header names."""
    if request.resource is not None:
        return resource_interpreter(request.resource)
    return interpreter_for(request.status_header)


def resource_interpreter(resource: WatchedResource) -> Interpreter:
    """The strategy that reads ``resource`` (contract section 2b); its interpretations carry only the projection."""

    def interpret_resource(answer: StatusAnswer, now: datetime, first_seen_at: datetime) -> Interpretation:
        code = answer.http_status
        if resource.wait_for == "deleted" and code in (404, 204):
            return Interpretation(outcome="Succeeded", body=resource.projection(None))
        if code is None or not 200 <= code < 300:
            return Interpretation(failure=poll_failure(answer, now, first_seen_at))
        if code != 200 or not answer.body.strip():
            return Interpretation(body=resource.projection(None))  # 201/202 or no body yet: still being provisioned
        body, problem = _json_object(answer)
        if problem is not None:
            return Interpretation(failure=PollFailure("MalformedResourceBody", f"resource body ({code}) {problem}", code))
        assert body is not None
        properties = body.get("properties")
        raw_state = properties.get("provisioningState") if isinstance(properties, dict) else None
        state = raw_state[:MAX_STATE_CHARS] if isinstance(raw_state, str) and raw_state else None
        outcome = RESOURCE_TERMINAL_STATES.get(state.lower()) if state is not None else None
        if resource.wait_for == "deleted" and outcome != "Failed":
            outcome = None  # still there: running whatever its state, unless it failed
        projection = resource.projection(state)
        if outcome is None:
            return Interpretation(status=state, body=projection)
        error = _resource_error(resource, properties, state) if outcome != "Succeeded" else None
        return Interpretation(status=state, outcome=outcome, body=projection, error=error)

    return interpret_resource


def _resource_error(resource: WatchedResource, properties: Any, state: str | None) -> dict[str, Any]:
    """A deployment's ``properties.error`` (normalised); for other resources, a sentence naming the state."""
    if resource.is_deployment and isinstance(properties, dict):
        error = normalise_error(properties.get("error"))
        if error is not None:
            return error
    return {
        "code": f"Provisioning{state}" if state and state.isalnum() else "ProvisioningFailed",
        "message": f"The resource's provisioningState is {state!r}.",
        "target": resource.id,
    }


def poll_failure(answer: StatusAnswer, now: datetime, first_seen_at: datetime) -> PollFailure:
    """A read that carried no usable answer (no response, or a non-2xx HTTP status)."""
    code = answer.http_status
    if code is None:
        return PollFailure("NoResponse", answer.failure or "no response from the status endpoint", None)
    try:
        body = jsonio.loads_lenient(answer.body) if answer.body.strip() else None
    except ValueError:
        body = None
    provider = error_from_response_body(body, answer.headers.get("x-ms-error-code"))
    detail = f"status endpoint answered {code}"
    if provider and provider.get("code"):
        detail += f" ({provider['code']})"
    if code in (408, 429) or code >= 500:
        return PollFailure("HttpTransient", detail, code, provider)
    if code == 404 and (now - first_seen_at).total_seconds() < NOT_FOUND_GRACE_SECONDS:
        return PollFailure("NotFoundYet", detail + " during the grace period after the first sighting", code, provider)
    if 300 <= code < 400:
        where = shown_url(answer.headers.get("location", ""))
        return PollFailure("RedirectNotFollowed", f"{detail}: redirects are never followed (Location: {where})", code, transient=False)
    return PollFailure("StatusReadRefused", detail, code, provider, transient=False)


def _json_object(answer: StatusAnswer) -> tuple[dict[str, Any] | None, str | None]:
    try:
        body = jsonio.loads_lenient(answer.body)
    except ValueError:
        return None, "is not JSON"
    if not isinstance(body, dict):
        return None, "is not a JSON object"
    return body, None
