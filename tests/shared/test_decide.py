"""Every branch of the decision core, with no sockets and no clock."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import timedelta

import pytest

from shared.core.decide import Publish, Reenqueue, decide
from shared.core.interpretation import NOT_FOUND_GRACE_SECONDS, StatusAnswer
from shared.core.poll_state import PollState, rfc3339
from shared.core.result import event_id, progress_event_id
from tests.support.builders import SUBSCRIPTION, T0, apim, arm, devcenter, operationalinsights, parse, settings

CONFIG = settings()


def ok(body: dict | bytes, status: int = 200, **headers: str) -> StatusAnswer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return StatusAnswer(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw)


def later(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("Succeeded", "Succeeded"), ("succeeded", "Succeeded"), ("Completed", "Succeeded"), ("FAILED", "Failed"),
     ("Canceled", "Canceled"), ("Cancelled", "Canceled"), ("cancelled", "Canceled")],
)
def test_terminal_statuses_are_case_insensitive(status: str, outcome: str) -> None:
    decision = decide(parse(apim()), ok({"status": status}), T0, CONFIG)
    assert isinstance(decision, Publish)
    assert decision.result["outcome"] == outcome
    assert decision.result["status"] == status
    assert decision.result["polls"] == 1


@pytest.mark.parametrize("status", ["InProgress", "Running", "NotStarted", "Accepted", "Provisioning", "Succeeding"])
def test_other_statuses_mean_running(status: str) -> None:
    decision = decide(parse(apim()), ok({"status": status}), T0, CONFIG)
    assert isinstance(decision, Reenqueue)
    assert decision.status == status
    assert decision.poll.polls == 1 and decision.poll.failures == 0
    assert decision.poll.last_status == status


def test_result_carries_every_contract_field() -> None:
    request = parse(apim(correlationId="c-1", context={"pipeline": 7}))
    body = {"status": "Succeeded", "percentComplete": 100, "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:10:00Z", "extra": [1]}
    result = decide(request, ok(body), later(42), CONFIG).result
    assert set(result) == {
        "eventId", "outcome", "status", "source", "operationId", "statusUrl", "correlationId", "context",
        "percentComplete", "startTime", "endTime", "error", "operation", "polls", "enqueuedAt", "completedAt",
    }
    assert result["operation"] == body
    assert result["correlationId"] == "c-1" and result["context"] == {"pipeline": 7}
    assert result["percentComplete"] == 100 and result["endTime"] == "2026-01-01T00:10:00Z"
    assert result["enqueuedAt"] == "2026-11-22T12:00:00.000Z"
    assert result["completedAt"] == "2026-11-22T12:00:42.000Z"
    assert result["error"] is None
    assert result["statusUrl"].endswith("/locations/West%20US/operationStatuses/op-1?api-version=2024-05-01")


def test_event_id_is_deterministic_per_operation_and_outcome() -> None:
    first = decide(parse(apim()), ok({"status": "Succeeded"}), T0, CONFIG).result
    again = decide(parse(apim(apiVersion="2023-01-01")), ok({"status": "Succeeded"}), later(999), CONFIG).result
    failed = decide(parse(apim()), ok({"status": "Failed"}), T0, CONFIG).result
    other = decide(parse(apim(operationId="op-9")), ok({"status": "Succeeded"}), T0, CONFIG).result
    assert first["eventId"] == again["eventId"]
    assert len({first["eventId"], failed["eventId"], other["eventId"]}) == 3


def test_failed_apim_error_detail_is_normalised() -> None:
    error = {"code": "Conflict", "message": "nope", "target": "x", "details": [{"code": "Inner", "message": "m", "junk": 1}],
             "additionalInfo": [{"type": "t", "info": {"a": 1}}]}
    result = decide(parse(apim()), ok({"status": "Failed", "error": error}), T0, CONFIG).result
    assert result["outcome"] == "Failed"
    assert result["error"] == {"code": "Conflict", "message": "nope", "target": "x", "details": [{"code": "Inner", "message": "m"}],
                               "additionalInfo": [{"type": "t", "info": {"a": 1}}]}


def test_failed_operationalinsights_error_response_wrapper_is_unwrapped() -> None:
    body = {"status": "Failed", "error": {"error": {"code": "WorkspaceGone", "message": "deleted"}}}
    result = decide(parse(operationalinsights()), ok(body), T0, CONFIG).result
    assert result["error"] == {"code": "WorkspaceGone", "message": "deleted"}


def test_failed_devcenter_innererror_chain_is_kept() -> None:
    body = {"status": "Failed", "error": {"code": "DeployFailed", "message": "m", "innererror": {"code": "A", "innererror": {"code": "B"}}}}
    result = decide(parse(devcenter()), ok(body), T0, CONFIG).result
    assert result["error"] == {"code": "DeployFailed", "message": "m", "innererror": {"code": "A", "innererror": {"code": "B"}}}


def test_succeeded_ignores_a_stray_error_field() -> None:
    result = decide(parse(apim()), ok({"status": "Succeeded", "error": {"code": "x"}}), T0, CONFIG).result
    assert result["error"] is None


def test_202_without_body_is_still_running() -> None:
    decision = decide(parse(apim()), StatusAnswer(202, {}, b""), T0, CONFIG)
    assert isinstance(decision, Reenqueue)
    assert decision.poll.failures == 0


@pytest.mark.parametrize(
    "answer",
    [
        StatusAnswer(200, {}, b""),
        StatusAnswer(200, {}, b"<html>"),
        StatusAnswer(200, {}, b"[1, 2]"),
        StatusAnswer(200, {}, b'{"id": "x"}'),
        StatusAnswer(200, {}, b'{"status": 3}'),
        StatusAnswer(200, {}, b'{"status": ""}'),
        StatusAnswer(None, {}, b"", failure="timed out"),
        StatusAnswer(408, {}, b""),
        StatusAnswer(429, {}, b""),
        StatusAnswer(500, {}, b""),
        StatusAnswer(503, {}, b'{"error": {"code": "ServerBusy"}}'),
    ],
)
def test_transient_failures_reenqueue_and_count(answer: StatusAnswer) -> None:
    request = parse(apim(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 4, "failures": 2, "lastStatus": "InProgress"}))
    decision = decide(request, answer, later(10), CONFIG)
    assert isinstance(decision, Reenqueue), decision
    assert decision.poll.failures == 3
    assert decision.poll.polls == 5
    assert decision.poll.last_status == "InProgress"


def test_404_is_transient_within_the_grace_period_then_permanent() -> None:
    answer = StatusAnswer(404, {}, b'{"error": {"code": "NotFound", "message": "gone"}}')
    assert isinstance(decide(parse(apim()), answer, later(NOT_FOUND_GRACE_SECONDS - 1), CONFIG), Reenqueue)
    decision = decide(parse(apim()), answer, later(NOT_FOUND_GRACE_SECONDS), CONFIG)
    assert isinstance(decision, Publish)
    assert decision.result["outcome"] == "PollingFailed"
    assert decision.result["error"] == {"code": "NotFound", "message": "gone", "httpStatus": 404}


@pytest.mark.parametrize("code", [400, 401, 403, 405, 409, 410])
def test_permanent_http_failures_give_polling_failed_with_provider_error(code: int) -> None:
    answer = StatusAnswer(code, {}, json.dumps({"error": {"code": "AuthorizationFailed", "message": "no access"}}).encode())
    result = decide(parse(apim()), answer, T0, CONFIG).result
    assert result["outcome"] == "PollingFailed"
    assert result["error"] == {"code": "AuthorizationFailed", "message": "no access", "httpStatus": code}
    assert result["operation"] is None and result["polls"] == 1


def test_permanent_failure_without_body_uses_devcenter_error_code_header() -> None:
    result = decide(parse(devcenter()), StatusAnswer(403, {"x-ms-error-code": "Forbidden"}, b""), T0, CONFIG).result
    assert result["error"]["code"] == "Forbidden"
    assert result["error"]["httpStatus"] == 403


def test_permanent_failure_without_anything_gets_the_watchers_code() -> None:
    result = decide(parse(apim()), StatusAnswer(400, {}, b"oops"), T0, CONFIG).result
    assert result["error"]["code"] == "StatusReadRefused"
    assert "400" in result["error"]["message"]


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirects_are_never_followed(code: int) -> None:
    result = decide(parse(apim()), StatusAnswer(code, {"location": "https://evil.example/x"}, b""), T0, CONFIG).result
    assert result["outcome"] == "PollingFailed"
    assert result["error"]["code"] == "RedirectNotFollowed"
    assert result["error"]["httpStatus"] == code


def test_a_redirect_target_is_shown_without_user_information_or_query() -> None:
    location = "https://user:hunter2@evil.example:8443/x/y?sig=secret-sas#frag"
    result = decide(parse(apim()), StatusAnswer(302, {"location": location}, b""), T0, CONFIG).result
    message = result["error"]["message"]
    assert "https://evil.example:8443/x/y" in message
    assert "hunter2" not in message and "user" not in message and "secret-sas" not in message


def test_max_consecutive_failures_gives_polling_failed() -> None:
    config = settings(POLL_MAX_FAILURES="3")
    request = parse(apim(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 9, "failures": 2}), config=config)
    result = decide(request, StatusAnswer(503, {}, b""), later(30), config).result
    assert result["outcome"] == "PollingFailed"
    assert result["error"]["code"] == "TooManyFailures"
    assert result["error"]["httpStatus"] == 503
    assert result["polls"] == 10


def test_a_good_read_resets_the_failure_count() -> None:
    request = parse(apim(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "failures": 2}))
    decision = decide(request, ok({"status": "InProgress"}), later(30), CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 0


def test_deadline_passed_while_running_gives_timed_out() -> None:
    request = parse(apim(timeoutSeconds=60))
    result = decide(request, ok({"status": "InProgress", "percentComplete": 40}), later(60), CONFIG).result
    assert result["outcome"] == "TimedOut"
    assert result["status"] == "InProgress" and result["percentComplete"] == 40
    assert result["error"]["code"] == "DeadlineExceeded"
    assert "httpStatus" not in result["error"]


def test_deadline_passed_on_a_failed_read_gives_timed_out_with_http_status() -> None:
    request = parse(apim(timeoutSeconds=60, poll={"firstSeenAt": "2026-11-22T12:00:00Z", "lastStatus": "Running"}))
    result = decide(request, StatusAnswer(503, {}, b""), later(61), CONFIG).result
    assert result["outcome"] == "TimedOut"
    assert result["status"] == "Running"
    assert result["error"]["httpStatus"] == 503


def test_terminal_status_at_the_deadline_wins_over_timed_out() -> None:
    request = parse(apim(timeoutSeconds=60))
    assert decide(request, ok({"status": "Succeeded"}), later(3600), CONFIG).result["outcome"] == "Succeeded"


def test_permanent_failure_past_the_deadline_is_still_polling_failed() -> None:
    request = parse(apim(timeoutSeconds=60))
    assert decide(request, StatusAnswer(403, {}, b""), later(3600), CONFIG).result["outcome"] == "PollingFailed"


def test_default_timeout_comes_from_settings() -> None:
    config = settings(POLL_DEFAULT_TIMEOUT_SECONDS="100")
    request = parse(apim(), config=config)
    assert decide(request, ok({"status": "Running"}), later(99), config).delay_seconds == 1
    assert decide(request, ok({"status": "Running"}), later(100), config).result["outcome"] == "TimedOut"


class TestDelay:
    """decide() hands every delay to shared.core.schedule (exact figures in test_schedule.py)."""

    def test_retry_after_seconds_is_a_floor(self) -> None:
        delay = decide(parse(apim()), ok({"status": "Running"}, Retry_After="42"), T0, CONFIG).delay_seconds
        assert 42 <= delay <= 42 * 1.05

    def test_retry_after_http_date_is_relative_to_now(self) -> None:
        answer = ok({"status": "Running"}, Retry_After="Sun, 22 Nov 2026 12:01:30 GMT")
        assert 80 <= decide(parse(apim()), answer, later(10), CONFIG).delay_seconds <= 84

    def test_retry_after_ms_headers_win_over_retry_after(self) -> None:
        answer = ok({"status": "Running"}, Retry_After="100", retry_after_ms="7500")
        assert decide(parse(apim()), answer, T0, CONFIG).delay_seconds < 100
        answer = ok({"status": "Running"}, Retry_After="100", x_ms_retry_after_ms="40000")
        assert 40 <= decide(parse(apim()), answer, T0, CONFIG).delay_seconds <= 42

    def test_hint_is_clamped_to_the_settings(self) -> None:
        assert decide(parse(apim()), ok({"status": "Running"}, Retry_After="86400"), T0, CONFIG).delay_seconds == 300
        config = settings(POLL_MIN_DELAY_SECONDS="30")
        assert 30 <= decide(parse(apim(), config=config), ok({"status": "Running"}, Retry_After="1"), T0, config).delay_seconds <= 32

    def test_wait_grows_with_the_time_running_without_a_prediction(self) -> None:
        delays = [decide(parse(apim()), ok({"status": "Running"}), later(elapsed), CONFIG).delay_seconds
                  for elapsed in (0, 600, 3600, 6 * 3600, 20 * 3600)]
        assert delays[0] <= delays[1] <= delays[2] <= delays[3] <= delays[4] <= 300 and delays[0] < delays[4]

    def test_percent_complete_aims_at_the_predicted_end(self) -> None:
        request = parse(apim())
        decision = decide(request, ok({"status": "Running", "percentComplete": 50}), later(1000), CONFIG)
        assert decision.delay_seconds == 300  # 1000 s to go: half of it, capped by POLL_MAX_DELAY_SECONDS
        near = decide(request, ok({"status": "Running", "percentComplete": 99}), later(1000), CONFIG)
        assert near.delay_seconds <= 16  # the predicted end is seconds away: land just past it

    def test_backoff_doubles_per_consecutive_failure(self) -> None:
        delays = []
        for failures in range(0, 4):
            request = parse(apim(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 5, "failures": failures}))
            delays.append(decide(request, StatusAnswer(500, {}, b""), later(1), CONFIG).delay_seconds)
        assert [round(d / 5) for d in delays] == [1, 2, 4, 8]
        assert all(5 * 2**i <= d <= 5 * 2**i * 1.05 + 0.5 for i, d in enumerate(delays))

    def test_transient_failure_honours_retry_after(self) -> None:
        assert 17 <= decide(parse(apim()), StatusAnswer(429, {"retry-after": "17"}, b""), T0, CONFIG).delay_seconds <= 18

    def test_delay_never_reaches_past_the_deadline(self) -> None:
        request = parse(apim(timeoutSeconds=100))
        assert decide(request, ok({"status": "Running"}, Retry_After="250"), later(90), CONFIG).delay_seconds == 10
        assert decide(request, ok({"status": "Running"}), later(99.5), CONFIG).delay_seconds == 1

    def test_zero_minimum_allows_immediate_polls(self) -> None:
        config = settings(POLL_MIN_DELAY_SECONDS="0", POLL_MAX_DELAY_SECONDS="0")
        assert decide(parse(apim(), config=config), ok({"status": "Running"}, Retry_After="30"), T0, config).delay_seconds == 0


def test_reenqueued_message_carries_the_request_and_the_poll_state() -> None:
    request = parse(apim(correlationId="c"))
    decision = decide(request, ok({"status": "Running"}), later(3), CONFIG)
    message = json.loads(request.message_text(decision.poll))
    assert message["correlationId"] == "c" and message["operationId"] == "op-1"
    assert message["poll"] == {"firstSeenAt": "2026-11-22T12:00:00.000Z", "polls": 1, "failures": 0, "lastStatus": "Running", "lastHttpStatus": 200}
    again = parse(request.message_text(decision.poll), now=later(1000))
    assert again.poll == decision.poll
    assert again.deadline == request.deadline


def test_event_id_for_arm_uses_the_status_url_path() -> None:
    request = parse({"source": "arm", "statusUrl": "https://management.azure.com/subscriptions/s/operations/abc?api-version=1"})
    assert request.operation_id == "abc"
    assert event_id(request, "Succeeded") != event_id(request, "Failed")


def test_poll_state_after_read_keeps_the_first_sighting() -> None:
    state = PollState(first_seen_at=T0).after_read(ok=False, status=None, http_status=None)
    assert state.first_seen_at == T0 and state.failures == 1 and state.polls == 1


ARM_OP = f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/op-3"


@pytest.mark.parametrize(
    "url",
    [f"{ARM_OP}/?api-version=2022-03-01",  # a trailing slash
     f"{ARM_OP.replace('/providers/Microsoft.Web/locations/westus', '/PROVIDERS/microsoft.web/Locations/WestUS')}?api-version=2022-03-01",
     f"{ARM_OP.upper().replace('HTTPS://MANAGEMENT.AZURE.COM', 'https://Management.Azure.com')}?api-version=2022-03-01",
     f"{ARM_OP}?monitor=true&api-version=2022-03-01",  # another query, another order
     f"{ARM_OP}?api-version=2024-01-01&monitor=true"],
)
def test_one_arm_operation_written_another_way_gets_the_same_event_and_progress_ids(url: str) -> None:
    """ARM paths are case-insensitive and a trailing slash names the same resource: one operation, one id."""
    plain, other = parse(arm()), parse(arm(statusUrl=url))
    assert event_id(other, "Succeeded") == event_id(plain, "Succeeded") != event_id(other, "Failed")
    assert progress_event_id(other, 3) == progress_event_id(plain, 3)


def test_an_apim_operation_id_in_another_case_is_the_same_arm_operation() -> None:
    assert event_id(parse(apim(operationId="OP-1")), "Succeeded") == event_id(parse(apim()), "Succeeded")


def test_a_data_plane_path_keeps_its_case_but_not_a_trailing_slash() -> None:
    config = settings(DATAPLANE_HOSTS="*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default")
    base = "https://acct.cognitiveservices.azure.com/formrecognizer/operations/Op-1"

    def dataplane(url: str) -> str:
        return event_id(parse({"source": "dataplane", "statusUrl": url}, config=config), "Succeeded")

    assert dataplane(f"{base}/?api-version=1") == dataplane(f"{base}?api-version=1")
    assert dataplane(f"{base.lower()}?api-version=1") != dataplane(f"{base}?api-version=1")


def test_a_moved_location_keeps_the_producers_ids() -> None:
    """eventId and progress ids both follow the producer's URL, however often a Location moved the poll."""
    from dataclasses import replace

    request = parse(arm(statusHeader="Location"))
    moved = replace(request, poll_url=request.poll_url.replace("op-3", "op-3-moved"), producer_url=request.poll_url)
    assert event_id(moved, "Succeeded") == event_id(request, "Succeeded")
    assert progress_event_id(moved, 2) == progress_event_id(request, 2)


def _replay(progress: bool, first_read_after: float, run_for: float = 30.0) -> tuple[int, float]:
    """Reads and detection time of one operation running ``run_for`` s, replayed through decide on a virtual clock.

    The answers are the simulator's ``runFor`` step's (``percentComplete`` rounded down when ``progress``);
    the first read comes ``first_read_after`` s after the operation started. What tests/e2e/test_schedule_e2e.py
    showed on the wall clock, where when run_local's first read comes depends on the machine's load.
    """
    config = settings(POLL_MIN_DELAY_SECONDS="1", POLL_MAX_DELAY_SECONDS="300")
    start = T0 - timedelta(seconds=first_read_after)
    request, now = parse(apim(), now=T0, config=config), T0
    while True:
        elapsed = (now - start).total_seconds()
        body: dict[str, object] = {"status": "Succeeded" if elapsed >= run_for else "InProgress"}
        if progress:
            body.update(percentComplete=min(100, math.floor(100 * elapsed / run_for)), startTime=rfc3339(start))
        decision = decide(request, StatusAnswer(200, {}, json.dumps(body).encode()), now, config)
        if isinstance(decision, Publish):
            return decision.result["polls"], elapsed - run_for
        request = dataclasses.replace(request, poll=decision.poll)
        now += timedelta(seconds=decision.delay_seconds)


@pytest.mark.parametrize("first_read_after", [1, 3, 5, 8, 10, 15, 20, 25])
def test_an_operation_reporting_progress_is_detected_within_seconds_of_its_end(first_read_after: int) -> None:
    """The e2e scenario (30 s) on a virtual clock: with progress the watcher predicts the end and reads just past
    it, whenever the first read comes; without, it reads like a timer (lag up to its period). Reads are not
    compared: on one 30 s operation that depends on where the timer's reads fall (the fleet figures are P5's)."""
    (_, lag), (_, lag_without) = _replay(True, first_read_after), _replay(False, first_read_after)
    assert 0 <= lag <= 2, lag
    assert lag <= lag_without or lag_without < 1  # a timer read that happens to land on the end can tie it


class TestTrend:
    """The progress trend (poll.percentSeenAt, poll.percentRate) rides in the message from read to read (issue 22)."""

    def test_each_percentage_is_dated_at_its_first_read_and_a_change_gives_the_rate(self) -> None:
        request = parse(apim())
        first = decide(request, ok({"status": "Running", "percentComplete": 10}), later(100), CONFIG)
        assert isinstance(first, Reenqueue)
        assert first.poll.to_json()["percentSeenAt"] == "2026-11-22T12:01:40.000Z" and "percentRate" not in first.poll.to_json()
        again = parse(request.message_text(first.poll), now=later(160))
        same = decide(again, ok({"status": "Running", "percentComplete": 10}), later(160), CONFIG)
        assert isinstance(same, Reenqueue) and same.poll.percent_seen_at == later(100) and same.poll.percent_rate is None
        moved = decide(parse(request.message_text(same.poll), now=later(300)), ok({"status": "Running", "percentComplete": 30}),
                       later(300), CONFIG)
        assert isinstance(moved, Reenqueue)
        assert moved.poll.to_json()["percentRate"] == pytest.approx(0.1)  # 20 points in the 200 s between first reads
        assert moved.poll.percent_seen_at == later(300)

    def test_a_failed_read_keeps_the_trend(self) -> None:
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "lastPercentComplete": 40,
                "percentSeenAt": "2026-11-22T12:01:00Z", "percentRate": 0.25}
        decision = decide(parse(apim(poll=poll)), StatusAnswer(503, {}, b""), later(120), CONFIG)
        assert isinstance(decision, Reenqueue)
        assert decision.poll.to_json()["percentSeenAt"] == "2026-11-22T12:01:00.000Z" and decision.poll.percent_rate == 0.25

    def test_a_rate_from_reads_a_millisecond_apart_is_capped_so_the_copy_still_parses(self) -> None:
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "lastPercentComplete": 10, "percentSeenAt": "2026-11-22T12:01:00Z"}
        request = parse(apim(poll=poll), now=later(60.001))
        decision = decide(request, ok({"status": "Running", "percentComplete": 90}), later(60.001), CONFIG)
        assert isinstance(decision, Reenqueue) and decision.poll.percent_rate == 100.0
        assert parse(request.message_text(decision.poll), now=later(61)).poll.percent_rate == 100.0
