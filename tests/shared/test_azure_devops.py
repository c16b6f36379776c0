"""Azure Pipelines' callback (contract §3b): headers, the request field, URLs, bodies, the edge's answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.core.azure_devops import (
    MAX_CALLBACK_TIMEOUT_SECONDS,
    AzureDevOpsCallback,
    callback_from_headers,
    feed_line,
    outcome_line,
    task_result,
)
from shared.core.errors import InvalidRequest, PublishError, SettingsError
from shared.core.result import OUTCOMES
from shared.edges.azure_devops import AzureDevOpsClient, Delivered, FeedFailed, Refused
from shared.edges.http import TransportError
from tests.support.builders import T0, arm, parse, settings
from tests.support.http import FakeTransport, answer

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.job-access-token-SECRET-0123456789"
HEADERS = {
    "PlanUrl": "https://dev.azure.com/contoso/",
    "ProjectId": "6f1a0a3e-0000-4000-8000-000000000001",
    "HubName": "build",
    "PlanId": "7c2b0a3e-0000-4000-8000-000000000002",
    "JobId": "8d3c0a3e-0000-4000-8000-000000000003",
    "TimelineId": "9e4d0a3e-0000-4000-8000-000000000004",
    "TaskInstanceId": "af5e0a3e-0000-4000-8000-000000000005",
    "AuthToken": TOKEN,
}
PLAN = "https://dev.azure.com/contoso/6f1a0a3e-0000-4000-8000-000000000001/_apis/distributedtask/hubs/build/plans/7c2b0a3e-0000-4000-8000-000000000002"


def devops(**overrides: Any) -> dict[str, Any]:
    value = callback_from_headers(HEADERS)
    assert value is not None
    return {**value, **overrides}


def with_callback(**overrides: Any) -> dict[str, Any]:
    return arm(callback={"azureDevOps": devops(**overrides)})


# -- headers --------------------------------------------------------------------------------


def test_no_azure_pipelines_header_means_no_callback() -> None:
    assert callback_from_headers({"Content-Type": "application/json", "x-functions-key": "k"}) is None


def test_the_eight_headers_in_any_case_become_callback_azure_devops() -> None:
    mixed = {name.lower() if i % 2 else name.upper(): value for i, (name, value) in enumerate(HEADERS.items())}
    assert callback_from_headers(mixed) == {
        "planUrl": HEADERS["PlanUrl"], "projectId": HEADERS["ProjectId"], "hubName": "build", "planId": HEADERS["PlanId"],
        "jobId": HEADERS["JobId"], "timelineId": HEADERS["TimelineId"], "taskInstanceId": HEADERS["TaskInstanceId"],
        "authToken": TOKEN,
    }


@pytest.mark.parametrize("missing", [["JobId"], ["AuthToken"], ["PlanUrl", "TimelineId"], list(HEADERS)[1:]])
def test_some_but_not_all_headers_is_invalid_naming_the_missing_ones(missing: list[str]) -> None:
    partial = {name: value for name, value in HEADERS.items() if name not in missing}
    with pytest.raises(InvalidRequest) as caught:
        callback_from_headers(partial)
    assert caught.value.field == "headers"
    assert f"headers {', '.join(missing)} are missing" in caught.value.reason
    assert TOKEN not in str(caught.value)


def test_an_empty_header_counts_as_missing() -> None:
    with pytest.raises(InvalidRequest, match="TaskInstanceId are missing or empty"):
        callback_from_headers({**HEADERS, "TaskInstanceId": "  "})


# -- URLs and bodies (contract section 3b, exactly) ------------------------------------------


@pytest.mark.parametrize("plan_url", ["https://dev.azure.com/contoso/", "https://dev.azure.com/contoso"])
def test_urls_join_plan_url_with_exactly_one_slash(plan_url: str) -> None:
    callback = parse(with_callback(planUrl=plan_url)).callback
    assert callback is not None
    assert callback.events_url == f"{PLAN}/events?api-version=2.0-preview.1"
    assert callback.feed_url == (f"{PLAN}/timelines/{HEADERS['TimelineId']}/records/{HEADERS['JobId']}/feed?api-version=4.1")


def test_authorization_is_basic_of_colon_and_the_token_and_repr_hides_the_token() -> None:
    callback = parse(with_callback()).callback
    assert callback is not None
    assert callback.authorization() == "Basic " + base64.b64encode(f":{TOKEN}".encode()).decode()
    assert TOKEN not in repr(callback) and TOKEN not in str(parse(with_callback()))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_only_succeeded_is_a_succeeded_task(outcome: str) -> None:
    assert task_result(outcome) == ("succeeded" if outcome == "Succeeded" else "failed")


def test_feed_lines_say_time_status_percent_and_next_read() -> None:
    assert feed_line(T0, "Running", 40.0, 45) == "12:00:00 Running 40% (next read in 45 s)"
    assert feed_line(T0, "Running", None, 5) == "12:00:00 Running (next read in 5 s)"
    assert feed_line(T0, None, None, 10, "http 503") == (
        "12:00:00 read failed (http 503); last status status not known yet (next read in 10 s)")
    assert outcome_line(T0, {"outcome": "Failed", "status": "Failed", "polls": 3, "error": {"message": "quota\nexceeded"}}) == (
        "12:00:00 Failed (status Failed, 3 reads): quota exceeded")


# -- the request field -----------------------------------------------------------------------


@pytest.mark.parametrize("plan_url", ["https://dev.azure.com/contoso/", "https://contoso.visualstudio.com/"])
def test_plan_url_hosts_the_default_allowlist_lets_through(plan_url: str) -> None:
    callback = parse(with_callback(planUrl=plan_url)).callback
    assert callback is not None and callback.plan_url == plan_url


def test_loopback_takes_http_but_only_when_listed() -> None:
    """A fake Azure DevOps on loopback (tests, the demo) is named in the setting; by default loopback is refused."""
    config = settings(CALLBACK_HOST_ALLOWLIST="127.0.0.1:8080,localhost:9000,dev.azure.com")
    for plan_url in ("http://127.0.0.1:8080/contoso/", "http://localhost:9000/contoso/"):
        assert parse(with_callback(planUrl=plan_url), config=config).callback is not None
    with pytest.raises(InvalidRequest, match="not allowed"):
        parse(with_callback(planUrl="http://127.0.0.1:8080/contoso/"))


@pytest.mark.parametrize(("plan_url", "why"), [
    ("https://evil.example.com/contoso/", "not allowed to receive a token"),
    ("http://dev.azure.com/contoso/", "must use https"),
    ("https://visualstudio.com/", "not allowed"),
    ("https://dev.azure.com.evil.com/", "not allowed"),
    ("https://user@dev.azure.com/contoso/", "user information"),
    ("https://dev.azure.com/contoso/?x=1", "query string"),
])
def test_plan_url_hosts_refused(plan_url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why) as caught:
        parse(with_callback(planUrl=plan_url))
    assert caught.value.field == "callback.azureDevOps.planUrl"
    assert TOKEN not in str(caught.value)


def test_callback_host_allowlist_setting_replaces_the_default_and_refuses_public_suffixes() -> None:
    config = settings(CALLBACK_HOST_ALLOWLIST="tfs.contoso.com")
    assert parse(with_callback(planUrl="https://tfs.contoso.com/DefaultCollection/"), config=config).callback is not None
    with pytest.raises(InvalidRequest):
        parse(with_callback(), config=config)
    with pytest.raises(SettingsError) as caught:
        settings(CALLBACK_HOST_ALLOWLIST="*.com")
    assert caught.value.setting == "CALLBACK_HOST_ALLOWLIST"


@pytest.mark.parametrize("key", ["planUrl", "projectId", "hubName", "planId", "jobId", "timelineId", "taskInstanceId", "authToken"])
def test_every_one_of_the_eight_is_required(key: str) -> None:
    value = devops()
    del value[key]
    with pytest.raises(InvalidRequest) as caught:
        parse(arm(callback={"azureDevOps": value}))
    assert caught.value.field == f"callback.azureDevOps.{key}"
    assert TOKEN not in caught.value.reason


@pytest.mark.parametrize("bad", [
    {"authToken": TOKEN * 300},  # too long: pydantic would quote the value
    {"authToken": 12345},
    {"planId": f"a/{TOKEN}"},
    {"jobId": ""},
    {"unexpected": TOKEN},
    {"hubName": ["build"]},
])
def test_no_callback_error_repeats_a_value(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(with_callback(**bad))
    assert caught.value.field.startswith("callback.azureDevOps.")
    assert TOKEN not in str(caught.value) and TOKEN[:16] not in str(caught.value)


def test_callback_must_hold_azure_devops() -> None:
    for value in ({}, {"github": {}}, "x", None):
        if value is None:
            continue
        with pytest.raises(InvalidRequest) as caught:
            parse(arm(callback=value))
        assert caught.value.field.startswith("callback")


def test_timeout_over_48_hours_with_a_callback_is_invalid() -> None:
    assert parse(with_callback(), ).timeout_seconds == 86400
    assert parse({**with_callback(), "timeoutSeconds": MAX_CALLBACK_TIMEOUT_SECONDS}).timeout_seconds == 172800
    with pytest.raises(InvalidRequest) as caught:
        parse({**with_callback(), "timeoutSeconds": MAX_CALLBACK_TIMEOUT_SECONDS + 1})
    assert caught.value.field == "timeoutSeconds" and "48 hours" in caught.value.reason
    assert parse(arm(timeoutSeconds=MAX_CALLBACK_TIMEOUT_SECONDS + 1)).timeout_seconds == 172801  # no callback: fine


def test_a_longer_default_timeout_is_cut_to_48_hours_with_a_callback() -> None:
    config = settings(POLL_DEFAULT_TIMEOUT_SECONDS="604800")
    assert parse(with_callback(), config=config).timeout_seconds == MAX_CALLBACK_TIMEOUT_SECONDS
    assert parse(arm(), config=config).timeout_seconds == 604800


def test_the_callback_rides_on_re_enqueued_copies_and_never_in_a_result() -> None:
    from shared.core.poll_state import PollState
    from shared.core.result import build_result

    request = parse({**with_callback(), "context": {"run": 1}})
    again = json.loads(request.message_text(PollState(first_seen_at=T0, polls=1)))
    assert again["callback"]["azureDevOps"]["authToken"] == TOKEN
    result = build_result(request, "Succeeded", request.poll, T0, body={"status": "Succeeded"}, error=None)
    assert "callback" not in result and TOKEN not in json.dumps(result)


# -- the edge ----------------------------------------------------------------------------------


def _callback() -> AzureDevOpsCallback:
    callback = parse(with_callback()).callback
    assert callback is not None
    return callback


def test_task_completed_posts_the_event_with_basic_auth() -> None:
    transport = FakeTransport(lambda request: answer(200))
    assert AzureDevOpsClient(transport).task_completed(_callback(), "Canceled") == Delivered(200)
    (sent,) = transport.seen
    assert (sent.method, sent.url) == ("POST", f"{PLAN}/events?api-version=2.0-preview.1")
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(f":{TOKEN}".encode()).decode()
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.json() == {"name": "TaskCompleted", "taskId": HEADERS["TaskInstanceId"], "jobId": HEADERS["JobId"],
                           "result": "failed"}


@pytest.mark.parametrize("status", [401, 403, 404, 400, 409, 203, 302])
def test_refusals_are_returned_not_raised(status: int) -> None:
    answer_ = AzureDevOpsClient(FakeTransport(lambda request: answer(status))).task_completed(_callback(), "Succeeded")
    assert isinstance(answer_, Refused) and answer_.http_status == status
    assert TOKEN not in repr(answer_)


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_transient_answers_raise_publish_error_without_the_token(status: int) -> None:
    with pytest.raises(PublishError) as caught:
        AzureDevOpsClient(FakeTransport(lambda request: answer(status))).task_completed(_callback(), "Succeeded")
    assert f"HTTP {status}" in str(caught.value) and TOKEN not in str(caught.value)


def test_no_answer_raises_publish_error() -> None:
    def down(request: Any) -> Any:
        raise TransportError("ConnectError: refused")

    with pytest.raises(PublishError, match="no answer"):
        AzureDevOpsClient(FakeTransport(down)).task_completed(_callback(), "Succeeded")


def test_a_feed_line_is_one_value_and_a_refusal_is_feed_failed() -> None:
    transport = FakeTransport(lambda request: answer(200))
    AzureDevOpsClient(transport).append_feed(_callback(), "12:00:00 Running 5%")
    assert transport.seen[0].url.endswith("/feed?api-version=4.1")
    assert transport.seen[0].json() == {"value": ["12:00:00 Running 5%"], "count": 1}
    with pytest.raises(FeedFailed, match="HTTP 500"):
        AzureDevOpsClient(FakeTransport(lambda request: answer(500))).append_feed(_callback(), "x")
