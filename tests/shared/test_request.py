"""Request parsing: every field rule, both encodings, and one clear sentence per rejection."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.errors import InvalidRequest
from shared.core.message_text import MAX_REQUEST_BYTES
from shared.core.request_parser import RequestParser
from tests.support.builders import SUBSCRIPTION, T0, apim, arm, devcenter, operationalinsights, parse, settings


def rejected(message: Any, config=None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(message, config=config)
    return caught.value


class TestUrls:
    def test_apim_url_percent_encodes_the_location(self) -> None:
        assert parse(apim()).poll_url == (
            f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ApiManagement"
            "/locations/West%20US/operationStatuses/op-1?api-version=2024-05-01"
        )

    def test_operationalinsights_default_api_version(self) -> None:
        request = parse(operationalinsights())
        assert "/providers/Microsoft.OperationalInsights/locations/West%20US/operationStatuses/op-2?api-version=2025-07-01" in request.poll_url
        assert request.scope == "https://management.azure.com/.default"

    def test_devcenter_url_and_scope(self) -> None:
        request = parse(devcenter(endpoint="https://tenant-dc.westus.devcenter.azure.com/"))
        assert request.poll_url == (
            "https://tenant-dc.westus.devcenter.azure.com/projects/myProject/operationstatuses/"
            "fa067167-e49d-41bd-8dd8-de719b9de3b3?api-version=2025-02-01"
        )
        assert request.scope == "https://devcenter.azure.com/.default"

    def test_arm_keeps_its_own_api_version_unless_overridden(self) -> None:
        assert parse(arm()).poll_url.endswith("?api-version=2022-03-01")
        assert parse(arm(apiVersion="2024-01-01")).poll_url.endswith("/op-3?api-version=2024-01-01")
        assert parse(arm()).operation_id == "op-3"

    def test_api_version_override_applies_to_every_source(self) -> None:
        assert parse(apim(apiVersion="2022-08-01")).poll_url.endswith("api-version=2022-08-01")
        assert parse(devcenter(apiVersion="2024-02-01")).poll_url.endswith("api-version=2024-02-01")

    def test_scopes_and_arm_endpoint_follow_settings(self) -> None:
        config = settings(ARM_ENDPOINT="https://management.usgovcloudapi.net", DEVCENTER_SCOPE="https://devcenter.example/.default")
        request = parse(apim(), config=config)
        assert request.poll_url.startswith("https://management.usgovcloudapi.net/subscriptions/")
        assert request.scope == "https://management.usgovcloudapi.net/.default"
        assert parse(devcenter(), config=config).scope == "https://devcenter.example/.default"

    def test_path_fields_are_percent_encoded_segments(self) -> None:
        request = parse(apim(location="north europe", operationId="a b%c"))
        assert "/locations/north%20europe/operationStatuses/a%20b%25c?" in request.poll_url


class TestEncodings:
    def test_base64_of_json_is_accepted(self) -> None:
        text = base64.b64encode(json.dumps(apim()).encode()).decode()
        assert parse(text).poll_url == parse(apim()).poll_url

    def test_bytes_are_accepted(self) -> None:
        assert RequestParser(settings()).parse(json.dumps(apim()).encode(), T0).operation_id == "op-1"

    @pytest.mark.parametrize("text", ["not json", "", "   ", "[1]", "42", "null", base64.b64encode(b"[1]").decode(), "e30"])
    def test_non_objects_are_rejected_naming_the_message(self, text: str) -> None:
        err = rejected(text)
        assert err.field == "message"

    def test_oversized_messages_are_rejected(self) -> None:
        err = rejected(apim(context={"blob": "x" * MAX_REQUEST_BYTES}))
        assert err.field == "context" and f"{MAX_REQUEST_BYTES:,} bytes" in err.reason


class TestRejections:
    @pytest.mark.parametrize(
        ("message", "field", "words"),
        [
            ({"operationId": "x"}, "source", "required"),
            ({"source": "APIM"}, "source", "one of apim"),
            ({"source": 5}, "source", "one of"),
            (apim(subscriptionId="not-a-uuid"), "subscriptionId", "UUID"),
            (apim(subscriptionId=5), "subscriptionId", "must be a string"),
            (apim(location=""), "location", "region"),
            (apim(operationId=""), "operationId", "non-empty"),
            (apim(operationId="a/b"), "operationId", "single path segment"),
            (apim(operationId=".."), "operationId", "single path segment"),
            (apim(location="west\nus"), "location", "single path segment"),
            ({k: v for k, v in apim().items() if k != "location"}, "location", "required for source 'apim'"),
            (operationalinsights(subscriptionId=""), "subscriptionId", "non-empty"),
            (devcenter(projectName="ab"), "projectName", "3-63"),
            (devcenter(projectName="-abc"), "projectName", "3-63"),
            (devcenter(operationId="not-36"), "operationId", "36-character"),
            (devcenter(endpoint="https://evil.example.com"), "endpoint", "not allowed"),
            (devcenter(endpoint="http://tenant-dc.westus.devcenter.azure.com"), "endpoint", "https"),
            (devcenter(endpoint="https://tenant-dc.westus.devcenter.azure.com?x=1"), "endpoint", "query"),
            (arm(statusUrl="https://evil.example.com/subscriptions/x?api-version=1"), "statusUrl", "not allowed"),
            (arm(statusUrl="https://management.azure.com/subscriptions/x/operations/1"), "statusUrl", "api-version"),
            (arm(statusUrl="https://user:pw@management.azure.com/x?api-version=1"), "statusUrl", "user information"),
            (apim(operationID="x"), "operationID", "Did you mean 'operationId'"),
            (apim(subscriptionid=SUBSCRIPTION), "subscriptionid", "Did you mean 'subscriptionId'"),
            (apim(statusUrl="https://management.azure.com/x?api-version=1"), "statusUrl", "does not apply to source 'apim'"),
            (arm(operationId="x"), "operationId", "does not apply to source 'arm'"),
            (apim(apiVersion=""), "apiVersion", "api-version"),
            (apim(apiVersion="2024-01-01&x=y"), "apiVersion", "api-version"),
            (apim(correlationId="c" * 257), "correlationId", "256"),
            (apim(correlationId=7), "correlationId", "must be a string"),
            (apim(context=[1]), "context", "JSON object"),
            (apim(context="x"), "context", "JSON object"),
            (apim(timeoutSeconds=0), "timeoutSeconds", "2592000"),
            (apim(timeoutSeconds=2_592_001), "timeoutSeconds", "2592000"),
            (apim(timeoutSeconds="60"), "timeoutSeconds", "whole number"),
            (apim(timeoutSeconds=1.5), "timeoutSeconds", "whole number"),
            (apim(timeoutSeconds=True), "timeoutSeconds", "whole number"),
            (apim(expectedSeconds=0), "expectedSeconds", "2592000"),
            (apim(expectedSeconds=2_592_001), "expectedSeconds", "2592000"),
            (apim(expectedSeconds="600"), "expectedSeconds", "whole number"),
            (apim(expectedSeconds=600.0), "expectedSeconds", "whole number"),
            (apim(expectedseconds=600), "expectedseconds", "Did you mean 'expectedSeconds'"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "lastPercentComplete": 101}), "poll.lastPercentComplete", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "percentRate": 0}), "poll.percentRate", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "percentRate": 101}), "poll.percentRate", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "percentRate": "0.5"}), "poll.percentRate", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "percentSeenAt": "soon"}), "poll.percentSeenAt", "producers omit"),
            (apim(poll={"polls": 1}), "poll.firstSeenAt", "producers omit"),
            (apim(poll={"firstSeenAt": "yesterday"}), "poll.firstSeenAt", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "polls": -1}), "poll.polls", "producers omit"),
            (apim(poll={"firstSeenAt": "2026-01-01T00:00:00Z", "extra": 1}), "poll.extra", ""),
        ],
    )
    def test_reason_is_one_sentence_naming_the_field(self, message: Any, field: str, words: str) -> None:
        err = rejected(message)
        assert err.field == field
        assert f"'{field}'" in err.reason
        assert words in err.reason
        assert err.reason.endswith(".") and "\n" not in err.reason

    def test_correlation_id_of_256_characters_is_fine(self) -> None:
        assert parse(apim(correlationId="c" * 256)).correlation_id == "c" * 256


def test_defaults_and_echoes() -> None:
    request = parse(apim(correlationId="c", context={"a": [1, {"b": None}]}, timeoutSeconds=90))
    assert request.correlation_id == "c"
    assert request.context == {"a": [1, {"b": None}]}
    assert request.timeout_seconds == 90
    assert request.poll.first_seen_at == T0 and request.poll.polls == 0
    assert parse(apim()).timeout_seconds == 86400
    assert "poll" not in parse(apim(poll={"firstSeenAt": "2026-11-22T11:00:00Z"})).body


# --- property tests -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(["source", "subscriptionId", "location", "operationId", "endpoint", "projectName",
                               "statusUrl", "statusHeader", "apiVersion", "correlationId", "context", "timeoutSeconds",
                               "poll"]) | st.text(max_size=12)
PARSER = RequestParser(settings(STATUS_HOST_ALLOWLIST="*.devcenter.azure.com,127.0.0.1:8080"))
DATAPLANE = {"source": "dataplane", "statusUrl": "https://t-dc.westus.devcenter.azure.com/projects/p/operationstatuses/o?api-version=1"}


def _parse_or_invalid(raw: Any) -> None:
    try:
        request = PARSER.parse(raw, T0)
    except InvalidRequest as err:
        assert err.field and err.reason
        return
    assert request.poll_url.startswith(("https://management.azure.com/", "https://", "http://127.0.0.1:8080/"))


@given(st.dictionaries(field_names, json_values, max_size=8))
def test_arbitrary_json_objects_parse_or_raise_invalid_request(message: dict) -> None:
    _parse_or_invalid(json.dumps(message))


@given(st.sampled_from([apim(), devcenter(), operationalinsights(), arm(), arm(statusHeader="Location"), DATAPLANE]), field_names, json_values)
def test_mutated_valid_requests_parse_or_raise_invalid_request(base: dict, key: str, value: Any) -> None:
    _parse_or_invalid(json.dumps({**base, key: value}))


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_and_text_parse_or_raise_invalid_request(raw: bytes | str) -> None:
    _parse_or_invalid(raw)


@pytest.mark.parametrize(("name", "shown"), [("apim", "apim"), ("arm", "arm"), ("\n", "\\n"), ("a\tb", "a\\tb"), ("x" * 100, "x" * 61 + "...")])
def test_unknown_field_names_are_named_on_one_line(name: str, shown: str) -> None:
    err = rejected({**arm(), name: 1})
    assert err.field == shown
    assert f"Field '{shown}' is not part of the request contract." in err.reason
    assert "\n" not in err.reason


@pytest.mark.parametrize(
    "path",
    [
        "/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/1",
        "/subscriptions/s/providers/Microsoft.Storage/locations/westus/asyncoperations/1",
        "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Resources/deployments/d/operationStatuses/1",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/x/azureAsyncOperation/1",
        "/subscriptions/s/providers/Microsoft.DocumentDB/locations/westus/operationsStatus/1",
        "/providers/Microsoft.Management/operationResults/1",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/locations/eastus/databaseOperationResults/1",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/locations/eastus/databaseAzureAsyncOperation/1",
        "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Resources/deployments/d/operationStatuses/1",
    ],
)
def test_arm_status_urls_are_async_operation_resources(path: str) -> None:
    assert parse(arm(statusUrl=f"https://management.azure.com{path}?api-version=1")).operation_id == "1"


@pytest.mark.parametrize(
    "path",
    [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app/config/appsettings",
        "/subscriptions/s",
        "/operations/1",
        "/tenants/t/operations/1",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces",
        "/subscriptions/s/resourceGroups/operations-rg",
        "/subscriptions/s/resourceGroups/operations",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationsManagement/solutions/x",
        "/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations",
    ],
)
def test_arm_status_urls_cannot_read_other_resources(path: str) -> None:
    err = rejected(arm(statusUrl=f"https://management.azure.com{path}?api-version=1"))
    assert err.field == "statusUrl" and "async-operation" in err.reason


def test_expected_seconds_is_an_optional_hint_for_every_source() -> None:
    for message in (apim(expectedSeconds=600), devcenter(expectedSeconds=1), arm(expectedSeconds=2_592_000)):
        assert parse(message).expected_seconds == message["expectedSeconds"]
        assert parse(message).body["expectedSeconds"] == message["expectedSeconds"]  # re-enqueued as is
    assert parse(apim()).expected_seconds is None


# --- statusHeader, dataplane, poll.statusUrl ------------------------------------------------------------


class TestStatusHeaderAndDataplane:
    @pytest.mark.parametrize(("message", "header"), [(arm(), "Azure-AsyncOperation"), (DATAPLANE, "Operation-Location"),
                                                     (apim(), "Azure-AsyncOperation"), (devcenter(), "Operation-Location")])
    def test_defaults(self, message: dict, header: str) -> None:
        assert parse(message).status_header == header

    @pytest.mark.parametrize("value", ["operation-location", "AZURE-ASYNCOPERATION", "Location"])
    def test_any_case_is_accepted_and_canonicalised(self, value: str) -> None:
        assert parse(arm(statusHeader=value)).status_header in ("Operation-Location", "Azure-AsyncOperation", "Location")
        assert parse({**DATAPLANE, "statusHeader": value}).status_header.lower() == value.lower()

    @pytest.mark.parametrize("value", ["Retry-After", "", "Location ", "Azure-Async-Operation", 7])
    def test_anything_else_names_the_field(self, value: Any) -> None:
        err = rejected(arm(statusHeader=value))
        assert err.field == "statusHeader" and "statusHeader" in err.reason

    def test_status_header_does_not_apply_to_seeded_sources(self) -> None:
        err = rejected(apim(statusHeader="Location"))
        assert err.field == "statusHeader" and "does not apply" in err.reason

    def test_dataplane_host_must_match_a_pattern(self) -> None:
        err = rejected({**DATAPLANE, "statusUrl": "https://evil.example/operations/1?api-version=1"})
        assert err.field == "statusUrl" and "evil.example" in err.reason

    def test_dataplane_needs_an_api_version(self) -> None:
        url = DATAPLANE["statusUrl"].split("?")[0]
        assert rejected({**DATAPLANE, "statusUrl": url}).field == "statusUrl"
        assert parse({**DATAPLANE, "statusUrl": url, "apiVersion": "2025-02-01"}).poll_url == url + "?api-version=2025-02-01"

    @pytest.mark.parametrize(
        "url",
        ["http://t-dc.westus.devcenter.azure.com/o?api-version=1", "https://u@t-dc.westus.devcenter.azure.com/o?api-version=1",
         "https://t-dc.westus.devcenter.azure.com:444/o?api-version=1", "https://devcenter.azure.com/o?api-version=1",
         "https://t-dc.westus.devcenter.azure.com/a/../o?api-version=1", "https://t-dc.westus.devcenter.azure.com/o#x"],
    )
    def test_dataplane_urls_obey_the_token_rules(self, url: str) -> None:
        assert rejected({**DATAPLANE, "statusUrl": url}).field == "statusUrl"

    def test_dataplane_on_a_host_no_pattern_covers_is_invalid(self) -> None:
        # (A DATAPLANE_HOSTS of separators only is a setting error: tests/shared/test_settings_messages.py.)
        err = rejected(DATAPLANE, config=settings(DATAPLANE_HOSTS="*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default"))
        assert err.field == "statusUrl" and "DATAPLANE_HOSTS" in err.reason

    def test_dataplane_does_not_take_template_fields(self) -> None:
        assert rejected({**DATAPLANE, "operationId": "x"}).field == "operationId"
        assert rejected({"source": "dataplane"}).field == "statusUrl"

    def test_poll_status_url_is_checked_again_by_the_same_rules(self) -> None:
        moved = arm()["statusUrl"].replace("op-3", "op-4")
        poll = {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 2, "statusUrl": moved}
        request = parse(arm(statusHeader="Location", poll=poll))
        assert request.poll_url == moved and request.producer_url == arm()["statusUrl"] and request.operation_id == "op-3"
        assert request.poll.poll_url == moved
        for bad in ("https://management.azure.com/subscriptions/x/resourceGroups/y?api-version=1",
                    "http://127.0.0.1:1/subscriptions/x/providers/p/operationResults/z?api-version=1", 12):
            err = rejected(arm(statusHeader="Location", poll={**poll, "statusUrl": bad}))
            assert err.field == "poll.statusUrl", err.reason


def test_computes_monitor_location_is_an_operation() -> None:
    url = ("https://management.azure.com/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/"
           "840391d3-fe88-4cfd-8866-da9cf84e5fb8?monitor=true&api-version=2017-03-30")
    assert parse(arm(statusUrl=url, statusHeader="Location")).operation_id == "840391d3-fe88-4cfd-8866-da9cf84e5fb8"


@pytest.mark.parametrize(
    ("message", "setting"),
    [
        (arm(statusUrl=f"https://evil.example.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/o?api-version=1"), "ARM_ENDPOINT"),
        (devcenter(endpoint="https://evil.example.com/"), "STATUS_HOST_ALLOWLIST"),
        ({"source": "dataplane", "statusUrl": "https://evil.example.com/operations/o?api-version=1"}, "DATAPLANE_HOSTS"),
    ],
)
def test_a_host_refusal_names_the_setting_that_lists_the_allowed_hosts(message: dict[str, Any], setting: str) -> None:
    """The poison reason says where to look (issue 21 item 4): the setting that decides, for the watcher's own entries too."""
    err = rejected(message)
    assert "not allowed to receive a token" in err.reason and f"({setting} names the hosts that are)" in err.reason
