"""``make demo``: watch one operation per source, locally, and print the outcomes.

Starts Azurite (queue storage) and the simulator (ARM, Dev Center, the managed
identity endpoint and an Event Grid topic, all on loopback), enqueues a request
for each source — one operation that fails, one that is cancelled, an ARM
DELETE watched through its Location header (202, a moved Location, then 204),
a data-plane operation behind an Operation-Location header, a Bicep deployment
started with ``--no-wait`` and watched by its ``resourceId`` (404 while ARM records
it, then Accepted, Running, Succeeded), and one request that is invalid — runs the real ``function_app`` through
``tools.run_local`` until the queue drains, prints the outcomes as a table. Then one agentless
Azure Pipelines wait: ``POST /api/watch`` on run_local's HTTP port with the headers AzureFunction@1
sends, and the live log lines and the TaskCompleted the simulator's Azure DevOps received. It stops
everything it started.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import runtime
from shared.core.settings import load_settings
from shared.edges.queues import ensure_queues, queue_names
from tools.dev import run_local
from tools.dev.azurite import Azurite
from tools.dev.sim import Simulator
from tools.ops._cli import exit_on_interrupt

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def demo_requests(sim: Simulator) -> list[tuple[str, dict[str, Any] | str]]:
    """(what it shows, the request) — and the simulator's script for each operation."""
    devcenter_op = str(uuid.uuid4())
    sim.script("apim-upgrade-7f3a", [
        {"status": "InProgress", "percentComplete": 10},
        {"http": 429, "retryAfter": "1"},
        {"status": "InProgress", "percentComplete": 60},
        {"status": "Succeeded", "percentComplete": 100},
    ])
    sim.script(devcenter_op, [
        {"status": "NotStarted"},
        {"status": "Running", "percentComplete": 40},
        {"status": "Failed", "error": {"code": "EnvironmentDeploymentFailed", "message": "The ARM template failed to deploy.",
                                       "innererror": {"code": "InvalidTemplate"}}},
    ])
    sim.script("la-retention-91c2", [{"status": "InProgress"}, {"status": "Succeeded"}])
    sim.script("webapp-swap-55d0", [{"http": 202}, {"status": "Running"}, {"status": "Canceled"}])
    arm_url = (f"{sim.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/"
               "operationResults/webapp-swap-55d0?api-version=2023-12-01")
    delete_path = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/locations/{{}}/operationResults/vm-delete-2b9e"
    sim.script("vm-delete-2b9e", [
        {"http": 202, "retryAfter": "1"},
        {"http": 202, "headers": {"Location": delete_path.format("eastus") + "?api-version=2024-03-01"}},
        {"http": 204},
    ], style="location")
    sim.script("doc-model-build-c41e", [
        {"status": "NotStarted"}, {"status": "Running", "percentComplete": 50},
        {"status": "Succeeded", "extra": {"result": {"modelId": "invoices-v2"}}},
    ])
    deployment = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/web-rg/providers/Microsoft.Resources/deployments/main"
    sim.script_resource(deployment, [
        {"http": 404},  # az deployment group create --no-wait has returned; ARM has not recorded it yet
        {"state": "Accepted"}, {"state": "Running", "times": 2}, {"state": "Succeeded"},
    ])
    return [
        ("arm (resourceId): a Bicep deployment started with --no-wait, watched by its id", {
            "source": "arm", "resourceId": deployment, "apiVersion": "2024-03-01", "correlationId": "release-42/deploy",
        }),
        ("apim: an API Management update", {
            "source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US",
            "operationId": "apim-upgrade-7f3a", "correlationId": "release-42/apim",
        }),
        ("devcenter: an environment that fails", {
            "source": "devcenter", "endpoint": sim.base_url, "projectName": "web-team",
            "operationId": devcenter_op, "correlationId": "release-42/env",
        }),
        ("operationalinsights: a workspace change", {
            "source": "operationalinsights", "subscriptionId": SUBSCRIPTION, "location": "West Europe",
            "operationId": "la-retention-91c2", "correlationId": "release-42/logs",
        }),
        ("arm: a slot swap that is cancelled", {
            "source": "arm", "statusUrl": arm_url, "correlationId": "release-42/swap", "context": {"stage": "prod"},
        }),
        ("arm (Location): a VM delete, 202 then 204, with a moved Location", {
            "source": "arm", "statusHeader": "Location", "correlationId": "release-42/vm",
            "statusUrl": sim.base_url + delete_path.format("westus") + "?api-version=2024-03-01",
        }),
        ("dataplane (Operation-Location): a document model build", {
            "source": "dataplane", "correlationId": "release-42/model",
            "statusUrl": f"{sim.base_url}/documentintelligence/documentModels/operations/doc-model-build-c41e?api-version=2024-11-30",
        }),
        ("an invalid request (typo in a field name)", json.dumps({
            "source": "apim", "subscriptionId": SUBSCRIPTION, "location": "westus", "operationID": "oops",
        })),
    ]


def demo_settings(azurite: Azurite, sim: Simulator) -> dict[str, str]:
    return {
        **azurite.environ(),
        "OPERATIONS_QUEUE": "operations",
        "RESULTS_QUEUE": "operation-results",
        "RESULT_SINK": "both",
        "EVENTGRID_TOPIC_ENDPOINT": sim.eventgrid_endpoint,
        "EVENT_SOURCE": "/demo/lro-watcher",
        "ARM_ENDPOINT": sim.base_url,
        "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
        "PUBLISH_PROGRESS": "true",  # LroWatcher.Operation.Progress events, to Event Grid only
        # The simulator's generic data-plane host, with its own token audience.
        "DATAPLANE_HOSTS": f"127.0.0.1:{sim.port}=https://cognitiveservices.azure.com/.default",
        "CALLBACK_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",  # the simulator's Azure DevOps (PlanUrl)
        "POLL_MIN_DELAY_SECONDS": "1",
        "POLL_MAX_DELAY_SECONDS": "2",
        # A real azure-identity ManagedIdentityCredential, against the simulator's App Service identity endpoint.
        "IDENTITY_ENDPOINT": sim.identity_endpoint,
        "IDENTITY_HEADER": sim.identity_header,
    }


def _drain_queue(client: Any) -> list[dict[str, Any]]:
    items = []
    while batch := list(client.receive_messages(max_messages=32, visibility_timeout=30)):
        for message in batch:
            items.append(json.loads(message.content))
            client.delete_message(message)
    return items


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    line = "  ".join("-" * width for width in widths)
    fmt = "  ".join(f"{{:<{width}}}" for width in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*map(str, row)) for row in rows)])


def outcome_rows(results: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for r in sorted(results, key=lambda r: r.get("correlationId") or ""):
        error = r.get("error") or {}
        detail = f"{error.get('code')}: {error.get('message')}" if error else ""
        rows.append((r["source"], str(r["operationId"]), r["outcome"], str(r["status"]), str(r["polls"]),
                     r["eventId"][:8], (detail[:60] + "…") if len(detail) > 60 else detail))
    return rows


def progress_rows(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for event in sorted(events, key=lambda e: (str(e["data"]["operationId"]), e["data"]["polls"])):
        data = event["data"]
        rows.append((str(data["operationId"]), str(data["polls"]), str(data["status"]), str(data["percentComplete"]),
                     str(data["expectedEndAt"] or "-"), data["observedAt"]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo", description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 every outcome as expected, 1 not (the line before says which), "
        "130 / 143 interrupted by SIGINT / SIGTERM (everything it started is stopped).",
    )
    parser.add_argument("--quiet", action="store_true", help="hide the watcher's log lines")
    args = parser.parse_args(argv)
    return exit_on_interrupt(lambda: _demo(args), "stopped the watcher, Azurite and the simulator; no outcome table")


def _demo(args: argparse.Namespace) -> int:
    run_local.configure_logging()
    if args.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    print("Starting Azurite and the Azure simulator on loopback…", flush=True)
    with Azurite() as azurite, Simulator() as sim:
        env = demo_settings(azurite, sim)
        service = _service(env)
        ensure_queues(service, queue_names(load_settings(env)))  # as the Bicep does in Azure
        print("\nEnqueued:")
        for what, request in demo_requests(sim):
            text = request if isinstance(request, str) else json.dumps(request)
            service.get_queue_client("operations").send_message(text)
            print(f"  - {what}")
        print("\nWatching (one log line per poll)…\n", flush=True)
        runtime.reset()  # this process's Watcher must be built from the demo's settings
        code = run_local.run("function_app", env, project_dir=PROJECT_ROOT, host_json=PROJECT_ROOT / "host.json",
                             local_settings=PROJECT_ROOT / ".no-local-settings.json", drain=True, max_seconds=120)
        results = _drain_queue(service.get_queue_client("operation-results"))
        poison = _drain_queue(service.get_queue_client("operations-poison"))
        events = sim.events()
        runtime.reset()
        agentless = agentless_wait(sim, env)
        runtime.reset()
    print("\nOutcomes (queue 'operation-results'):\n")
    print(table(outcome_rows(results), ("source", "operationId", "outcome", "status", "polls", "eventId", "error")))
    print("\nRejected (queue 'operations-poison'):\n")
    print(table([(p["reason"],) for p in poison], ("reason",)))
    progress = [e for e in events if e["type"] == "LroWatcher.Operation.Progress"]
    outcomes = [e for e in events if e["type"] != "LroWatcher.Operation.Progress"]
    same = sorted(e["id"] for e in outcomes) == sorted(r["eventId"] for r in results)
    print(f"\nEvent Grid topic received {len(outcomes)} outcome CloudEvents "
          f"({', '.join(sorted({e['type'] for e in outcomes}))}); same eventIds as the queue: {'yes' if same else 'NO'}.")
    print("\nProgress events on Event Grid (PUBLISH_PROGRESS=true; a read that changed status or percentComplete):\n")
    print(table(progress_rows(progress), ("operationId", "poll", "status", "percentComplete", "expectedEndAt", "observedAt")))
    print_agentless(agentless)
    print("Everything started has been stopped.")
    problems = [
        *([f"the watcher exited {code}"] if code != 0 else []),
        *([f"{len(results)} outcomes, 7 expected"] if len(results) != 7 else []),
        *([f"{len(poison)} rejected requests, 1 expected"] if len(poison) != 1 else []),
        *(["the Event Grid outcomes differ from the queue's"] if not same else []),
        *(["no progress event"] if not progress else []),
        *(["the agentless wait did not complete as expected"] if not agentless.ok else []),
    ]
    if problems:
        print(f"error: the demo did not go as expected: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


@dataclass
class Agentless:
    """What the agentless wait showed."""

    answer: dict[str, Any]
    lines: list[str]
    completed: list[dict[str, Any]]
    token_seen: bool  # the job token in a result: must stay False

    @property
    def ok(self) -> bool:
        return bool(self.answer.get("accepted")) and len(self.completed) == 1 and bool(self.lines) and not self.token_seen


def agentless_wait(sim: Simulator, env: dict[str, str]) -> Agentless:
    """run_local with ``--http-port``: POST /api/watch as AzureFunction@1 does, wait for the simulator's TaskCompleted."""
    import httpx

    from tools.dev.run_local import LocalHost, QueueOptions, resolve_settings

    sim.script("sql-mi-upgrade-d7e1", [{"status": "InProgress", "percentComplete": 20}, {"status": "InProgress", "percentComplete": 75},
                                       {"status": "Succeeded", "percentComplete": 100}])
    url = (f"{sim.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Sql/locations/westus/"
           "managedInstanceOperationResults/sql-mi-upgrade-d7e1?api-version=2023-08-01")
    token = f"demo-job-token-{uuid.uuid4().hex}"
    headers = {  # AzureFunction@1's default headers, filled as a pipeline fills them
        "Content-Type": "application/json", "PlanUrl": sim.plan_url("contoso"), "ProjectId": "web-team",
        "HubName": "build", "PlanId": "plan-4711", "JobId": "job-wait", "TimelineId": "timeline-4711",
        "TaskInstanceId": "task-watch", "AuthToken": token,
    }
    print("\nAn agentless Azure Pipelines wait: POST /api/watch with AzureFunction@1's headers…\n", flush=True)
    settings = resolve_settings(env, local_settings=PROJECT_ROOT / ".no-local-settings.json", project_dir=PROJECT_ROOT)
    host = LocalHost.from_app("function_app", settings, QueueOptions.load(PROJECT_ROOT / "host.json"),
                              project_dir=PROJECT_ROOT, export_environ=True, http_port=0).start()
    try:
        port = host.wait_for_http()
        body = {"source": "arm", "statusUrl": url, "correlationId": "release-42/sql-mi"}
        response = httpx.post(f"http://127.0.0.1:{port}/api/watch", params={"code": "demo-key"}, json=body,
                              headers=headers, timeout=20)
        answer = response.json()
        completed = sim.azdo.wait_for_completed("plan-4711", timeout=60)
    finally:
        host.stop()
        host.join(60)
    results = _drain_queue(_service(env).get_queue_client("operation-results"))
    return Agentless(answer, sim.azdo.feed_lines("plan-4711"), completed,
                     token_seen=any(token in json.dumps(r) for r in results))


def print_agentless(agentless: Agentless) -> None:
    print(f"  watch answered: {json.dumps(agentless.answer)}")
    print("\n  Live log lines the job received (Azure DevOps feed):\n")
    for line in agentless.lines:
        print(f"    {line}")
    print("\n  TaskCompleted events Azure DevOps accepted:\n")
    print(table([(e["planId"], e["body"]["taskId"], e["body"]["jobId"], e["body"]["result"], str(e["status"]), e["auth"])
                 for e in agentless.completed], ("planId", "taskId", "jobId", "result", "http", "basic auth")))
    print(f"\n  The job token in a result: {'YES' if agentless.token_seen else 'no'}.")


def _service(env: dict[str, str]) -> Any:
    from shared.core.storage_connection import storage_connection_from_environ
    from shared.edges.storage import queue_service_client

    return queue_service_client(storage_connection_from_environ(env))




if __name__ == "__main__":
    sys.exit(main())
