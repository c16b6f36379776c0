"""examples/pipelines/azure-pipelines-agentless.yml: an agent job starts, a server job waits with AzureFunction@1
in Callback mode, its body is a valid request once the pipeline fills it, and the timeouts match."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from shared.core.azure_devops import CALLBACK_HEADERS, MAX_CALLBACK_TIMEOUT_SECONDS
from shared.core.request_parser import RequestParser
from shared.core.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "azure-pipelines-agentless.yml"
#: What the pipeline puts in for each macro of the body.
FILLED = {
    "deploymentId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-app/providers/Microsoft.Resources/deployments/app-42",
    "Build.BuildId": "42",
}


def _jobs() -> dict[str, Any]:
    pipeline = yaml.safe_load(EXAMPLE.read_text())
    return {job["job"]: job for job in pipeline["jobs"]}


def test_an_agent_starts_and_a_server_job_waits_in_callback_mode() -> None:
    jobs = _jobs()
    assert jobs["start"]["pool"] == {"vmImage": "ubuntu-latest"}
    assert "--no-wait" in jobs["start"]["steps"][0]["inputs"]["inlineScript"]
    wait = jobs["wait"]
    assert wait["pool"] == "server" and wait["dependsOn"] == "start"
    (step,) = wait["steps"]
    inputs = step["inputs"]
    assert step["task"] == "AzureFunction@1"
    assert inputs["method"] == "POST" and inputs["waitForCompletion"] == "true"
    assert inputs["function"].startswith("$(") and inputs["key"] == "$(WATCHER_FUNCTION_KEY)"
    assert "headers" not in inputs or all(name in inputs["headers"] for name in CALLBACK_HEADERS)
    assert wait["variables"]["deploymentId"] == "$[ dependencies.start.outputs['deploy.deploymentId'] ]"


def test_the_body_is_a_valid_request_within_the_tasks_limit_and_the_timeouts_match() -> None:
    wait = _jobs()["wait"]
    body = wait["steps"][0]["inputs"]["body"]
    assert len(body) <= 2000  # AzureFunction@1's body maxLength
    filled = re.sub(r"\$\(([^)]+)\)", lambda m: FILLED[m.group(1)], body)
    request = json.loads(filled)
    parser = RequestParser(load_settings({}, require_storage=False))
    watched = parser.parse(json.dumps(request), datetime.now(UTC))
    assert watched.source.name == "arm" and watched.correlation_id == "42-deploy"
    timeout = request["timeoutSeconds"]
    assert timeout <= MAX_CALLBACK_TIMEOUT_SECONDS
    assert wait["timeoutInMinutes"] * 60 > timeout, "the job must outlive the watcher's deadline, so TimedOut reaches it"
