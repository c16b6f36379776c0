"""python -m tools.start against the simulator: a real DefaultAzureCredential, ARM's answers, Azurite's queue.

The credential is azure-identity's own ``DefaultAzureCredential``: with ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` set it signs in through the App Service managed-identity endpoint, which the
simulator plays (as a workload in Azure would). Each case scripts a resource's answer to the
start (AAO, 201 with only a provisioningState, Location, synchronous 200, 409) and checks what
was sent, what was enqueued, what was printed — and that the token never was.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueSet
from tests.support.e2e import clear_inherited_settings, fast_host_json, watcher_settings
from tests.support.processes import start_run_local
from tools.dev.sim import Simulator
from tools.ops import start
from tools.ops._cli import CliError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/web-rg"
DEPLOYMENT = f"{RG}/providers/Microsoft.Resources/deployments/main"
SITE = f"{RG}/providers/Microsoft.Web/sites/app1"
#: Issue 19: Azure-AsyncOperation, then Operation-Location, then Location (azure-core's order too).
PREFERRED = ("Azure-AsyncOperation", "Operation-Location", "Location")
CONFLICT = {"code": "DeploymentActive", "message": "The deployment 'main' is\nalready running."}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Any:
    clear_inherited_settings(monkeypatch)
    with Simulator() as simulator:
        # DefaultAzureCredential reads the process environment: the App Service MSI endpoint is the simulator's.
        monkeypatch.setenv("IDENTITY_ENDPOINT", simulator.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", simulator.identity_header)
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        yield simulator


def env_of(sim: Simulator, queues: QueueSet, **extra: str) -> dict[str, str]:
    queues.create()
    return {**queues, "ARM_ENDPOINT": sim.base_url, "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}", **extra}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = start.main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def enqueued(queues: QueueSet) -> list[dict[str, Any]]:
    return queues.take_all_json(queues.operations) if queues.count(queues.operations) else []


def writes(sim: Simulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["route"] == "resource" and r["method"] != "GET"]


def no_token_in(sim: Simulator, *texts: str) -> None:
    token = sim.issue_token("https://management.azure.com")  # every simulator token starts with this JWT header
    prefix = token.split(".")[0]
    for text in texts:
        assert "Bearer" not in text and (len(prefix) < 8 or prefix not in text)


def test_put_answered_with_azure_asyncoperation_enqueues_that_status_url(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    sim.script_resource(DEPLOYMENT, answers={"PUT": {"style": "aao", "http": 201, "state": "Accepted"}})
    body = {"properties": {"mode": "Incremental", "template": {"resources": []}}}
    (tmp_path / "deployment.json").write_text(json.dumps(body), encoding="utf-8")
    code, out, err = run(capsys, env_of(sim, queues), "--method", "put", "--url", f"{DEPLOYMENT}?api-version=2024-03-01",
                         "--body", f"@{tmp_path / 'deployment.json'}", "--correlation-id", "run-7", "--expected-seconds", "300")
    assert code == 0, err
    [sent] = writes(sim)
    assert sent["method"] == "PUT" and sent["audience"] == sim.base_url and sent["authMode"] == "bearer"
    [request] = enqueued(queues)
    assert request == {"source": "arm", "statusHeader": "Azure-AsyncOperation", "correlationId": "run-7", "expectedSeconds": 300,
                       "statusUrl": f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Resources/locations/westus/"
                                    "operationStatuses/main-put-1?api-version=2024-03-01"}
    assert "with Azure-AsyncOperation" in out and "correlationId: run-7" in out
    no_token_in(sim, out, err)


def test_put_answered_201_with_only_a_provisioning_state_enqueues_a_resource_request(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str],
) -> None:
    sim.script_resource(SITE, answers={"PUT": {"style": "none", "http": 201, "state": "Creating"}})
    code, out, err = run(capsys, env_of(sim, queues), "--method", "PUT", "--url", f"{SITE}?api-version=2023-12-01",
                         "--body", '{"location": "westus", "properties": {}}')
    assert code == 0, err
    [request] = enqueued(queues)
    assert request["resourceId"] == SITE and request["apiVersion"] == "2023-12-01" and "statusUrl" not in request
    assert request["correlationId"].startswith("start-") and f"correlationId: {request['correlationId']}" in out
    assert "watching the resource" in out


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_post_and_delete_answered_with_location_enqueue_a_location_request(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str], method: str,
) -> None:
    sim.script_resource(SITE, answers={method: {"style": "location"}})
    url = f"{SITE}/restart?api-version=2023-12-01" if method == "POST" else f"{SITE}?api-version=2023-12-01"
    code, out, err = run(capsys, env_of(sim, queues), "--method", method, "--url", url)
    assert code == 0, err
    [request] = enqueued(queues)
    assert request["statusHeader"] == "Location"
    assert "/operationResults/app1-" in request["statusUrl"]


def test_arms_usual_pair_azure_asyncoperation_and_location_is_watched_by_azure_asyncoperation(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str],
) -> None:
    """ARM answers most async PUTs and DELETEs with both headers; the status body behind Azure-AsyncOperation wins."""
    location = f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/other?api-version=2023-12-01"
    sim.script_resource(SITE, answers={"DELETE": {"style": "aao", "http": 202, "headers": {"Location": location}}})
    code, out, err = run(capsys, env_of(sim, queues), "--method", "DELETE", "--url", f"{SITE}?api-version=2023-12-01")
    assert code == 0, err
    [request] = enqueued(queues)
    assert request["statusHeader"] == "Azure-AsyncOperation" and "/operationStatuses/app1-delete-1" in request["statusUrl"]
    assert "with Azure-AsyncOperation" in out


def test_operation_location_is_preferred_to_location(sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str]) -> None:
    operation = f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationStatuses/ol-1?api-version=2023-12-01"
    sim.script_resource(SITE, answers={"POST": {"style": "location", "headers": {"Operation-Location": operation}}})
    code, _, err = run(capsys, env_of(sim, queues), "--method", "POST", "--url", f"{SITE}/restart?api-version=2023-12-01")
    assert code == 0, err
    [request] = enqueued(queues)
    assert request["statusHeader"] == "Operation-Location" and request["statusUrl"] == operation


@pytest.mark.parametrize("names", [names for size in (1, 2, 3) for names in itertools.combinations(PREFERRED, size)])
def test_the_first_async_header_in_the_preferred_order_wins(names: tuple[str, ...]) -> None:
    target = start.Target(f"https://management.azure.com{SITE}?api-version=2023-12-01", "arm", "https://management.azure.com/.default")
    headers = {name.lower(): f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/"
                             f"operationResults/{name}?api-version=2023-12-01" for name in reversed(names)}
    watch = start._watch_request("PUT", target, 201, headers, b'{"properties": {"provisioningState": "Accepted"}}')
    assert isinstance(watch, dict) and watch["statusHeader"] == names[0] and watch["statusUrl"].endswith(f"/{names[0]}?api-version=2023-12-01")


@pytest.mark.parametrize(("method", "status", "state", "expected"), [
    ("PUT", 201, "Accepted", {"resourceId": SITE}),
    ("PUT", 200, "Updating", {"resourceId": SITE}),
    ("PATCH", 202, None, {"resourceId": SITE}),
    ("DELETE", 202, None, {"resourceId": SITE, "waitFor": "deleted"}),
    ("PUT", 200, "Succeeded", "PUT answered 200 without an async header: provisioningState Succeeded, nothing to watch"),
    ("PUT", 201, "canceled", "PUT answered 201 without an async header: provisioningState canceled, nothing to watch"),
    ("PUT", 201, None, "PUT answered 201 without an async header and no provisioningState: done, nothing to watch"),
    ("PUT", 204, None, "PUT answered 204 without an async header: done, nothing to watch"),
    ("POST", 200, None, "POST answered 200 without an async header: done, nothing to watch"),
    ("DELETE", 204, None, "DELETE answered 204 without an async header: done, nothing to watch"),
    ("DELETE", 200, "Deleting", "DELETE answered 200 without an async header: done (provisioningState Deleting), nothing to watch"),
])
def test_an_answer_without_async_headers(method: str, status: int, state: str | None, expected: dict[str, str] | str) -> None:
    """No header: a PUT/PATCH still provisioning is a resourceId request, a DELETE 202 one until deleted, the rest is done."""
    target = start.Target(f"https://management.azure.com{SITE}?api-version=2023-12-01", "arm", "https://management.azure.com/.default")
    body = json.dumps({"properties": {"provisioningState": state}} if state else {}).encode()
    watch = start._watch_request(method, target, status, {"content-type": "application/json"}, body)
    if isinstance(expected, str):
        assert watch == expected
    else:
        assert watch == {"source": "arm", "apiVersion": "2023-12-01", **expected}


def test_a_post_accepted_without_anything_to_watch_is_an_error_not_a_silent_success() -> None:
    target = start.Target(f"https://management.azure.com{SITE}/restart?api-version=2023-12-01", "arm", "https://management.azure.com/.default")
    with pytest.raises(CliError, match="accepted but names nothing to watch"):
        start._watch_request("POST", target, 202, {}, b"")


def test_delete_answered_202_without_a_header_watches_until_deleted(sim: Simulator, queues: QueueSet,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sim.script_resource(SITE, answers={"DELETE": {"style": "none", "http": 202}})
    code, _, err = run(capsys, env_of(sim, queues), "--method", "DELETE", "--url", f"{SITE}?api-version=2023-12-01")
    assert code == 0, err
    [request] = enqueued(queues)
    assert request["resourceId"] == SITE and request["waitFor"] == "deleted"


@pytest.mark.parametrize(("state", "exit_code"), [("Succeeded", 0), ("Failed", 1)])
def test_a_synchronous_answer_enqueues_nothing_and_names_the_state(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str], state: str, exit_code: int,
) -> None:
    sim.script_resource(SITE, answers={"PATCH": {"style": "none", "http": 200, "state": state}})
    code, out, err = run(capsys, env_of(sim, queues), "--method", "PATCH", "--url", f"{SITE}?api-version=2023-12-01",
                         "--body", '{"tags": {"a": "b"}}')
    assert code == exit_code, err
    assert out.strip().splitlines() == [f"PATCH answered 200 without an async header: provisioningState {state}, nothing to watch"]
    assert enqueued(queues) == []


def test_a_refused_start_prints_arms_error_on_one_line_and_enqueues_nothing(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str],
) -> None:
    sim.script_resource(DEPLOYMENT, answers={"PUT": {"http": 409, "error": CONFLICT}})
    code, out, err = run(capsys, env_of(sim, queues), "--method", "PUT", "--url", f"{DEPLOYMENT}?api-version=2024-03-01",
                         "--body", "{}")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == ["error: DeploymentActive: The deployment 'main' is already running."]
    assert enqueued(queues) == []
    no_token_in(sim, out, err)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("--url", "https://evil.example/subscriptions/x?api-version=1"), "not allowed to receive a token"),
        (("--url", "http://127.0.0.1:1/subscriptions/x?api-version=1"), "not allowed to receive a token"),
        (("--url", f"{RG}/../../providers/Microsoft.Authorization/roleAssignments/x?api-version=1"), "'..'"),
        (("--url", SITE), "no api-version"),
        (("--url", f"{SITE}?api-version=1", "--body", "{not json"), "--body is not JSON"),
        (("--url", f"{SITE}?api-version=1", "--body", "@/nonexistent/file.json"), "cannot read the file"),
    ],
)
def test_bad_flags_exit_2_with_one_line_and_send_nothing(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: str,
) -> None:
    code, out, err = run(capsys, env_of(sim, queues), "--method", "PUT", *argv)
    assert code == 2, err
    assert words in err and len(err.strip().splitlines()) == 1
    assert writes(sim) == [] and [r for r in sim.requests() if r["route"] == "msi"] == []


def test_a_dataplane_host_gets_its_own_scope_and_a_dataplane_request(
    sim: Simulator, queues: QueueSet, capsys: pytest.CaptureFixture[str],
) -> None:
    # The simulator's data-plane fake answers GETs only, so its 405 is a refusal: what counts is where the token went.
    dataplane = f"localhost:{sim.port}=https://cognitiveservices.azure.com/.default"
    url = f"http://localhost:{sim.port}/formrecognizer/documentModels:build?api-version=2024-11-30"
    code, _, err = run(capsys, env_of(sim, queues, DATAPLANE_HOSTS=dataplane), "--method", "POST", "--url", url, "--body", "{}")
    assert code == 1 and err.startswith("error: ")
    tokens = [r for r in sim.requests() if r["route"] == "msi"]
    assert [t["audience"] for t in tokens] == ["https://cognitiveservices.azure.com"]


def test_a_missing_queue_fails_before_anything_is_started(sim: Simulator, queues: QueueSet,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim.script_resource(SITE, answers={"PUT": {"style": "none", "http": 201, "state": "Creating"}})
    env = {**queues, "ARM_ENDPOINT": sim.base_url}
    code, _, err = run(capsys, env, "--method", "PUT", "--url", f"{SITE}?api-version=2023-12-01", "--body", "{}")
    assert code == 1 and "does the queue exist?" in err
    assert writes(sim) == []


def test_start_then_wait_runs_to_the_outcome_as_a_pipeline_step(sim: Simulator, queues: QueueSet, tmp_path: Path) -> None:
    """As a subprocess, like a pipeline: start a deployment (201, then the watcher reads the resource), --wait for it."""
    sim.script_resource(DEPLOYMENT, steps=[{"state": "Accepted"}, {"state": "Running"}, {"state": "Succeeded"}],
                        answers={"PUT": {"style": "none", "http": 201, "state": "Accepted"}})
    env = watcher_settings(sim, queues)
    host_json = fast_host_json(tmp_path)
    queues.create()
    watcher = start_run_local(env, "--host-json", str(host_json), "--no-local-settings",
                              "--max-seconds", "80")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tools.start", "--method", "PUT", "--url", f"{DEPLOYMENT}?api-version=2024-03-01",
             "--body", "{}", "--correlation-id", "pipeline-1", "--wait", "--wait-timeout", "60", "--no-local-settings"],
            cwd=PROJECT_ROOT, env={**_base_env(), **env}, capture_output=True, text=True, timeout=90,
        )
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Succeeded" in done.stdout and "pipeline-1" in done.stdout
    no_token_in(sim, done.stdout, done.stderr)


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "ARM_", "AZURE_"))}
