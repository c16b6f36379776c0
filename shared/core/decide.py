"""The decision core: one status read in, one decision out. Pure: no IO, no clock.

``decide(request, read, now, settings)`` returns either

* :class:`Reenqueue` — send the request again, visible after ``delay_seconds``,
  carrying the updated poll bookkeeping; or
* :class:`Publish` — the operation has an outcome; publish ``result``.

How a read is classified (contract §2):

=========================================  =====================================
read                                       meaning
=========================================  =====================================
2xx with a JSON object holding ``status``  terminal -> outcome; else running
2xx with an empty body (202 Accepted)      running
2xx with a body that is not JSON / has no  transient failure
``status``
no response (connect error, timeout),      transient failure
408, 429, 5xx
404 within NOT_FOUND_GRACE_SECONDS of the  transient failure (ARM replication lag)
first sighting
3xx (never followed), 400, 401/403 (after  permanent failure -> PollingFailed
the client's one token refresh), 404 past
the grace, any other 4xx
=========================================  =====================================

Delays: :mod:`shared.core.schedule` (a predicted end from ``percentComplete`` or
``expectedSeconds``, the provider's hint as a floor, ×2 per consecutive failure,
ARM's read budget), clamped to [POLL_MIN_DELAY_SECONDS, POLL_MAX_DELAY_SECONDS]
and never past the deadline, so the last read happens at the deadline. A read
at or after the deadline that is not terminal gives ``TimedOut``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.core import jsonio, schedule
from shared.core.poll_state import PollState, WatchedRequest, rfc3339
from shared.core.progress import ProgressUpdate, progress_data
from shared.core.provider_errors import error_from_response_body, normalise_error
from shared.core.result import build_result
from shared.core.settings import Settings

__all__ = ["StatusRead", "Reenqueue", "Publish", "decide", "TERMINAL_OUTCOMES", "NOT_FOUND_GRACE_SECONDS"]

#: Lower-cased terminal status -> outcome. Everything else means "not finished yet".
TERMINAL_OUTCOMES: Mapping[str, str] = {
    "succeeded": "Succeeded",
    "completed": "Succeeded",
    "failed": "Failed",
    "canceled": "Canceled",
    "cancelled": "Canceled",
}
#: A 404 this soon after the first sighting is replication lag, not a missing operation.
NOT_FOUND_GRACE_SECONDS = 300


@dataclass(frozen=True)
class StatusRead:
    """What one GET of the status URL produced. ``http_status`` is None when no response arrived."""

    http_status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    failure: str | None = None  # why no response arrived (timeout, connection reset, token error)


@dataclass(frozen=True)
class Reenqueue:
    """Poll again after ``delay_seconds`` (whole seconds: a Storage visibility timeout)."""

    delay_seconds: int
    poll: PollState
    status: str | None  # the provider's status, for the log line
    why: str  # "running" or the transient failure, for the log line
    progress: ProgressUpdate | None = None  # this read changed status or percentComplete (PUBLISH_PROGRESS)


@dataclass(frozen=True)
class Publish:
    """The operation has an outcome."""

    result: dict[str, Any]

    @property
    def outcome(self) -> str:
        return self.result["outcome"]


@dataclass(frozen=True)
class _Failure:
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


def decide(request: WatchedRequest, read: StatusRead, now: datetime, settings: Settings) -> Reenqueue | Publish:
    """The whole protocol for one read; see the module docstring."""
    poll = request.poll
    past_deadline = now >= request.deadline
    if read.http_status is not None and 200 <= read.http_status < 300:
        body, problem = _status_body(read)
        if problem is None:
            status = body.get("status") if body is not None else None
            progress = schedule.progress_of(body)
            new_poll = poll.after_read(ok=True, status=status, http_status=read.http_status, percent_complete=progress.percent)
            outcome = TERMINAL_OUTCOMES.get(status.lower()) if status is not None else None
            if outcome is not None:
                error = normalise_error(body.get("error")) if outcome != "Succeeded" and body is not None else None
                return Publish(build_result(request, outcome, new_poll, now, body=body, error=error))
            if past_deadline:
                return _timed_out(request, new_poll, now, body, read.http_status, status)
            plan = schedule.running_delay(
                body=body, headers=read.headers, now=now, first_seen_at=poll.first_seen_at,
                expected_seconds=request.expected_seconds, bounds=_bounds(request, settings),
                key=request.status_url, polls=new_poll.polls,
            )
            update = progress_data(request, poll, new_poll, body, progress, now, plan.expected_end)
            return Reenqueue(plan.delay_seconds, new_poll, status, "running", update)
        failure = problem
    else:
        failure = _classify_failure(read, now, poll)
    new_poll = poll.after_read(ok=False, status=None, http_status=read.http_status)
    if not failure.transient:
        return Publish(build_result(request, "PollingFailed", new_poll, now, body=None, error=failure.as_error()))
    if past_deadline:
        return _timed_out(request, new_poll, now, None, read.http_status, new_poll.last_status, failure)
    if new_poll.failures >= settings.poll_max_failures:
        error = failure.as_error()
        error["code"] = "TooManyFailures"
        error["message"] = f"{new_poll.failures} consecutive status reads failed; the last: {failure.message}"
        return Publish(build_result(request, "PollingFailed", new_poll, now, body=None, error=error))
    delay = schedule.failure_delay(
        headers=read.headers, now=now, failures=new_poll.failures, bounds=_bounds(request, settings),
        key=request.status_url, polls=new_poll.polls,
    )
    return Reenqueue(delay, new_poll, new_poll.last_status, failure.message)


def _status_body(read: StatusRead) -> tuple[dict[str, Any] | None, _Failure | None]:
    if not read.body.strip():
        if read.http_status == 200:
            return None, _Failure("EmptyStatusBody", "status endpoint answered 200 with an empty body", 200)
        return None, None  # 202/201/204 without a body: still running
    try:
        body = jsonio.loads(read.body)
    except ValueError:
        return None, _Failure("MalformedStatusBody", f"status body ({read.http_status}) is not JSON", read.http_status)
    if not isinstance(body, dict):
        return None, _Failure("MalformedStatusBody", f"status body ({read.http_status}) is not a JSON object", read.http_status)
    status = body.get("status")
    if not isinstance(status, str) or not status:
        return None, _Failure("NoStatusInBody", f"status body ({read.http_status}) has no 'status'", read.http_status)
    return body, None


def _classify_failure(read: StatusRead, now: datetime, poll: PollState) -> _Failure:
    code = read.http_status
    if code is None:
        return _Failure("NoResponse", read.failure or "no response from the status endpoint", None)
    try:
        body = jsonio.loads(read.body) if read.body.strip() else None
    except ValueError:
        body = None
    provider = error_from_response_body(body, read.headers.get("x-ms-error-code"))
    detail = f"status endpoint answered {code}"
    if provider and provider.get("code"):
        detail += f" ({provider['code']})"
    if code in (408, 429) or code >= 500:
        return _Failure("HttpTransient", detail, code, provider)
    if code == 404 and (now - poll.first_seen_at).total_seconds() < NOT_FOUND_GRACE_SECONDS:
        return _Failure("NotFoundYet", detail + " during the grace period after the first sighting", code, provider)
    if 300 <= code < 400:
        where = read.headers.get("location", "")
        return _Failure("RedirectNotFollowed", f"{detail}: redirects are never followed (Location: {where[:200]})", code, transient=False)
    return _Failure("StatusReadRefused", detail, code, provider, transient=False)


def _bounds(request: WatchedRequest, settings: Settings) -> schedule.Bounds:
    return schedule.Bounds(
        settings.poll_min_delay_seconds, settings.poll_max_delay_seconds, request.deadline, settings.arm_reads_reserve
    )


def _timed_out(
    request: WatchedRequest,
    poll: PollState,
    now: datetime,
    body: dict[str, Any] | None,
    http_status: int | None,
    status: str | None,
    failure: _Failure | None = None,
) -> Publish:
    error: dict[str, Any] = {
        "code": "DeadlineExceeded",
        "message": (
            f"The operation was not finished (last status {status!r}) when the deadline "
            f"{rfc3339(request.deadline)} ({request.timeout_seconds} s after the first sighting) passed."
            + (f" The last read failed: {failure.message}." if failure is not None else "")
        ),
    }
    if http_status is not None and failure is not None:
        error["httpStatus"] = http_status
    return Publish(build_result(request, "TimedOut", poll, now, body=body, error=error))
