"""End to end, an agentless Azure Pipelines wait: ``POST /api/watch`` on ``run_local --http-port`` with the
headers AzureFunction@1 sends, reads of the simulator's ARM, live log lines and one TaskCompleted per
outcome at the simulator's Azure DevOps, a 500 then success, a 401, the 400 cases, and the job token in
no output (results, poison, run_local's log, the simulator's records).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import QueueSet, start_run_local, wait_until
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import Simulator

SUB = "00000000-0000-0000-0000-000000000000"
TOKEN = "eyJhbGciOi.agentless-job-token-" + uuid.uuid4().hex


def pipeline_headers(sim: Simulator, plan_id: str, token: str = TOKEN) -> dict[str, str]:
    """AzureFunction@1's default headers, as its task.json writes them (values as a pipeline fills them)."""
    return {
        "Content-Type": "application/json",
        "PlanUrl": sim.plan_url("contoso"),
        "ProjectId": "6f1a0a3e-0000-4000-8000-000000000001",
        "HubName": "build",
        "PlanId": plan_id,
        "JobId": f"job-{plan_id}",
        "TimelineId": f"timeline-{plan_id}",
        "TaskInstanceId": f"task-{plan_id}",
        "AuthToken": token,
    }


def arm_request(sim: Simulator, op: str, **extra: Any) -> dict[str, Any]:
    url = f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/{op}?api-version=2023-12-01"
    return {"source": "arm", "statusUrl": url, "correlationId": op, **extra}


class Stack:
    def __init__(self, sim: Simulator, queues: QueueSet, tmp_path: Path) -> None:
        self.sim, self.queues, self.log_path = sim, queues, tmp_path / "run_local.log"
        env = watcher_settings(sim, queues, CALLBACK_HOST_ALLOWLIST=f"127.0.0.1:{sim.port}", RESULT_SINK="both",
                               PUBLISH_PROGRESS="true", EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint)
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        self.process = start_run_local(env, "--host-json", str(fast_host_json(tmp_path)), "--no-local-settings", "--http-port", "0", log=self.log)
        line = wait_until(lambda: re.search(r"http: POST (http://127\.0\.0\.1:\d+/api/watch)", self.output()),
                          timeout=60, description="run_local to serve POST /api/watch")
        self.url = line.group(1)
        self.http = httpx.Client(timeout=20)

    def output(self) -> str:
        return self.log_path.read_text()

    def post(self, body: Any, headers: dict[str, str]) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(self.url, params={"code": "local-function-key"}, content=content, headers=headers)

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def test_an_agentless_wait_end_to_end(queues: QueueSet, tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.script("op-ok", [{"status": "InProgress", "percentComplete": 10}, {"status": "InProgress", "percentComplete": 60},
                             {"status": "Succeeded", "percentComplete": 100}])
        sim.script("op-failed", [{"status": "Running"}, {"status": "Failed", "error": {"code": "Quota", "message": "no quota"}}])
        sim.script("op-500", [{"status": "Succeeded"}])
        sim.script("op-401", [{"status": "Succeeded"}])
        sim.azdo.answer_next("plan-500", [500])
        sim.azdo.expect_token("plan-401", "a-different-token")  # as when the job's token expired
        stack = Stack(sim, queues, tmp_path)
        try:
            # -- the 400 cases first: nothing may reach the queue
            ok_headers = pipeline_headers(sim, "plan-x")
            partial = {k: v for k, v in ok_headers.items() if k not in ("JobId", "TimelineId")}
            refusals = [
                (stack.post({"source": "arm", "statusURL": "x"}, ok_headers), "statusURL"),
                (stack.post(arm_request(sim, "op-x"), partial), "JobId, TimelineId"),
                (stack.post(arm_request(sim, "op-x"), {**ok_headers, "PlanUrl": "https://dev.azure.com.evil.example/"}),
                 "callback.azureDevOps.planUrl"),
                (stack.post(arm_request(sim, "op-x", timeoutSeconds=172801), ok_headers), "timeoutSeconds"),
                (stack.post(b"{not json", ok_headers), "not valid JSON"),
            ]
            for response, named in refusals:
                assert response.status_code == 400, response.text
                assert named in response.json()["error"] and TOKEN not in response.text
            assert stack.http.get(stack.url).status_code == 404  # POST only, as the binding says
            assert queues.count(queues.operations) == 0

            # -- four agentless waits
            accepted = {}
            for op, plan in (("op-ok", "plan-ok"), ("op-failed", "plan-failed"), ("op-500", "plan-500"), ("op-401", "plan-401")):
                response = stack.post(arm_request(sim, op), pipeline_headers(sim, plan))
                assert response.status_code == 200, response.text
                accepted[plan] = response.json()
                assert response.json() == {"accepted": True, "correlationId": op}

            (ok,) = sim.azdo.wait_for_completed("plan-ok", timeout=60)
            (failed,) = sim.azdo.wait_for_completed("plan-failed", timeout=60)
            (after_500,) = sim.azdo.wait_for_completed("plan-500", timeout=60)
            assert ok["body"] == {"name": "TaskCompleted", "taskId": "task-plan-ok", "jobId": "job-plan-ok", "result": "succeeded"}
            assert failed["body"]["result"] == "failed" and after_500["body"]["result"] == "succeeded"
            assert [e["status"] for e in sim.azdo.received("plan-500", "event")] == [500, 200]  # retried once

            wait_until(lambda: "refused by Azure DevOps (HTTP 401" in stack.output(), timeout=60, description="the 401 logged")
            wait_until(lambda: queues.count(queues.operations) == 0, timeout=30, description="every message done")
            assert [e["status"] for e in sim.azdo.received("plan-401", "event")] == [401]  # once, not retried
            assert stack.output().count("refused by Azure DevOps") == 1

            lines = sim.azdo.feed_lines("plan-ok")
            assert len(lines) >= 3
            assert re.fullmatch(r"\d\d:\d\d:\d\d InProgress 10% \(next read in \d+ s\)", lines[0]), lines
            assert re.fullmatch(r"\d\d:\d\d:\d\d Succeeded \(status Succeeded, 3 reads\)", lines[-1]), lines
            assert sim.azdo.feed_lines("plan-failed")[-1].endswith("Failed (status Failed, 2 reads): no quota")
            assert {r["auth"] for r in sim.azdo.received() if r["planId"] != "plan-401"} == {"ok"}
        finally:
            stack.stop()
        output = stack.output()
        sim_records = json.dumps([sim.requests(), sim.azdo.received()])
        events = sim.events()

    results = queues.take_all_json(queues.results)
    by_correlation: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_correlation.setdefault(result["correlationId"], []).append(result)
    assert {k: {r["outcome"] for r in v} for k, v in by_correlation.items()} == {
        "op-ok": {"Succeeded"}, "op-failed": {"Failed"}, "op-500": {"Succeeded"}, "op-401": {"Succeeded"}}
    assert len(by_correlation["op-500"]) == 2 and len({r["eventId"] for r in by_correlation["op-500"]}) == 1  # retried, same id
    assert len(by_correlation["op-401"]) == 1  # the sinks got the outcome once; the refusal was not retried
    poison = queues.take_all(queues.poison)
    assert poison == []
    assert {e["type"] for e in events} >= {"LroWatcher.Operation.Succeeded", "LroWatcher.Operation.Failed",
                                            "LroWatcher.Operation.Progress"}
    for name, text in (("results", json.dumps(results)), ("events", json.dumps(events)), ("poison", json.dumps(poison)),
                       ("run_local log", output), ("simulator records", sim_records)):
        assert TOKEN not in text and TOKEN[:16] not in text, f"the job token is in the {name}"
        if name in ("results", "events"):
            assert "planUrl" not in text and "authToken" not in text, f"the callback object is in the {name}"
    assert all("callback" not in r for r in results) and all("callback" not in e["data"] for e in events)
