"""What the soak enqueues: N requests across six lanes, each with its simulator script and its expected end.

Lanes: the four seeded sources (``apim``, ``operationalinsights``, ``devcenter``, ``arm`` with
Azure-AsyncOperation), ``arm-location`` (source ``arm``, ``statusHeader: Location``),
``dataplane`` (a generic Operation-Location host with its own audience) and ``callback`` (source
``arm`` with ``callback.azureDevOps``: an agentless Azure Pipelines wait, each with its own plan and
job token on the simulator's Azure DevOps; its TaskCompleted is answered 200, or first 500 / 503
then 200 (retried), or 401 (refused: logged once, not retried); its invalid requests break the
callback: a planUrl off the allowlist, a timeout over 48 h, a missing authToken, a bad jobId), and
``resource`` / ``deployment`` (source ``arm`` with ``resourceId``: sites, storage accounts, subnets
(children), role assignments (extensions); deployments at resource-group, subscription,
management-group and tenant scope; scripted as the simulator's resources: provisioningState steps,
some read first as a 404 (not created yet), some waited for until deleted; every body holds a
secret that must reach no output; invalid ones: ``..``, a URL, a collection, no apiVersion, both
statusUrl and resourceId, a bad waitFor).

Pure and seeded: ``build_plan(n, seed, base_url)`` returns the same plan for the same
arguments. Every planned operation knows exactly how it must end:

=============  ====================================================================
kind           script and expectation
=============  ====================================================================
Succeeded      0-4 running reads, then ``Succeeded`` / ``succeeded`` / ``Completed``
Failed         0-4 running reads, then ``Failed`` with a provider error (code checked)
Canceled       0-4 running reads, then ``Canceled`` / ``Cancelled``
TimedOut       running forever, ``timeoutSeconds`` 2-4 -> ``DeadlineExceeded``
PollingFailed  0-2 running reads, then 403 (most), 400 or a 302 redirect, forever
poison         an invalid request (not JSON, a typo, a bad UUID, a host off the
               allowlist, ...) -> one poison entry whose reason names the field
=============  ====================================================================

In the ``arm-location`` lane a running read is a 202 (a share of them move the Location
to another region's URL of the same operation, relatively); Succeeded is 204, 200 with a
result body or 201; Failed is a 400/409 with the action's error; there is no Canceled (a
Location URL cannot say it), so that share is Succeeded; PollingFailed is a 403, a 302 or a
Location moved to a host the rules refuse (``LocationRefused``).

Running reads carry a mix of delay hints (none, ``Retry-After: 1``, ``retry-after-ms``,
a ``Retry-After`` above POLL_MAX_DELAY_SECONDS) and some are a bare ``202``. A share of
the valid requests is sent base64-encoded, as many producers do. The simulator's
injected faults come on top and never change an expected outcome: none of them is
permanent (429/500/503, slow, reset, malformed, no status, a 404 on the first reads).
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from .hostile import DEFAULT_DRIP_SECONDS, hostile_op, is_hostile

__all__ = ["PlannedOp", "build_plan", "azdo_answers", "SOURCES", "LANE_SOURCE", "RESOURCE_LANES", "KIND_WEIGHTS", "SUBSCRIPTION",
           "DEVCENTER_PROJECT", "TOKEN_PREFIX", "BODY_SECRET", "AZDO_ANSWERS", "HOSTILE_LANE"]

SOURCES = ("apim", "operationalinsights", "devcenter", "arm", "arm-location", "dataplane", "callback", "resource", "deployment")
#: The lane of the hostile operations (tools/measure/soak/hostile.py): about 5 % of a soak, outside the round-robin.
HOSTILE_LANE = "hostile"
#: The request's ``source`` per lane.
LANE_SOURCE = {"arm-location": "arm", "callback": "arm", "resource": "arm", "deployment": "arm"}
#: The lanes that watch a resource by id (``resourceId``): scripted on the simulator as resources, not operations.
RESOURCE_LANES = ("resource", "deployment")
#: The job token of a callback-lane operation starts with this (the judge scans every output for it).
TOKEN_PREFIX = "soak-job-token-"
#: How the simulator's Azure DevOps answers a callback operation's first TaskCompleted POSTs, by share.
#: (401,) is a refusal: every TaskCompleted of that plan is answered 401, as when the job's token expired.
AZDO_ANSWERS: tuple[tuple[float, tuple[int, ...]], ...] = ((0.7, ()), (0.8, (500,)), (0.9, (503, 500)), (1.0, (401,)))
DATAPLANE_PATH = "/documentintelligence/documentModels/operations/{}?api-version=2024-11-30"
SUBSCRIPTION = "5f1c1a52-3c7e-4d43-9a4e-2a8d1f9b0c11"
DEVCENTER_PROJECT = "soak-project"
#: Share of each kind, in percent.
KIND_WEIGHTS = {"Succeeded": 60, "Failed": 14, "Canceled": 10, "TimedOut": 6, "PollingFailed": 6, "poison": 4}
_NAMESPACE = uuid.UUID("0b6f3d7e-2f4a-4a8e-9a52-6c1d5e7f8a90")
_RUNNING = {"devcenter": ("Running", "NotStarted"), "dataplane": ("NotStarted", "Running", "Creating"),
            "other": ("InProgress", "Accepted", "Running", "Updating")}
_TERMINAL = {"Succeeded": ("Succeeded", "succeeded", "Completed"), "Failed": ("Failed",), "Canceled": ("Canceled", "Cancelled")}


@dataclass(frozen=True)
class PlannedOp:
    """One request of the soak and how it must end."""

    key: str  # "op-000042": the correlationId of valid requests
    source: str
    kind: str  # a KIND_WEIGHTS key
    text: str  # the queue message, exactly as enqueued
    sim_id: str | None = None  # the operation id scripted on the simulator
    steps: tuple[dict[str, Any], ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    resource_id: str | None = None  # the resource scripted on the simulator (the resource and deployment lanes)
    style: str = ""  # "status" or "location"; empty: the lane's (the hostile lane sets it per variant)

    @property
    def resource_script(self) -> dict[str, Any]:
        return {"resourceId": self.resource_id, "steps": list(self.steps)}

    @property
    def script(self) -> dict[str, Any]:
        style = self.style or ("location" if self.source == "arm-location" else "status")
        hostile = {"faults": False} if self.source == HOSTILE_LANE else {}  # its script is its fault: nothing on top
        return {"operationId": self.sim_id, "steps": list(self.steps), "style": style, **hostile}


def build_plan(n: int, seed: int, base_url: str, *, hostile_share: float = 0.0,
               drip_seconds: float = DEFAULT_DRIP_SECONDS) -> list[PlannedOp]:
    """``n`` operations, sources round-robin, kinds drawn by :data:`KIND_WEIGHTS`; ``hostile_share`` of them
    from the hostile lane (:mod:`tools.measure.soak.hostile`) instead."""
    rng = random.Random(seed)
    kinds = list(KIND_WEIGHTS)
    weights = list(KIND_WEIGHTS.values())
    plan = []
    hostile = 0
    for i in range(n):
        if is_hostile(i, hostile_share):
            h = hostile_op(hostile, i, seed, base_url, drip_seconds)
            hostile += 1
            plan.append(PlannedOp(f"op-{i:06d}", HOSTILE_LANE, h["kind"], h["text"], h["sim_id"], tuple(h["steps"]),
                                  h["expect"], style=h["style"]))
            continue
        source = SOURCES[i % len(SOURCES)]
        kind = rng.choices(kinds, weights)[0]
        key = f"op-{i:06d}"
        if kind == "poison":
            plan.append(_invalid(rng, i, key, source, base_url))
        else:
            plan.append(_valid(rng, seed, i, key, source, kind, base_url))
    return plan


# -- valid requests ---------------------------------------------------------------------------


def _valid(rng: random.Random, seed: int, i: int, key: str, source: str, kind: str, base_url: str) -> PlannedOp:
    if source in RESOURCE_LANES:
        return _resource_op(rng, seed, i, key, source, kind, base_url)
    sim_id = str(uuid.uuid5(_NAMESPACE, f"{seed}/{i}")) if source == "devcenter" else f"soak-{seed}-{i:06d}"
    request = _request(rng, "arm" if source == "callback" else source, sim_id, base_url)
    request["correlationId"] = key
    if rng.random() < 0.3:
        request["context"] = {"run": seed, "n": i, "tags": ["soak", source]}
    if source == "arm-location":
        kind = "Succeeded" if kind == "Canceled" else kind
        steps, expect = _location_script(rng, kind, request["statusUrl"], base_url)
    else:
        steps, expect = _script(rng, source, kind)
    if source == "callback":
        request["callback"] = {"azureDevOps": _callback(seed, i, base_url)}
        roll = rng.random()
        answers = next(statuses for share, statuses in AZDO_ANSWERS if roll < share)
        expect.update(authToken=request["callback"]["azureDevOps"]["authToken"], planId=_plan_id(seed, i), taskResult="succeeded" if kind == "Succeeded" else "failed",
                      taskId=f"task-{i}", jobId=f"job-{i}", azdoAnswers=list(answers))
    if kind == "TimedOut":
        request["timeoutSeconds"] = rng.randint(2, 4)
    text = json.dumps(request, separators=(",", ":"))
    if rng.random() < 0.05:
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    expect.update(source=LANE_SOURCE.get(source, source), correlationId=key, context=request.get("context"))
    expect.setdefault("eventUrl", request.get("statusUrl"))
    return PlannedOp(key, source, kind, text, sim_id, tuple(steps), expect)


def _request(rng: random.Random, source: str, sim_id: str, base_url: str) -> dict[str, Any]:
    if source == "apim":
        return {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": rng.choice(["West US", "westeurope"]),
                "operationId": sim_id}
    if source == "operationalinsights":
        return {"source": "operationalinsights", "subscriptionId": SUBSCRIPTION, "location": "East US",
                "operationId": sim_id}
    if source == "devcenter":
        request = {"source": "devcenter", "endpoint": base_url, "projectName": DEVCENTER_PROJECT, "operationId": sim_id}
        if rng.random() < 0.2:
            request["apiVersion"] = "2024-02-01"
        return request
    if source == "dataplane":
        return {"source": "dataplane", "statusUrl": base_url + DATAPLANE_PATH.format(sim_id)}
    kind = "operationResults" if source == "arm-location" else rng.choice(["operationResults", "operationStatuses"])
    namespace = rng.choice(["Microsoft.Web", "Microsoft.Compute", "Microsoft.Storage"])
    url = (f"{base_url}/subscriptions/{SUBSCRIPTION}/providers/{namespace}/locations/westus/{kind}/{sim_id}"
           "?api-version=2023-12-01")
    if source == "arm-location":
        return {"source": "arm", "statusUrl": url, "statusHeader": rng.choice(["Location", "location"])}
    return {"source": "arm", "statusUrl": url}


def _running_step(rng: random.Random, source: str) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.1:
        return {"http": 202}  # accepted, no body: still running
    step: dict[str, Any] = {"status": rng.choice(_RUNNING.get(source, _RUNNING["other"]))}
    if roll < 0.25:
        step["retryAfter"] = "1"
    elif roll < 0.35:
        step["retryAfterMs"] = 300
    elif roll < 0.42:
        step["retryAfter"] = "30"  # above POLL_MAX_DELAY_SECONDS: clamped
    if rng.random() < 0.5:
        step["percentComplete"] = rng.randint(0, 99)
    return step


def _script(rng: random.Random, source: str, kind: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if kind == "TimedOut":
        status = _RUNNING.get(source, _RUNNING["other"])[0]
        return [{"status": status, "retryAfter": "1"}], {"outcome": "TimedOut", "errorCode": "DeadlineExceeded"}
    if kind == "PollingFailed":
        steps = [_running_step(rng, source) for _ in range(rng.randint(0, 2))]
        roll = rng.random()
        if roll < 0.7:
            steps.append({"http": 403, "error": {"code": "AuthorizationFailed", "message": "The client has no access."}})
            return steps, {"outcome": "PollingFailed", "httpStatus": 403, "errorCode": "AuthorizationFailed"}
        if roll < 0.85:
            steps.append({"http": 400, "error": {"code": "InvalidOperationId", "message": "Bad operation id."}})
            return steps, {"outcome": "PollingFailed", "httpStatus": 400, "errorCode": "InvalidOperationId"}
        steps.append({"redirect": "https://elsewhere.example/operations/1"})
        return steps, {"outcome": "PollingFailed", "httpStatus": 302, "errorCode": "RedirectNotFollowed"}
    steps = [_running_step(rng, source) for _ in range(rng.randint(0, 4))]
    status = rng.choice(_TERMINAL[kind])
    terminal: dict[str, Any] = {"status": status}
    expect: dict[str, Any] = {"outcome": kind, "status": status}
    if kind == "Failed":
        code = rng.choice(["Conflict", "QuotaExceeded", "DeploymentFailed"])
        terminal["error"] = {"code": code, "message": f"Simulated failure ({code})."}
        expect["errorCode"] = code
    steps.append(terminal)
    return steps, expect


def _location_running(rng: random.Random) -> dict[str, Any]:
    step: dict[str, Any] = {"http": 202}
    roll = rng.random()
    if roll < 0.2:
        step["retryAfter"] = "1"
    elif roll < 0.3:
        step["retryAfterMs"] = 300
    return step


def _location_script(rng: random.Random, kind: str, url: str, base_url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A Location URL's answers for ``kind``: 202s (some moving the URL), then the synchronous call's answer."""
    if kind == "TimedOut":
        return [{"http": 202, "retryAfter": "1"}], {"outcome": "TimedOut", "errorCode": "DeadlineExceeded"}
    steps = [_location_running(rng) for _ in range(rng.randint(0, 3))]
    expect: dict[str, Any] = {}
    if kind != "PollingFailed" and rng.random() < 0.3:  # the 202 names a new Location: the same operation, east
        moved = url.replace(base_url, "").replace("/locations/westus/", "/locations/eastus/")
        steps.append({"http": 202, "headers": {"Location": moved}})
        steps.append(_location_running(rng))
        expect["statusUrl"] = base_url + moved
    if kind == "Succeeded":
        steps.append(rng.choice([{"http": 204}, {"http": 200, "body": {"value": ["soak"]}}, {"http": 201, "body": {"id": "r"}}]))
        return steps, {**expect, "outcome": "Succeeded", "status": None}
    if kind == "Failed":
        code = rng.choice(["Conflict", "OperationNotAllowed", "InvalidParameter"])
        http = rng.choice([400, 409])
        steps.append({"http": http, "error": {"code": code, "message": f"Simulated failure ({code})."}})
        return steps, {**expect, "outcome": "Failed", "errorCode": code, "httpStatus": http}
    roll = rng.random()
    if roll < 0.5:
        steps.append({"http": 403, "error": {"code": "AuthorizationFailed", "message": "The client has no access."}})
        return steps, {"outcome": "PollingFailed", "httpStatus": 403, "errorCode": "AuthorizationFailed"}
    if roll < 0.75:
        steps.append({"redirect": "https://elsewhere.example/operations/1"})
        return steps, {"outcome": "PollingFailed", "httpStatus": 302, "errorCode": "RedirectNotFollowed"}
    steps.append({"http": 202, "headers": {"Location": "https://elsewhere.example" + url.replace(base_url, "")}})
    return steps, {"outcome": "PollingFailed", "httpStatus": 202, "errorCode": "LocationRefused"}


# -- resources and deployments (resourceId) ------------------------------------------------------

_RESOURCE_RUNNING = ("Accepted", "Creating", "Updating", "Provisioning", None)
#: A secret in every resource body: the judge's scan fails the run if it reaches any output.
BODY_SECRET = "soak-resource-body-secret-"


def _resource_path(rng: random.Random, source: str, name: str) -> str:
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/soak-rg"
    if source == "deployment":
        return rng.choice([
            f"{group}/providers/Microsoft.Resources/deployments/{name}",
            f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Resources/deployments/{name}",
            f"/providers/Microsoft.Management/managementGroups/soak-mg/providers/Microsoft.Resources/deployments/{name}",
            f"/providers/Microsoft.Resources/deployments/{name}",
        ])
    return rng.choice([
        f"{group}/providers/Microsoft.Web/sites/{name}",
        f"{group}/providers/Microsoft.Storage/storageAccounts/{name}",
        f"{group}/providers/Microsoft.Network/virtualNetworks/vnet-{name}/subnets/{name}",  # a child resource
        f"{group}/providers/Microsoft.KeyVault/vaults/kv-{name}/providers/Microsoft.Authorization/roleAssignments/{name}",
    ])


def _resource_op(rng: random.Random, seed: int, i: int, key: str, source: str, kind: str, base_url: str) -> PlannedOp:
    """A resource or deployment watched by id: provisioningState steps (a 404 first, before it exists), then its end."""
    name = f"soak-{seed}-{i:06d}"
    path = _resource_path(rng, source, name)
    deleted = source == "resource" and kind == "Succeeded" and rng.random() < 0.3
    request: dict[str, Any] = {"source": "arm", "resourceId": path, "apiVersion": rng.choice(["2024-03-01", "2023-12-01"]),
                               "correlationId": key}
    if deleted:
        request["waitFor"] = rng.choice(["deleted", "Deleted"])
    if rng.random() < 0.3:
        request["context"] = {"run": seed, "n": i, "tags": ["soak", source]}
    secret = {"properties": {"outputs": {"key": {"type": "String", "value": f"{BODY_SECRET}{seed}-{i}"}}}}
    steps: list[dict[str, Any]] = [{"http": 404}] if not deleted and rng.random() < 0.4 else []
    expect: dict[str, Any] = {"outcome": kind}
    if kind == "TimedOut":
        request["timeoutSeconds"] = rng.randint(2, 4)
        steps.append({"state": "Running", "retryAfter": 1, **secret})
        expect["errorCode"] = "DeadlineExceeded"
    elif kind == "PollingFailed":
        steps += [{"state": rng.choice(_RESOURCE_RUNNING), **secret} for _ in range(rng.randint(0, 2))]
        steps.append({"http": 403, "error": {"code": "AuthorizationFailed", "message": "The client has no access."}})
        expect.update(httpStatus=403, errorCode="AuthorizationFailed")
    else:
        running = ("Deleting",) if deleted else _RESOURCE_RUNNING
        for _ in range(rng.randint(0, 4)):
            step: dict[str, Any] = {"state": rng.choice(running), **secret}
            if rng.random() < 0.2:
                step["retryAfter"] = 1
            steps.append(step)
        if deleted:
            steps.append({"http": 404})
        else:
            state = {"Succeeded": rng.choice(["Succeeded", "succeeded"]), "Failed": "Failed", "Canceled": "Canceled"}[kind]
            terminal: dict[str, Any] = {"state": state, **secret}
            expect["status"] = state
            if kind == "Failed":
                if source == "deployment":
                    code = rng.choice(["DeploymentFailed", "InvalidTemplateDeployment"])
                    terminal["error"] = {"code": code, "message": f"Simulated failure ({code}).",
                                         "details": [{"code": "Conflict", "message": "A resource failed."}]}
                    expect["errorCode"] = code
                else:
                    expect["errorCode"] = "ProvisioningFailed"
            steps.append(terminal)
    text = json.dumps(request, separators=(",", ":"))
    if rng.random() < 0.05:
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    expect.update(source="arm", correlationId=key, context=request.get("context"),
                  eventUrl=f"{base_url}{path}?api-version={request['apiVersion']}",
                  watch=f"{request.get('waitFor', 'provisioned').lower()}|{key}",
                  operation={"id": path, "name": name})
    return PlannedOp(key, source, kind, text, None, tuple(steps), expect, resource_id=path)


def _plan_id(seed: int, i: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"plan/{seed}/{i}"))


def _callback(seed: int, i: int, base_url: str) -> dict[str, str]:
    """``callback.azureDevOps`` as the watch function writes it from AzureFunction@1's headers."""
    return {"planUrl": f"{base_url}/soak-org/", "projectId": "soak-project", "hubName": "build", "planId": _plan_id(seed, i),
            "jobId": f"job-{i}", "timelineId": f"timeline-{i}", "taskInstanceId": f"task-{i}",
            "authToken": f"{TOKEN_PREFIX}{seed}-{i}-{uuid.uuid5(_NAMESPACE, f'token/{seed}/{i}').hex}"}


def azdo_answers(plan: list[PlannedOp]) -> list[dict[str, Any]]:
    """The simulator's Azure DevOps script: ``{planId, statuses}`` for every callback operation answered other than 200."""
    script = []
    for op in plan:
        answers = op.expect.get("azdoAnswers")
        if answers == [401]:
            script.append({"planId": op.expect["planId"], "refuse": 401})
        elif answers:
            script.append({"planId": op.expect["planId"], "statuses": answers})
    return script


# -- invalid requests -------------------------------------------------------------------------


def _invalid(rng: random.Random, i: int, key: str, source: str, base_url: str) -> PlannedOp:
    """A request the watcher must reject without polling; ``expect["field"]`` is what the reason names."""
    apim = {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": f"bad-{i}",
            "correlationId": key}
    arm_path = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/bad-{i}?api-version=1"
    variants: list[tuple[str, Any]] = [
        ("message", f"{key}: this is not JSON"),
        ("message", [key, "an array, not an object"]),
        ("operationID", {**{k: v for k, v in apim.items() if k != "operationId"}, "operationID": f"bad-{i}"}),
        ("subscriptionId", {**apim, "subscriptionId": f"not-a-uuid-{i}"}),
        ("timeoutSeconds", {**apim, "timeoutSeconds": 0}),
        ("source", {"source": "APIM", "correlationId": key}),
        ("endpoint", {"source": "devcenter", "endpoint": "https://evil.example.com", "projectName": DEVCENTER_PROJECT,
                      "operationId": str(uuid.uuid5(_NAMESPACE, f"bad/{i}")), "correlationId": key}),
        ("statusUrl", {"source": "arm", "statusUrl": "http://127.0.0.1:1" + arm_path, "correlationId": key}),
        ("statusUrl", {"source": "arm", "statusUrl": base_url.replace("127.0.0.1", "localhost") + arm_path,
                       "correlationId": key}),
        ("statusUrl", {"source": "dataplane", "statusUrl": "https://acct.openai.azure.com" + DATAPLANE_PATH.format(i),
                       "correlationId": key}),
        ("statusHeader", {"source": "arm", "statusUrl": base_url + arm_path, "statusHeader": "Content-Location",
                          "correlationId": key}),
    ]
    if source in RESOURCE_LANES:
        group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/soak-rg"
        deployment = f"{group}/providers/Microsoft.Resources/deployments/bad-{i}"
        res = {"source": "arm", "resourceId": deployment, "apiVersion": "2024-03-01", "correlationId": key}
        variants = [
            ("resourceId", {**res, "resourceId": f"{group}/../../providers/Microsoft.Authorization/roleAssignments/bad-{i}"}),
            ("resourceId", {**res, "resourceId": base_url + deployment}),
            ("resourceId", {**res, "resourceId": f"{group}/providers/Microsoft.Web/sites"}),
            ("resourceId", {k: v for k, v in res.items() if k != "apiVersion"}),
            ("resourceId", {**res, "statusUrl": base_url + arm_path}),
            ("waitFor", {**res, "waitFor": "gone"}),
        ]
    if source == "callback":
        arm = {"source": "arm", "statusUrl": base_url + arm_path.replace("bad-", "cb-bad-"), "correlationId": key}
        good = _callback(-1, i, base_url)
        variants = [
            ("callback.azureDevOps.planUrl",
             {**arm, "callback": {"azureDevOps": {**good, "planUrl": "https://dev.azure.com.evil.example/"}}}),
            ("timeoutSeconds", {**arm, "timeoutSeconds": 172_801, "callback": {"azureDevOps": good}}),
            ("callback.azureDevOps.authToken",
             {**arm, "callback": {"azureDevOps": {k: v for k, v in good.items() if k != "authToken"}}}),
            ("callback.azureDevOps.jobId", {**arm, "callback": {"azureDevOps": {**good, "jobId": "job/.."}}}),
        ]
    field_name, body = variants[rng.randrange(len(variants))]
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return PlannedOp(key, source, "poison", text, expect={"field": field_name})
