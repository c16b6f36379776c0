"""Each decision made in one place (issue 23 item 1): the survivors, and that every caller gets the same answer.

* which credential: :mod:`shared.edges.credentials` for the app and identity-based queue storage;
* a moved URL: :meth:`StatusUrlRules.moved` for the parser's ``poll.statusUrl`` and decide's ``Location``;
* the CloudEvent envelope: :mod:`shared.core.cloud_events`; every event id from :func:`operation_key`;
* ``MAX_TIMEOUT_SECONDS``: settings, the request model, its error sentences and the schema;
* the two UUID patterns, each named for what it matches; URL redaction: :func:`shown_url`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared import runtime
from shared.core.cloud_events import outcome_event, progress_event
from shared.core.decide import Publish, decide
from shared.core.errors import InvalidRequest, SettingsError
from shared.core.interpretation import StatusAnswer
from shared.core.poll_state import PollState
from shared.core.request_model import REQUEST_ADAPTER
from shared.core.result import build_result, event_id, progress_event_id, request_key
from shared.core.result_model import EVENT_ID_PATTERN
from shared.core.settings import MAX_TIMEOUT_SECONDS, load_settings
from shared.core.sources import SUBSCRIPTION_ID_PATTERN
from shared.core.status_urls import shown_url
from shared.core.storage_connection import storage_connection_from_environ
from shared.edges import credentials
from shared.edges.credentials import Identity, app_identity, storage_identity
from tests.support.builders import SUBSCRIPTION, T0, apim, arm, parse, settings

CONFIG = settings(DATAPLANE_HOSTS="*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default;"
                                  "*.purview.azure.com=https://purview.azure.net/.default")
COGNITIVE = "https://acct.cognitiveservices.azure.com/formrecognizer/operations/op-9?api-version=2024-11-30"
PURVIEW = "https://acct.purview.azure.com/scan/operations/o1?api-version=2023-09-01"
ARM_OPERATION = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus"
                 "/operationResults/moved?api-version=2022-03-01")


# -- which credential ---------------------------------------------------------------------------------------------


class Recorded:
    """Stands in for :func:`credentials.credential_for`: one object per identity asked for."""

    def __init__(self) -> None:
        self.asked: list[Identity] = []

    def __call__(self, identity: Identity, *, timeout_seconds: float = 30.0) -> object:
        self.asked.append(identity)
        return type("Credential", (), {"identity": identity, "get_token": lambda *a, **k: None})()


IDENTITY_STORAGE = {
    "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
    "AzureWebJobsStorage__credential": "managedidentity",
    "IDENTITY_ENDPOINT": "http://169.254.169.254/msi/token",
}


def test_the_app_and_its_queues_share_one_credential_when_they_name_one_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded()
    monkeypatch.setattr(credentials, "credential_for", recorded)
    env = {**IDENTITY_STORAGE, "AZURE_CLIENT_ID": "id-a", "AzureWebJobsStorage__clientId": "id-a"}
    watcher = runtime.build_watcher(env, http=object())  # type: ignore[arg-type]
    assert recorded.asked == [Identity("id-a", managed=True)]
    assert watcher.queues.operations.credential.identity == Identity("id-a", managed=True)  # type: ignore[attr-defined]


def test_queue_storage_uses_its_own_client_id_when_it_names_another_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded()
    monkeypatch.setattr(credentials, "credential_for", recorded)
    env = {**IDENTITY_STORAGE, "AZURE_CLIENT_ID": "id-app", "AzureWebJobsStorage__clientId": "id-storage"}
    watcher = runtime.build_watcher(env, http=object())  # type: ignore[arg-type]
    assert recorded.asked == [Identity("id-app", managed=True), Identity("id-storage", managed=True)]
    assert watcher.queues.operations.credential.identity.client_id == "id-storage"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "identity"),
    [
        ({}, Identity(None, managed=False)),
        ({"AZURE_CLIENT_ID": " id-1 "}, Identity("id-1", managed=False)),
        ({"IDENTITY_ENDPOINT": "http://x"}, Identity(None, managed=True)),
        ({"MSI_ENDPOINT": "http://x", "AZURE_CLIENT_ID": "id-2"}, Identity("id-2", managed=True)),
    ],
)
def test_the_apps_identity_comes_from_azure_identitys_own_settings(env: dict[str, str], identity: Identity) -> None:
    assert app_identity(env) == identity


def test_queue_storage_identity_is_the_hosts_reading_of_azurewebjobsstorage() -> None:
    assert storage_identity(storage_connection_from_environ({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})) is None
    connection = storage_connection_from_environ({"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net"})
    assert storage_identity(connection) == Identity(None, managed=False)
    connection = storage_connection_from_environ({**IDENTITY_STORAGE, "AzureWebJobsStorage__clientId": "c"})
    assert storage_identity(connection) == Identity("c", managed=True)


def test_the_credential_class_follows_the_identity() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    assert isinstance(credentials.credential_for(Identity("c", managed=True)), ManagedIdentityCredential)
    assert isinstance(credentials.credential_for(Identity(None, managed=False)), DefaultAzureCredential)


# -- a moved URL --------------------------------------------------------------------------------------------------


def _parser_accepts(message: dict[str, Any], moved: str) -> bool:
    try:
        parse({**message, "poll": {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 1, "statusUrl": moved}}, config=CONFIG)
    except InvalidRequest as err:
        assert err.field == "poll.statusUrl", err.reason
        return False
    return True


def _decide_follows(message: dict[str, Any], moved: str) -> bool:
    request = parse(message, config=CONFIG)
    decision = decide(request, StatusAnswer(202, {"location": moved}), T0, CONFIG)
    if isinstance(decision, Publish):
        assert decision.result["error"] is not None and decision.result["error"]["code"] == "LocationRefused"
        return False
    return decision.poll.poll_url == moved


def test_a_moved_poll_status_url_may_not_change_the_token_scope() -> None:
    """The parser held a carried ``poll.statusUrl`` to the rules but not to the operation's scope; decide did both."""
    message = {"source": "dataplane", "statusUrl": COGNITIVE, "statusHeader": "Location"}
    with pytest.raises(InvalidRequest) as caught:
        parse({**message, "poll": {"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 1, "statusUrl": PURVIEW}}, config=CONFIG)
    assert caught.value.field == "poll.statusUrl" and "acct.purview.azure.com" in caught.value.reason


@pytest.mark.parametrize(
    ("message", "moved"),
    [
        ({"source": "dataplane", "statusUrl": COGNITIVE, "statusHeader": "Location"}, PURVIEW),
        ({"source": "dataplane", "statusUrl": COGNITIVE, "statusHeader": "Location"}, COGNITIVE.replace("acct.", "acct2.")),
        ({"source": "dataplane", "statusUrl": COGNITIVE, "statusHeader": "Location"}, "https://evil.example/operations/1?api-version=1"),
        (arm(statusHeader="Location"), ARM_OPERATION),
        (arm(statusHeader="Location"), ARM_OPERATION.replace("operationResults/moved", "resourceGroups/rg")),
        (arm(statusHeader="Location"), ARM_OPERATION.replace("https://", "http://")),
        (arm(statusHeader="Location"), ARM_OPERATION.replace("management.azure.com", "user:pw@management.azure.com")),
    ],
)
def test_the_parser_and_decide_agree_on_every_moved_url(message: dict[str, Any], moved: str) -> None:
    assert _parser_accepts(message, moved) == _decide_follows(message, moved)


# -- the CloudEvent envelope and the ids ----------------------------------------------------------------------------


def test_outcome_and_progress_events_share_one_envelope() -> None:
    request = parse(apim())
    result = build_result(request, "Succeeded", PollState(T0, polls=2), T0, body={"status": "Succeeded"}, error=None)
    outcome = outcome_event(result, "lro-watcher")
    progress = progress_event("p-1", {"statusUrl": result["statusUrl"], "observedAt": "2026-11-22T12:00:00.000Z"}, "lro-watcher")
    assert outcome.keys() == progress.keys()
    assert outcome["subject"] == progress["subject"] == "/" + result["statusUrl"].split("/", 3)[3].split("?")[0]
    assert (outcome["type"], progress["type"]) == ("LroWatcher.Operation.Succeeded", "LroWatcher.Operation.Progress")
    assert outcome["specversion"] == progress["specversion"] == "1.0" and outcome["source"] == progress["source"]


def test_progress_ids_follow_the_operation_not_the_url_it_moved_to() -> None:
    """event ids hashed the producer's URL and progress ids the URL polled now: after a move they disagreed."""
    unmoved = parse(arm(statusHeader="Location"))
    moved = parse(arm(statusHeader="Location", poll={"firstSeenAt": "2026-11-22T12:00:00Z", "polls": 3, "statusUrl": ARM_OPERATION}))
    assert moved.poll_url != unmoved.poll_url and request_key(moved) == request_key(unmoved)
    assert progress_event_id(moved, 4) == progress_event_id(unmoved, 4) != progress_event_id(unmoved, 5)
    assert event_id(moved, "Succeeded") == event_id(unmoved, "Succeeded")


def test_one_resource_watched_twice_gets_distinct_event_and_progress_ids() -> None:
    resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Resources/deployments/main"
    first = parse({"source": "arm", "resourceId": resource_id, "apiVersion": "2024-03-01", "correlationId": "run-1"})
    second = parse({"source": "arm", "resourceId": resource_id, "apiVersion": "2024-03-01", "correlationId": "run-2"})
    assert event_id(first, "Succeeded") != event_id(second, "Succeeded")
    assert progress_event_id(first, 1) != progress_event_id(second, 1)


# -- limits and patterns, each defined once --------------------------------------------------------------------------


def test_the_timeout_limit_is_one_number_everywhere() -> None:
    assert parse(apim(timeoutSeconds=MAX_TIMEOUT_SECONDS)).timeout_seconds == MAX_TIMEOUT_SECONDS
    with pytest.raises(InvalidRequest) as caught:
        parse(apim(timeoutSeconds=MAX_TIMEOUT_SECONDS + 1))
    assert f"from 1 to {MAX_TIMEOUT_SECONDS} " in caught.value.reason
    assert load_settings({"POLL_DEFAULT_TIMEOUT_SECONDS": str(MAX_TIMEOUT_SECONDS)}, require_storage=False)
    with pytest.raises(SettingsError):
        load_settings({"POLL_DEFAULT_TIMEOUT_SECONDS": str(MAX_TIMEOUT_SECONDS + 1)}, require_storage=False)
    schema = json.dumps(REQUEST_ADAPTER.json_schema())
    assert f'"maximum": {MAX_TIMEOUT_SECONDS}' in schema and f'"maximum": {MAX_TIMEOUT_SECONDS + 1}' not in schema


def test_each_uuid_pattern_is_named_for_what_it_matches() -> None:
    upper = SUBSCRIPTION.upper().replace("0", "A")
    assert re.match(SUBSCRIPTION_ID_PATTERN, upper) and not re.match(EVENT_ID_PATTERN, upper)
    assert re.match(EVENT_ID_PATTERN, event_id(parse(apim()), "Succeeded"))


# -- URL redaction ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [202, 302])
def test_a_url_in_a_message_never_shows_user_information_or_query(status: int) -> None:
    target = "https://user:hunter2@evil.example:8443/p/operations/1?sig=s3cret&api-version=1"
    decision = decide(parse(arm(statusHeader="Location")), StatusAnswer(status, {"location": target}), T0, CONFIG)
    assert isinstance(decision, Publish)
    error = decision.result["error"]
    assert error is not None and "evil.example:8443" in error["message"]
    assert "hunter2" not in error["message"] and "s3cret" not in error["message"] and "user:" not in error["message"]
    assert shown_url(target) == "https://evil.example:8443/p/operations/1"
    assert shown_url(target, host_only=True) == "evil.example:8443"
    assert shown_url("http://[::1") == "(unparseable URL)"
