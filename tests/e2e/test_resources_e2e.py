"""End to end, resources and deployments watched by id (contract 3 §2b): the fourth way.

``python -m tools.run_local --drain`` runs the real ``function_app`` against Azurite; the
simulator plays ARM's resources (scripted provisioningState sequences, a 404 before the
resource exists, deletion) and Event Grid. Every resource body carries a secret in its
properties and tags: it must appear in no result, no event and no log line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import Simulator

SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/web-rg"
SECRET = "DefaultEndpointsProtocol=https;AccountName=sa;AccountKey=c2VjcmV0LWluLWEtcmVzb3VyY2UtYm9keQ=="
DEPLOYMENT_ERROR = {"code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
                    "details": [{"code": "StorageAccountAlreadyTaken", "message": "The storage account named sa is already taken.",
                                 "target": "sa"}]}


def cases() -> list[tuple[str, dict[str, Any], list[dict], str]]:
    """(correlationId, request, GET steps of the resource, expected outcome)."""
    def res(path: str, **extra: Any) -> dict[str, Any]:
        return {"source": "arm", "resourceId": path, "apiVersion": "2024-03-01", **extra}

    secret = {"properties": {"outputs": {"connectionString": {"type": "String", "value": SECRET}}}, "tags": {"k": SECRET}}
    deployment = f"{RG}/providers/Microsoft.Resources/deployments"
    return [
        ("deploy-ok", res(f"{deployment}/main"),
         [{"http": 404}, {"state": "Accepted", **secret}, {"state": "Running", "times": 2, **secret}, {"state": "Succeeded", **secret}],
         "Succeeded"),
        ("deploy-failed", res(f"{deployment}/broken"),
         [{"state": "Running", **secret}, {"state": "Failed", "error": DEPLOYMENT_ERROR, **secret}], "Failed"),
        ("deploy-sub", res(f"/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/sub-main"),
         [{"state": "Running"}, {"state": "succeeded"}], "Succeeded"),
        ("deploy-mg", res("/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Resources/deployments/mg-main"),
         [{"state": "Canceled"}], "Canceled"),
        ("deploy-tenant", res("/providers/Microsoft.Resources/deployments/tenant-main"),
         [{"http": 404}, {"state": "Running", **secret}, {"state": "Succeeded", **secret}], "Succeeded"),
        ("site", res(f"{RG}/providers/Microsoft.Web/sites/app1", apiVersion="2023-12-01"),
         [{"state": "Creating", **secret}, {"state": None, **secret}, {"state": "Succeeded", **secret}], "Succeeded"),
        ("role", res(f"{RG}/providers/Microsoft.KeyVault/vaults/kv1/providers/Microsoft.Authorization/roleAssignments/"
                     "b2e92eae-f8c9-4cae-8c31-b9e5e0a12f61", apiVersion="2022-04-01"), [{"state": "Succeeded"}], "Succeeded"),
        ("group-deleted", res("/subscriptions/" + SUB + "/resourceGroups/old-rg", apiVersion="2021-04-01", waitFor="deleted"),
         [{"state": "Deleting", "times": 2, **secret}, {"http": 404}], "Succeeded"),
        ("site-delete-failed", res(f"{RG}/providers/Microsoft.Web/sites/app2", waitFor="deleted"),
         [{"state": "Deleting"}, {"state": "Failed"}], "Failed"),
        ("deploy-timeout", res(f"{deployment}/slow", timeoutSeconds=2), [{"state": "Running", "retryAfter": 1}], "TimedOut"),
        ("deploy-403", res(f"{deployment}/forbidden"),
         [{"http": 403, "error": {"code": "AuthorizationFailed", "message": "no read"}}], "PollingFailed"),
    ]


def test_resources_and_deployments_end_every_way_and_never_publish_the_body(queues: QueueSet, tmp_path: Path) -> None:
    host_json = fast_host_json(tmp_path)
    with Simulator() as sim:
        valid = cases()
        for correlation, request, steps, _ in valid:
            sim.script_resource(request["resourceId"], steps)
            queues.send(json.dumps({**request, "correlationId": correlation}))
        invalid = {
            json.dumps({"source": "arm", "resourceId": f"{RG}/../../providers/Microsoft.Authorization/roleAssignments/x",
                        "apiVersion": "1"}): "resourceId",
            json.dumps({"source": "arm", "resourceId": sim.base_url + RG, "apiVersion": "1"}): "resourceId",
            json.dumps({"source": "arm", "resourceId": RG}): "resourceId",
            json.dumps({"source": "arm", "resourceId": RG, "apiVersion": "1", "waitFor": "forever"}): "waitFor",
        }
        for text in invalid:
            queues.send(text)
        env = watcher_settings(sim, queues, POLL_MAX_FAILURES="3", RESULT_SINK="both", PUBLISH_PROGRESS="true",
                               EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint, LOG_LEVEL="DEBUG")
        run = run_local_process(env, "--host-json", str(host_json), "--no-local-settings",
                                "--drain", "--max-seconds", "60", timeout=90)
        assert run.returncode == 0, run.stderr[-4000:]
        reads = {c: sim.resource(request["resourceId"])["reads"] for c, request, _, _ in valid}
        events = sim.events()
        requests = sim.requests()

    results = {r["correlationId"]: r for r in queues.take_all_json(queues.results)}
    poison = queues.take_all_json(queues.poison)
    assert {k: r["outcome"] for k, r in results.items()} == {c: outcome for c, _, _, outcome in valid}
    assert sorted(p["reason"].split("'")[1] for p in poison) == sorted(invalid.values())
    assert not [r for r in requests if r["route"] not in ("resource", "msi", "eventgrid")], "only resources were read"

    for correlation, request, _, _ in valid:
        result = results[correlation]
        refreshes = 1 if correlation == "deploy-403" else 0  # a 403 is read again once with a refreshed token
        assert result["polls"] + refreshes == reads[correlation], correlation
        assert set(result["operation"]) == {"id", "name", "type", "provisioningState"}, correlation
        assert result["operation"]["id"] == request["resourceId"]
        assert result["operationId"] == request["resourceId"].rsplit("/", 1)[1]
        assert result["statusUrl"] == f"{sim.base_url}{request['resourceId']}?api-version={request['apiVersion']}"

    assert results["deploy-ok"]["status"] == "Succeeded" and results["deploy-ok"]["polls"] == 5  # a 404 first: being created
    assert results["deploy-ok"]["operation"]["type"] == "Microsoft.Resources/deployments"
    assert results["deploy-failed"]["error"] == DEPLOYMENT_ERROR
    assert results["deploy-sub"]["status"] == "succeeded"
    assert results["deploy-tenant"]["statusUrl"].startswith(f"{sim.base_url}/providers/Microsoft.Resources/deployments/tenant-main?")
    assert results["role"]["operation"]["type"] == "Microsoft.Authorization/roleAssignments"
    assert results["group-deleted"]["operation"]["provisioningState"] is None and results["group-deleted"]["polls"] == 3
    assert results["deploy-timeout"]["error"]["code"] == "DeadlineExceeded"
    assert results["deploy-403"]["error"]["code"] == "AuthorizationFailed"

    outcome_events = [e for e in events if e["type"] != "LroWatcher.Operation.Progress"]
    assert len({e["id"] for e in outcome_events}) == len(valid)
    assert any(e["type"] == "LroWatcher.Operation.Progress" for e in events)
    written = json.dumps(results) + json.dumps(events) + json.dumps(poison) + run.stdout + run.stderr
    assert SECRET not in written and "connectionString" not in written
