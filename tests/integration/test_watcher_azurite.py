"""The Watcher, in process, on real Azurite queues and the loopback simulator.

Checks what only real storage shows: the re-enqueued copy is invisible for the
delay and outlives the deadline, every message written is raw JSON text, the
poison entry's shape, and the tokens each audience gets (a real
ManagedIdentityCredential against the simulator's App Service identity endpoint).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from shared.edges.http import HttpxTransport
from shared.runtime import build_watcher
from tests.support import QueueSet
from tools.dev.sim import Simulator

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEVCENTER_OP = "fa067167-e49d-41bd-8dd8-de719b9de3b3"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def env(sim: Simulator, queues: QueueSet, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    for name in ("AZURE_CLIENT_ID", "MSI_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    queues.create()
    return {
        **queues,
        "ARM_ENDPOINT": sim.base_url,
        "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
        "IDENTITY_ENDPOINT": sim.identity_endpoint,
        "IDENTITY_HEADER": sim.identity_header,
        "POLL_MIN_DELAY_SECONDS": "5",
        "POLL_MAX_DELAY_SECONDS": "300",
    }


@pytest.fixture
def watcher(env: dict[str, str]):
    with closing(HttpxTransport(timeout_seconds=5)) as http:
        yield build_watcher(env, http=http)


def apim(**extra):
    return {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "op-a", **extra}


def test_running_operation_is_reenqueued_invisible_for_at_least_the_hinted_delay(watcher, sim: Simulator, queues: QueueSet) -> None:
    sim.script("op-a", [{"status": "InProgress", "retryAfter": "120"}])
    handled = watcher.handle(json.dumps(apim(timeoutSeconds=3600)), 1)
    assert handled.action == "reenqueued" and handled.delay_seconds is not None
    assert 120 <= handled.delay_seconds <= 126  # Retry-After is a floor; the schedule adds up to 5 % of jitter
    assert queues.peek(queues.operations) == []  # invisible: the delay is a visibility timeout
    assert list(queues.client(queues.operations).receive_messages(max_messages=32)) == []
    assert queues.count(queues.operations) == 1  # but there
    assert queues.take_all(queues.results) == [] and queues.take_all(queues.poison) == []


def test_reenqueued_copy_is_raw_json_with_bookkeeping_and_a_long_ttl(env, sim: Simulator, queues: QueueSet) -> None:
    env = {**env, "POLL_MIN_DELAY_SECONDS": "0", "POLL_MAX_DELAY_SECONDS": "0"}
    sim.script("op-a", [{"status": "InProgress", "percentComplete": 30}])
    with closing(HttpxTransport(timeout_seconds=5)) as http:
        watcher = build_watcher(env, http=http)
        before = datetime.now(UTC)
        watcher.handle(base64.b64encode(json.dumps(apim(correlationId="c-1", timeoutSeconds=600)).encode()), 1)
    [message] = list(queues.client(queues.operations).receive_messages(max_messages=1))
    body = json.loads(message.content)  # raw JSON, not base64, even though the producer sent base64
    assert body["correlationId"] == "c-1" and body["timeoutSeconds"] == 600
    assert body["poll"]["polls"] == 1 and body["poll"]["lastStatus"] == "InProgress" and body["poll"]["failures"] == 0
    assert message.dequeue_count == 1
    assert message.expires_on - before > timedelta(seconds=600 + 6 * 24 * 3600)


def test_terminal_operation_publishes_one_raw_json_result(watcher, sim: Simulator, queues: QueueSet) -> None:
    sim.script("op-a", [{"status": "Failed", "error": {"code": "ValidationError", "message": "bad sku"}}])
    assert watcher.handle(json.dumps(apim(correlationId="c", context={"k": 1})), 1).outcome == "Failed"
    [text] = queues.take_all(queues.results)
    result = json.loads(text)
    assert result["outcome"] == "Failed" and result["status"] == "Failed"
    assert result["error"]["code"] == "ValidationError" and result["error"]["message"] == "bad sku"
    assert result["correlationId"] == "c" and result["context"] == {"k": 1}
    assert result["operation"]["name"] == "op-a"
    assert queues.peek(queues.operations) == [] and queues.count(queues.operations) == 0


def test_invalid_request_goes_to_poison_and_nothing_is_requested(watcher, sim: Simulator, queues: QueueSet) -> None:
    raw = json.dumps(apim(subscriptionId="nope", correlationId="c-bad"))
    assert watcher.handle(raw, 1, message_id="0442c9da-1111").action == "poisoned"
    [entry] = queues.take_all_json(queues.poison)
    assert set(entry) == {"reason", "original", "rejectedAt", "messageId", "correlationId"}
    assert (entry["messageId"], entry["correlationId"]) == ("0442c9da-1111", "c-bad"), "the ids the log line names"
    assert entry["original"] == raw
    assert "'subscriptionId'" in entry["reason"]
    datetime.fromisoformat(entry["rejectedAt"].replace("Z", "+00:00"))
    assert sim.requests() == []  # not even a token request
    assert queues.take_all(queues.results) == []


def test_each_audience_gets_its_own_token(watcher, sim: Simulator, queues: QueueSet) -> None:
    sim.script("op-a", [{"status": "Succeeded"}])
    sim.script(DEVCENTER_OP, [{"status": "Succeeded"}])
    watcher.handle(json.dumps(apim()), 1)
    watcher.handle(json.dumps({"source": "devcenter", "endpoint": sim.base_url, "projectName": "proj", "operationId": DEVCENTER_OP}), 1)
    watcher.handle(json.dumps(apim()), 1)
    status = [r for r in sim.requests() if r["route"] in ("apim", "devcenter")]
    assert [(r["route"], r["status"]) for r in status] == [("apim", 200), ("devcenter", 200), ("apim", 200)]
    assert status[0]["audience"].rstrip("/") == sim.base_url  # ARM_SCOPE follows ARM_ENDPOINT
    assert status[1]["audience"] == "https://devcenter.azure.com"
    # one token per audience, cached: the second apim read asked the identity endpoint nothing
    assert len(sim.requests(route="msi")) == 2


def test_a_revoked_token_is_refreshed_once(watcher, sim: Simulator, queues: QueueSet) -> None:
    sim.script("op-a", [{"status": "InProgress"}, {"status": "Succeeded"}])
    watcher.handle(json.dumps(apim()), 1)
    sim.revoke_tokens()
    assert watcher.handle(json.dumps(apim()), 1).outcome == "Succeeded"
    assert [r["status"] for r in sim.requests(route="apim")] == [200, 401, 200]
    assert len(sim.requests(route="msi")) == 2


def test_no_redirect_is_followed(watcher, sim: Simulator, queues: QueueSet) -> None:
    with Simulator() as trap:
        sim.script("op-a", [{"redirect": f"{trap.base_url}/steal"}])
        assert watcher.handle(json.dumps(apim()), 1).outcome == "PollingFailed"
        assert trap.requests() == []
    [result] = queues.take_all_json(queues.results)
    assert result["error"]["code"] == "RedirectNotFollowed" and result["error"]["httpStatus"] == 302


def test_a_low_read_budget_on_the_wire_defers_the_next_read_unread(watcher, sim: Simulator, queues: QueueSet) -> None:
    """ARM's budget headers, as the simulator sends them, reach the gate: after an answer with 3 reads
    left, the next read of the same subscription is not sent; its copy waits on the queue for its slot."""
    low = {"x-ms-ratelimit-remaining-subscription-reads": "3",
           "x-ms-routing-request-id": "WESTUS:20260101T000000Z:00000000-0000-0000-0000-000000000000"}
    sim.script("op-a", [{"status": "InProgress", "headers": low}])
    sim.script("op-b", [{"status": "Succeeded"}])
    assert watcher.handle(json.dumps(apim(timeoutSeconds=3600)), 1).action == "reenqueued"
    handled = watcher.handle(json.dumps(apim(operationId="op-b", timeoutSeconds=3600)), 1)
    assert handled.action == "deferred" and sim.polls("op-b") == 0  # no ARM read spent
    assert queues.count(queues.operations) == 2 and queues.take_all(queues.results) == []


def test_the_simulator_answers_with_arms_budget_headers(sim: Simulator) -> None:
    import httpx

    from tools.dev.sim.server import ARM_BUDGET_HEADERS

    url = f"{sim.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ApiManagement/locations/westus/operationStatuses/x"
    answer = httpx.get(url, params={"api-version": "2022-08-01"})  # unauthenticated: 401, still ARM's headers
    assert {k: answer.headers.get(k) for k in ARM_BUDGET_HEADERS} == ARM_BUDGET_HEADERS


def test_a_63_kib_request_with_a_70_kb_status_reenqueues_within_storages_limit(watcher, sim: Simulator, queues: QueueSet) -> None:
    """Azurite counts the UTF-8 bytes of the message text against 64 KiB, as Storage does: the copy keeps a prefix."""
    base = len(json.dumps(apim(context={"blob": ""}), separators=(",", ":")))
    request = apim(context={"blob": "x" * (63 * 1024 - base)})
    sim.script("op-a", [{"status": "Running-" + "é" * 35_000}])
    handled = watcher.handle(json.dumps(request, separators=(",", ":")), 1)
    assert handled.action == "reenqueued"
    assert queues.count(queues.operations) == 1 and queues.take_all(queues.poison) == []
