"""The decision core: one status read in, one decision out. Pure: no IO, no clock.

``decide(request, read, now, settings)`` returns either

* :class:`Reenqueue` — send the request again, visible after ``delay_seconds``,
  carrying the updated poll bookkeeping; or
* :class:`Publish` — the operation has an outcome; publish ``result``.

How a read is understood depends on the request's ``statusHeader``: the interpreters
in :mod:`shared.core.interpretation` (a status body; Location's HTTP codes) turn it into
running, terminal or a failed read. This module keeps what is common: the deadline,
the count of consecutive failed reads (``POLL_MAX_FAILURES``), the delays, and the
move to a new Location URL, checked by the same rules as the request's own URL
(:mod:`shared.core.status_urls`); a moved Location that fails them is a permanent
``PollingFailed`` (``LocationRefused``) and no token goes there; one too long for the
request's re-enqueued copy to carry within 64 KiB is ``PollingFailed`` (``LocationTooLong``).
A read that would make the count of polls reach 10^6 (``poll.polls`` stays below it) ends
the operation ``PollingFailed`` (``TooManyPolls``).

Delays: :mod:`shared.core.schedule` (a predicted end from ``percentComplete`` or
``expectedSeconds``, the provider's hint as a floor, ×2 per consecutive failure,
ARM's read budget), clamped to [POLL_MIN_DELAY_SECONDS, POLL_MAX_DELAY_SECONDS]
and never past the deadline, so the last read happens at the deadline. A read
at or after the deadline that is not terminal gives ``TimedOut``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from shared.core import arm_budget, end_estimate, schedule
from shared.core.errors import InvalidRequest
from shared.core.interpretation import (
    Interpretation,
    PollFailure,
    StatusAnswer,
    interpreter_for_request,
)
from shared.core.poll_state import MAX_POLLS, PollState, WatchedRequest, rfc3339
from shared.core.progress import ProgressUpdate, progress_data
from shared.core.result import build_result
from shared.core.settings import Settings
from shared.core.status_urls import StatusUrlRules, shown_url

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.core.result_model import Result

__all__ = ["Reenqueue", "Publish", "decide"]



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

    result: Result

    @property
    def outcome(self) -> str:
        return str(self.result["outcome"])


def decide(request: WatchedRequest, answer: StatusAnswer, now: datetime, settings: Settings) -> Reenqueue | Publish:
    """The whole protocol for one read; see the module docstring."""
    decision = _decide(request, answer, now, settings)
    if isinstance(decision, Reenqueue) and decision.poll.polls > MAX_POLLS:
        error = {"code": "TooManyPolls", "message": f"{MAX_POLLS:,} status reads made and the operation is still running."}
        return Publish(build_result(request, "PollingFailed", decision.poll, now, body=None, error=error))
    return decision


def _decide(request: WatchedRequest, answer: StatusAnswer, now: datetime, settings: Settings) -> Reenqueue | Publish:
    interpretation = interpreter_for_request(request)(answer, now, request.poll.first_seen_at)
    if interpretation.failure is None:
        progress = end_estimate.progress_of(interpretation.body if interpretation.status_in_body else None)
        new_poll = request.poll.after_read(
            ok=True, status=interpretation.status, http_status=answer.http_status, percent_complete=progress.percent, now=now
        )
        if interpretation.outcome is not None:
            return Publish(
                build_result(
                    request, interpretation.outcome, new_poll, now,
                    body=interpretation.body, error=interpretation.error, status_in_body=interpretation.status_in_body,
                )
            )
        moved = _moved_url(request, interpretation.next_url, settings)
        if isinstance(moved, str):
            return _running(request, answer, now, settings, replace(new_poll, poll_url=moved), interpretation, progress)
        if moved is None:
            return _running(request, answer, now, settings, new_poll, interpretation, progress)
        interpretation = Interpretation(failure=moved)
    assert interpretation.failure is not None
    return _failed(request, answer, now, settings, interpretation.failure)


def _running(
    request: WatchedRequest, answer: StatusAnswer, now: datetime, settings: Settings, poll: PollState, interpretation: Interpretation,
    progress: schedule.Progress,
) -> Reenqueue | Publish:
    body = interpretation.body if interpretation.status_in_body else None
    if now >= request.deadline:
        return _timed_out(request, poll, now, body, answer.http_status, interpretation.status)
    plan = schedule.running_delay(
        progress=progress, headers=answer.headers, now=now, first_seen_at=request.poll.first_seen_at,
        expected_seconds=request.expected_seconds, bounds=_bounds(request, settings, answer),
        key=request.operation_url, polls=poll.polls, trend=poll.trend,
    )
    update = progress_data(request, request.poll, poll, body, progress, now, plan.expected_end)
    why = "running" if poll.poll_url == request.poll.poll_url else "running, Location moved"
    return Reenqueue(plan.delay_seconds, poll, interpretation.status, why, update)


def _failed(request: WatchedRequest, answer: StatusAnswer, now: datetime, settings: Settings, failure: PollFailure) -> Reenqueue | Publish:
    new_poll = request.poll.after_read(ok=False, status=None, http_status=answer.http_status)
    if not failure.transient:
        return Publish(build_result(request, "PollingFailed", new_poll, now, body=None, error=failure.as_error()))
    if now >= request.deadline:
        return _timed_out(request, new_poll, now, None, answer.http_status, new_poll.last_status, failure)
    if new_poll.failures >= settings.poll_max_failures:
        error = failure.as_error()
        error["code"] = "TooManyFailures"
        error["message"] = f"{new_poll.failures} consecutive status reads failed; the last: {failure.message}"
        return Publish(build_result(request, "PollingFailed", new_poll, now, body=None, error=error))
    delay = schedule.failure_delay(
        headers=answer.headers, now=now, failures=new_poll.failures, bounds=_bounds(request, settings, answer),
        key=request.operation_url, polls=new_poll.polls,
    )
    return Reenqueue(delay, new_poll, new_poll.last_status, failure.message)


def _moved_url(request: WatchedRequest, location: str | None, settings: Settings) -> str | PollFailure | None:
    """The new URL a 202's ``Location`` names (checked), None when it names none or the same, or why it is refused."""
    if location is None:
        return None
    target = urljoin(request.poll_url, location.strip())  # a relative Location is relative to the URL polled
    try:
        url = StatusUrlRules(settings).moved(
            request.source, target, scope=request.scope, field="Location", api_version=request.body.get("apiVersion")
        )
    except InvalidRequest as err:
        return PollFailure(
            "LocationRefused",
            f"the status URL answered 202 with a new Location on host {shown_url(target, host_only=True)!r} that the "
            f"token rules refuse, so it was not polled and no token was sent there: {err.reason}",
            202,
            transient=False,
        )
    if url == request.poll_url:
        return None
    if not request.room_for(url):
        return PollFailure(
            "LocationTooLong",
            f"the status URL answered 202 with a new Location of {len(url):,} characters, too long to carry in the "
            f"request's re-enqueued copy (a queue message holds at most 64 KiB; the request takes {request.body_bytes:,} bytes)",
            202,
            transient=False,
        )
    return url


def _bounds(request: WatchedRequest, settings: Settings, answer: StatusAnswer) -> schedule.Bounds:
    return schedule.Bounds(
        settings.poll_min_delay_seconds, settings.poll_max_delay_seconds, request.deadline,
        arm_budget.stretch(answer.budget, settings.arm_reads_reserve),
    )


def _timed_out(
    request: WatchedRequest,
    poll: PollState,
    now: datetime,
    body: dict[str, Any] | None,
    http_status: int | None,
    status: str | None,
    failure: PollFailure | None = None,
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
