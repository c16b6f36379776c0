"""Watching a resource (``resourceId``, contract section 2b), through the parser and ``decide``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.cloud_events import outcome_event, progress_event
from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import NOT_FOUND_GRACE_SECONDS, StatusAnswer
from shared.core.result import event_id
from tests.support.builders import SUBSCRIPTION, T0, arm, parse, settings

from .test_arm_paths import REAL_RESOURCE_IDS

CONFIG = settings()
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
DEPLOYMENT = f"{RG}/providers/Microsoft.Resources/deployments/main"
SITE = f"{RG}/providers/Microsoft.Web/sites/app"
SECRET = "connection-string-AccountKey=c2VjcmV0LW9mLXRoZS1yZXNvdXJjZQ=="


def resource(resource_id: str = DEPLOYMENT, **extra: Any) -> dict[str, Any]:
    return {"source": "arm", "resourceId": resource_id, "apiVersion": "2024-03-01", **extra}


def body(state: str | None, **properties: Any) -> dict[str, Any]:
    props = dict(properties)
    if state is not None:
        props["provisioningState"] = state
    return {"id": DEPLOYMENT, "name": "main", "type": "Microsoft.Resources/deployments", "properties": props}


def read(status: int | None, payload: dict | bytes | None = None, **headers: str) -> StatusAnswer:
    raw = payload if isinstance(payload, bytes) else (json.dumps(payload).encode() if payload is not None else b"")
    return StatusAnswer(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw)


def later(seconds: float):
    return T0 + timedelta(seconds=seconds)


def decided(message: dict[str, Any], answer: StatusAnswer, seconds: float = 10):
    return decide(parse(message), answer, later(seconds), CONFIG)


# --- the request -------------------------------------------------------------------------------------------------


def test_a_resource_id_is_read_from_arm_with_its_api_version_and_the_arm_scope() -> None:
    request = parse(resource())
    assert request.poll_url == f"https://management.azure.com{DEPLOYMENT}?api-version=2024-03-01"
    assert request.scope == "https://management.azure.com/.default"
    assert request.operation_id == "main"
    assert request.resource is not None and request.resource.wait_for == "provisioned" and request.resource.is_deployment


@pytest.mark.parametrize(("path", "arm_type", "name"), REAL_RESOURCE_IDS)
def test_every_real_resource_id_of_the_corpus_is_a_valid_request_read_from_arm(path: str, arm_type: str, name: str) -> None:
    request = parse(resource(path))
    assert request.poll_url == f"https://management.azure.com{path}?api-version=2024-03-01"
    assert request.resource is not None and (request.resource.type, request.resource.name) == (arm_type, name)
    assert request.operation_id == name


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        (resource(statusUrl=arm()["statusUrl"]), "resourceId", "cannot be given with 'statusUrl'"),
        ({"source": "arm"}, "statusUrl", "or 'resourceId' instead"),
        ({"source": "arm", "resourceId": DEPLOYMENT}, "resourceId", "needs 'apiVersion'"),
        (resource(f"https://management.azure.com{DEPLOYMENT}"), "resourceId", "a URL"),
        (resource(f"{RG}/../../providers/Microsoft.Authorization/roleAssignments/x"), "resourceId", "'..'"),
        (resource(f"{DEPLOYMENT}?api-version=1&$expand=secrets"), "resourceId", "query"),
        (resource(f"{RG}//providers/Microsoft.Web/sites/a"), "resourceId", "empty segment"),
        (resource(f"{RG}/providers/Microsoft.Web/sites"), "resourceId", "collection"),
        (resource(f"{RG}%2f..%2fx"), "resourceId", "encoded"),
        (resource(f"/subscriptions/{SUBSCRIPTION}"), "resourceId", "subscription"),
        (resource(waitFor="gone"), "waitFor", "provisioned or deleted"),
        (resource(statusHeader="Location"), "statusHeader", "only with 'statusUrl'"),
        (arm(waitFor="deleted"), "waitFor", "only with 'resourceId'"),
        ({"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "w", "operationId": "x", "resourceId": DEPLOYMENT},
         "resourceId", "does not apply"),
        ({**resource(), "poll": {"firstSeenAt": "2026-11-22T12:00:00Z", "statusUrl": arm()["statusUrl"]}}, "poll.statusUrl", "does not apply"),
    ],
)
def test_bad_resource_requests_are_refused_naming_the_field(message: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(message)
    assert caught.value.field == field
    assert words in caught.value.reason and "\n" not in caught.value.reason


@pytest.mark.parametrize("scope", [
    DEPLOYMENT,
    f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Resources/deployments/main",
    "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Resources/deployments/main",
    "/providers/Microsoft.Resources/deployments/main",
])
def test_deployments_at_every_scope_are_watched(scope: str) -> None:
    request = parse(resource(scope))
    assert request.resource is not None and request.resource.is_deployment
    assert request.poll_url.startswith(f"https://management.azure.com{scope}?")


# --- waitFor: provisioned ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "outcome"), [("Succeeded", "Succeeded"), ("succeeded", "Succeeded"), ("FAILED", "Failed"),
                                                ("Canceled", "Canceled")])
def test_a_terminal_provisioning_state_ends_the_watch(state: str, outcome: str) -> None:
    decision = decided(resource(), read(200, body(state)))
    assert isinstance(decision, Publish)
    assert decision.outcome == outcome
    assert decision.result["status"] == state
    assert decision.result["operation"] == {"id": DEPLOYMENT, "name": "main", "type": "Microsoft.Resources/deployments",
                                            "provisioningState": state}
    assert decision.result["operationId"] == "main"
    assert decision.result["statusUrl"] == f"https://management.azure.com{DEPLOYMENT}?api-version=2024-03-01"


@pytest.mark.parametrize("state", ["Accepted", "Creating", "Updating", "Running", "Deleting", "Provisioning", "Cancelled", None])
def test_any_other_state_or_none_is_running(state: str | None) -> None:
    decision = decided(resource(), read(200, body(state)))
    assert isinstance(decision, Reenqueue)
    assert decision.poll.last_status == state


@pytest.mark.parametrize("payload", [
    {"id": DEPLOYMENT, "name": "main"},  # no properties at all
    {"id": DEPLOYMENT, "properties": None},
    {"id": DEPLOYMENT, "properties": ["Succeeded"]},
    {"id": DEPLOYMENT, "properties": {"provisioningState": 3}},
    {"id": DEPLOYMENT, "properties": {"provisioningState": {"value": "Succeeded"}}},
    {"id": DEPLOYMENT, "properties": {"provisioningState": ""}},
    {"provisioningState": "Succeeded"},  # top level is not where ARM puts it
])
def test_a_body_without_a_string_provisioning_state_is_running(payload: dict[str, Any]) -> None:
    decision = decided(resource(), read(200, payload))
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 0 and decision.poll.last_status is None


@pytest.mark.parametrize("status", [201, 202])
def test_a_2xx_that_is_not_200_is_still_being_provisioned(status: int) -> None:
    decision = decided(resource(), read(status, body("Succeeded")))
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 0


@pytest.mark.parametrize(("state", "outcome"), [("canceled", "Canceled"), ("CANCELED", "Canceled"), ("sUcCeEdEd", "Succeeded"),
                                                ("failed", "Failed")])
def test_terminal_states_match_in_any_case_and_status_keeps_the_providers_spelling(state: str, outcome: str) -> None:
    decision = decided(resource(SITE), read(200, body(state)))
    assert isinstance(decision, Publish) and decision.outcome == outcome
    assert decision.result["status"] == state and decision.result["operation"]["provisioningState"] == state


def test_a_canceled_deployment_carries_its_properties_error() -> None:
    error = {"code": "DeploymentCanceled", "message": "The deployment was canceled."}
    decision = decided(resource(), read(200, body("Canceled", error=error)))
    assert isinstance(decision, Publish) and decision.outcome == "Canceled" and decision.result["error"] == error


def test_a_failed_deployment_without_properties_error_names_the_state() -> None:
    decision = decided(resource(), read(200, body("Failed")))
    assert isinstance(decision, Publish) and decision.result["error"]["code"] == "ProvisioningFailed"
    assert decision.result["error"]["target"] == DEPLOYMENT


def test_a_deployment_error_is_normalised_as_any_provider_error() -> None:
    raw = {"code": "DeploymentFailed", "message": "failed", "unknownKey": SECRET, "details": [
        {"code": "Conflict", "message": "taken", "details": [{"code": "Inner", "message": "deeper", "extra": SECRET}]},
        "not an error object",
    ]}
    decision = decided(resource(), read(200, body("Failed", error=raw)))
    assert isinstance(decision, Publish)
    assert decision.result["error"] == {"code": "DeploymentFailed", "message": "failed", "details": [
        {"code": "Conflict", "message": "taken", "details": [{"code": "Inner", "message": "deeper"}]},
        {"message": "not an error object"}]}


def test_a_failed_deployment_carries_its_properties_error_with_details() -> None:
    error = {"code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
             "details": [{"code": "Conflict", "message": "The storage account name is taken.", "target": "sa1"}]}
    decision = decided(resource(), read(200, body("Failed", error=error)))
    assert isinstance(decision, Publish) and decision.outcome == "Failed"
    assert decision.result["error"] == error


def test_a_failed_resource_that_is_not_a_deployment_gets_an_error_naming_the_state() -> None:
    decision = decided(resource(SITE), read(200, body("Failed", error={"code": "NotUsed", "message": SECRET})))
    assert isinstance(decision, Publish) and decision.outcome == "Failed"
    assert decision.result["error"]["code"] == "ProvisioningFailed" and decision.result["error"]["target"] == SITE
    assert SECRET not in json.dumps(decision.result)


def test_404_in_the_grace_period_is_a_resource_being_created_then_polling_failed() -> None:
    early = decided(resource(), read(404, {"error": {"code": "DeploymentNotFound", "message": "not found"}}), 30)
    assert isinstance(early, Reenqueue) and early.poll.failures == 1
    late = decided(resource(), read(404, {"error": {"code": "DeploymentNotFound", "message": "not found"}}), NOT_FOUND_GRACE_SECONDS + 1)
    assert isinstance(late, Publish) and late.outcome == "PollingFailed"
    assert late.result["error"]["httpStatus"] == 404 and late.result["error"]["code"] == "DeploymentNotFound"


@pytest.mark.parametrize("status", [408, 429, 500, 503, None])
def test_transient_reads_are_retried(status: int | None) -> None:
    assert isinstance(decided(resource(), read(status)), Reenqueue)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_permanent_reads_fail_the_watch(status: int) -> None:
    decision = decided(resource(), read(status, {"error": {"code": "AuthorizationFailed", "message": "no"}}))
    assert isinstance(decision, Publish) and decision.outcome == "PollingFailed"


def test_a_body_that_is_not_json_is_a_transient_failure() -> None:
    decision = decided(resource(), read(200, b"<html>"))
    assert isinstance(decision, Reenqueue) and decision.poll.failures == 1


# --- waitFor: deleted --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [10, NOT_FOUND_GRACE_SECONDS * 2])
@pytest.mark.parametrize("status", [404, 204])
def test_deleted_means_gone(status: int, seconds: int) -> None:
    """Gone is gone, in the grace period too: a 404 there is not 'being created'."""
    decision = decided(resource(SITE, waitFor="deleted"), read(status), seconds)
    assert isinstance(decision, Publish) and decision.outcome == "Succeeded"
    assert decision.result["operation"] == {"id": SITE, "name": "app", "type": "Microsoft.Web/sites", "provisioningState": None}
    assert decision.result["error"] is None


@pytest.mark.parametrize("state", ["Deleting", "Succeeded", "Canceled", None])
def test_deleted_waits_while_the_resource_is_there(state: str | None) -> None:
    assert isinstance(decided(resource(SITE, waitFor="Deleted"), read(200, body(state))), Reenqueue)


@pytest.mark.parametrize("state", ["Failed", "failed"])
def test_deleted_ends_failed_when_the_deletion_fails(state: str) -> None:
    decision = decided(resource(SITE, waitFor="deleted"), read(200, body(state)))
    assert isinstance(decision, Publish) and decision.outcome == "Failed"
    assert decision.result["error"]["target"] == SITE


@pytest.mark.parametrize("status", [408, 429, 500, 503, None])
def test_deleted_still_retries_transient_reads(status: int | None) -> None:
    assert isinstance(decided(resource(SITE, waitFor="deleted"), read(status)), Reenqueue)


# --- the projection, never the body ------------------------------------------------------------------------------


@given(
    state=st.sampled_from(["Succeeded", "Failed", "Canceled", "Running", "Deleting"]),
    wait_for=st.sampled_from(["provisioned", "deleted"]),
    extra=st.dictionaries(st.sampled_from(["outputs", "parameters", "connectionString", "template"]), st.just(SECRET), min_size=1),
)
def test_no_property_of_the_body_appears_in_a_result_or_event(state: str, wait_for: str, extra: dict[str, str]) -> None:
    request = parse(resource(waitFor=wait_for))
    payload = body(state, **extra)
    payload["tags"] = {"owner": SECRET}
    payload[SECRET] = SECRET
    decision = decide(request, read(200, payload), later(10), settings(PUBLISH_PROGRESS="true", EVENTGRID_TOPIC_ENDPOINT="https://t.westus-1.eventgrid.azure.net/api/events"))
    if isinstance(decision, Publish):
        written = json.dumps(decision.result) + json.dumps(outcome_event(decision.result, "lro-watcher"))
        assert set(decision.result["operation"]) == {"id", "name", "type", "provisioningState"}
    else:
        written = decision.poll.to_json().__repr__() + request.message_text(decision.poll)
        if decision.progress is not None:
            written += json.dumps(progress_event(decision.progress.event_id, decision.progress.data, "lro-watcher"))
    assert SECRET not in written


# --- the schedule and the eventId --------------------------------------------------------------------------------


def test_resources_are_untimed_but_expected_seconds_applies() -> None:
    wide = settings(POLL_MAX_DELAY_SECONDS="3000")
    untimed = decide(parse(resource()), read(200, body("Running")), later(600), wide)
    hinted = decide(parse(resource(expectedSeconds=3600)), read(200, body("Running")), later(600), wide)
    assert isinstance(untimed, Reenqueue) and isinstance(hinted, Reenqueue)
    assert untimed.delay_seconds < 60  # the untimed curve: deployments report no percentComplete
    assert hinted.delay_seconds > 10 * untimed.delay_seconds  # towards 80 % of the hour


def test_retry_after_on_a_resource_get_is_a_floor() -> None:
    plain = decided(resource(), read(200, body("Running")))
    floored = decided(resource(), read(200, body("Running"), Retry_After="120"))
    assert isinstance(plain, Reenqueue) and isinstance(floored, Reenqueue)
    assert plain.delay_seconds < 120 <= floored.delay_seconds


def test_event_ids_tell_watches_of_one_resource_apart() -> None:
    created = parse(resource(correlationId="run-1"))
    again = parse(resource(correlationId="run-1", apiVersion="2025-01-01"))
    redeploy = parse(resource(correlationId="run-2"))
    deleted = parse(resource(correlationId="run-1", waitFor="deleted"))
    assert event_id(created, "Succeeded") == event_id(again, "Succeeded")
    assert len({event_id(r, "Succeeded") for r in (created, redeploy, deleted)}) == 3
