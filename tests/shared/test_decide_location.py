"""Location semantics (contract section 2a), moved Locations and dataplane requests, through ``decide``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.core.decide import Publish, Reenqueue, decide
from shared.core.interpretation import NOT_FOUND_GRACE_SECONDS, StatusAnswer
from shared.core.result import event_id
from tests.support.builders import SUBSCRIPTION, T0, arm, parse, settings

CONFIG = settings(DATAPLANE_HOSTS="*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default;"
                                  "*.purview.azure.com=https://purview.azure.net/.default")
ARM_BASE = f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus"
MOVED = f"{ARM_BASE}/operationResults/op-3-b?api-version=2022-03-01"
DATAPLANE_URL = "https://acct.cognitiveservices.azure.com/formrecognizer/operations/op-9?api-version=2024-11-30"


def read(status: int | None, body: dict | bytes | None = None, **headers: str) -> StatusAnswer:
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    return StatusAnswer(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw)


def location(**extra) -> dict:
    return arm(statusHeader="Location", **extra)


def later(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("header", ["Location", "location", "LOCATION", "lOcAtIoN"])
def test_status_header_is_matched_case_insensitively(header: str) -> None:
    assert parse(arm(statusHeader=header)).status_header == "Location"


def test_202_is_running_and_honours_retry_after() -> None:
    decision = decide(parse(location()), read(202, retry_after="47"), T0, CONFIG)
    assert isinstance(decision, Reenqueue)
    # Retry-After is a floor (the schedule adds a few percent of deterministic jitter on top).
    assert 47 <= decision.delay_seconds <= 47 * 1.06 + 1 and decision.status is None
    assert decision.poll.polls == 1 and decision.poll.failures == 0 and decision.poll.poll_url is None


def test_a_202_after_failed_reads_resets_the_failure_count() -> None:
    request = parse(location())
    first = decide(request, read(503), T0, CONFIG)
    assert isinstance(first, Reenqueue) and first.poll.failures == 1
    again = parse(request.message_text(first.poll))
    assert decide(again, read(202), later(5), CONFIG).poll.failures == 0


@pytest.mark.parametrize("code", [200, 201, 204])
def test_done_codes_without_body_are_succeeded(code: int) -> None:
    decision = decide(parse(location()), read(code), T0, CONFIG)
    assert isinstance(decision, Publish)
    result = decision.result
    assert result["outcome"] == "Succeeded" and result["error"] is None and result["operation"] is None
    assert result["status"] is None  # a Location URL answers HTTP codes, not a status value


def test_200_with_a_result_body_is_succeeded_with_the_body_as_operation() -> None:
    body = {"id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app", "status": "Failed", "value": [1],
            "percentComplete": 3, "startTime": "2020-01-01T00:00:00Z"}
    result = decide(parse(location()), read(200, body), T0, CONFIG).result
    assert result["outcome"] == "Succeeded" and result["operation"] == body
    assert result["status"] is None  # a 'status' inside the action's result is not an operation status
    assert result["percentComplete"] is None and result["startTime"] is None


def test_200_with_a_body_that_is_not_a_json_object_is_still_succeeded() -> None:
    result = decide(parse(location()), read(200, b"<html>done</html>"), T0, CONFIG).result
    assert result["outcome"] == "Succeeded" and result["operation"] is None


@pytest.mark.parametrize("code", [400, 409, 410, 422])
def test_other_4xx_is_the_operation_failing_with_its_error(code: int) -> None:
    body = {"error": {"code": "Conflict", "message": "The VM is in use.", "details": [{"code": "Inner", "message": "x"}]}}
    result = decide(parse(location()), read(code, body), T0, CONFIG).result
    assert result["outcome"] == "Failed"
    assert result["error"]["code"] == "Conflict" and result["error"]["message"] == "The VM is in use."
    assert result["error"]["details"] == [{"code": "Inner", "message": "x"}] and result["error"]["httpStatus"] == code
    assert result["operation"] == body


def test_4xx_without_a_body_is_failed_with_a_generated_error() -> None:
    result = decide(parse(location()), read(400, x_ms_error_code="BadThing"), T0, CONFIG).result
    assert result["outcome"] == "Failed" and result["error"]["code"] == "BadThing" and result["error"]["httpStatus"] == 400
    result = decide(parse(location()), read(400), T0, CONFIG).result
    assert result["outcome"] == "Failed" and result["error"]["code"] == "Http400"


def test_404_past_the_grace_is_failed_and_within_it_transient() -> None:
    early = decide(parse(location()), read(404), T0, CONFIG)
    assert isinstance(early, Reenqueue) and early.poll.failures == 1
    late_request = parse(location(poll={"firstSeenAt": "2026-11-22T11:00:00Z", "polls": 3}))
    assert NOT_FOUND_GRACE_SECONDS < 3600
    assert decide(late_request, read(404), T0, CONFIG).result["outcome"] == "Failed"


@pytest.mark.parametrize("code", [401, 403])
def test_401_and_403_are_the_watchers_own_problem_polling_failed(code: int) -> None:
    result = decide(parse(location()), read(code, {"error": {"code": "AuthorizationFailed", "message": "no"}}), T0, CONFIG).result
    assert result["outcome"] == "PollingFailed" and result["error"]["httpStatus"] == code


@pytest.mark.parametrize("code", [None, 408, 429, 500, 503])
def test_transient_reads_are_retried_then_give_too_many_failures(code: int | None) -> None:
    decision = decide(parse(location()), read(code), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 1
    tired = parse(location(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 9, "failures": 9}))
    result = decide(tired, read(code), later(60), CONFIG).result
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "TooManyFailures"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_3xx_is_never_followed(code: int) -> None:
    result = decide(parse(location()), read(code, location="https://evil.example/x"), T0, CONFIG).result
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "RedirectNotFollowed"


@pytest.mark.parametrize("code", [203, 205, 206])
def test_other_2xx_is_polling_failed(code: int) -> None:
    result = decide(parse(location()), read(code), T0, CONFIG).result
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "UnexpectedLocationStatus"


def test_a_202_past_the_deadline_is_timed_out() -> None:
    request = parse(location(timeoutSeconds=10))
    result = decide(request, read(202), later(10), CONFIG).result
    assert result["outcome"] == "TimedOut" and result["error"]["code"] == "DeadlineExceeded"


def test_a_202_with_a_new_location_moves_the_url_and_it_rides_in_the_message() -> None:
    request = parse(location())
    decision = decide(request, read(202, location=MOVED), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.poll_url == MOVED
    text = request.message_text(decision.poll)
    message = json.loads(text)
    assert message["statusUrl"] == arm()["statusUrl"]  # the producer's URL is never rewritten
    assert message["poll"]["statusUrl"] == MOVED
    moved = parse(text, later(5))
    assert moved.poll_url == MOVED and moved.producer_url == arm()["statusUrl"]
    result = decide(moved, read(204), later(5), CONFIG).result
    assert result["statusUrl"] == MOVED  # the URL polled last
    assert result["eventId"] == event_id(request, "Succeeded")  # the id stays the original operation's
    assert result["operationId"] == "op-3" and result["polls"] == 2


def test_a_relative_location_is_resolved_against_the_polled_url() -> None:
    relative = "/subscriptions/" + SUBSCRIPTION + "/providers/Microsoft.Web/locations/westus/operationResults/op-r?api-version=1"
    decision = decide(parse(location()), read(202, location=relative), T0, CONFIG)
    assert decision.poll.poll_url == "https://management.azure.com" + relative


def test_the_same_location_again_is_not_a_move() -> None:
    request = parse(location())
    decision = decide(request, read(202, location=request.poll_url), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.poll_url is None


@pytest.mark.parametrize(
    ("where", "host"),
    [
        ("https://evil.example/subscriptions/x/providers/y/operationResults/z?api-version=1", "evil.example"),
        ("http://management.azure.com/subscriptions/x/providers/y/operationResults/z?api-version=1", "management.azure.com"),
        ("https://user:hunter2@management.azure.com/subscriptions/x/providers/y/operationResults/z?api-version=1", "management.azure.com"),
        ("https://management.azure.com:8443/subscriptions/x/providers/y/operationResults/z?api-version=1", "management.azure.com:8443"),
        ("https://management.azure.com/subscriptions/x/resourceGroups/rg?api-version=1", "management.azure.com"),
        ("https://management.azure.com/subscriptions/x/providers/y/operationResults/z", "management.azure.com"),
        ("https://management.azure.com/subscriptions/x/%2e%2e/operationResults/z?api-version=1", "management.azure.com"),
    ],
)
def test_a_moved_location_that_fails_the_rules_is_polling_failed_naming_the_host(where: str, host: str) -> None:
    decision = decide(parse(location()), read(202, location=where), T0, CONFIG)
    assert isinstance(decision, Publish)
    result = decision.result
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "LocationRefused"
    assert repr(host) in result["error"]["message"] and result["error"]["httpStatus"] == 202
    assert "hunter2" not in json.dumps(result)  # user information (a password) is never repeated
    assert result["statusUrl"] == arm()["statusUrl"]


def test_a_tampered_poll_status_url_is_rejected_naming_the_field() -> None:
    from shared.core.errors import InvalidRequest

    poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 1, "statusUrl": "https://evil.example/operations/1?api-version=1"}
    with pytest.raises(InvalidRequest) as info:
        parse(location(poll=poll))
    assert info.value.field == "poll.statusUrl" and "evil.example" in info.value.reason


def test_poll_status_url_does_not_apply_to_sources_with_a_template() -> None:
    from shared.core.errors import InvalidRequest
    from tests.support.builders import apim

    with pytest.raises(InvalidRequest) as info:
        parse(apim(poll={"firstSeenAt": "2026-11-22T12:00:00Z", "statusUrl": arm()["statusUrl"]}))
    assert info.value.field == "poll.statusUrl"


def test_azure_asyncoperation_reads_ignore_a_location_header() -> None:
    decision = decide(parse(arm()), read(202, location="https://evil.example/x"), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.poll_url is None


def test_a_200_without_status_is_still_a_transient_failure_for_azure_asyncoperation() -> None:
    decision = decide(parse(arm()), read(200, {"id": "x"}), T0, CONFIG)
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 1


# -- dataplane -------------------------------------------------------------------------------------


def dataplane(**extra) -> dict:
    return {"source": "dataplane", "statusUrl": DATAPLANE_URL, **extra}


def test_dataplane_gets_the_scope_of_its_pattern() -> None:
    request = parse(dataplane(), config=CONFIG)
    assert request.scope == "https://cognitiveservices.azure.com/.default"
    assert request.status_header == "Operation-Location" and request.operation_id == "op-9"
    purview = parse(dataplane(statusUrl="https://acct.purview.azure.com/scan/operations/o1?api-version=2023-09-01"), config=CONFIG)
    assert purview.scope == "https://purview.azure.net/.default"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("NotStarted", None), ("Running", None), ("Creating", None), ("Deleting", None), ("Updating", None),
     ("Succeeded", "Succeeded"), ("Failed", "Failed"), ("Canceled", "Canceled"), ("Cancelled", "Canceled")],
)
def test_dataplane_status_values(status: str, outcome: str | None) -> None:
    body = {"id": "op-9", "status": status}
    if status == "Failed":
        body["error"] = {"error": {"code": "InvalidModel", "message": "bad model"}}  # Log Analytics style nesting
    decision = decide(parse(dataplane(), config=CONFIG), read(200, body), T0, CONFIG)
    if outcome is None:
        assert isinstance(decision, Reenqueue) and decision.status == status
    else:
        assert isinstance(decision, Publish) and decision.result["outcome"] == outcome and decision.result["status"] == status
        if outcome == "Failed":
            assert decision.result["error"] == {"code": "InvalidModel", "message": "bad model"}


def test_a_dataplane_location_may_not_move_to_another_services_audience() -> None:
    request = parse(dataplane(statusHeader="Location"), config=CONFIG)
    other = "https://acct.purview.azure.com/scan/operations/o1?api-version=2023-09-01"
    result = decide(request, read(202, location=other), T0, CONFIG).result
    assert result["outcome"] == "PollingFailed" and result["error"]["code"] == "LocationRefused"
    same = "https://acct2.cognitiveservices.azure.com/formrecognizer/operations/op-9?api-version=2024-11-30"
    assert decide(request, read(202, location=same), T0, CONFIG).poll.poll_url == same
