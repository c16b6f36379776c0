"""examples/pipelines: the GitHub workflow and the Azure Pipelines YAML deploy with --no-wait and watch by
resourceId, start a POST action through tools.start, use only inputs the action and the template declare,
and validate against SchemaStore's schemas (vendored by check-jsonschema). No curl, no token handling."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "pipelines"


def schema(name: str) -> dict[str, Any]:
    pytest.importorskip("check_jsonschema")
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / name).read_text(encoding="utf-8"))


def load(name: str) -> Any:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["github-actions.yml", "azure-pipelines.yml"])
def test_no_curl_no_token_and_a_deployment_started_without_waiting(name: str) -> None:
    text = json.dumps(load(name))  # what runs: the comments may say why there is no curl
    assert "curl" not in text and "get-access-token" not in text and "pip install" not in text
    assert "az deployment group create --no-wait" in text


def test_the_workflow_uses_the_action_by_resource_id_and_to_start_a_post() -> None:
    import jsonschema

    workflow = load("github-actions.yml")
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
    jsonschema.Draft7Validator(schema("github-workflows.json")).validate(workflow)
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    uses = [step for step in workflow["jobs"]["deploy"]["steps"] if str(step.get("uses", "")).endswith("/lro-watcher@v1")]
    assert len(uses) == 2
    for step in uses:
        assert set(step["with"]) <= set(action["inputs"]), set(step["with"]) - set(action["inputs"])
    assert "resource-id" in uses[0]["with"] and uses[0]["with"]["api-version"]
    assert uses[1]["with"]["start-method"] == "POST" and uses[1]["with"]["start-url"].startswith("/subscriptions/")
    assert workflow["permissions"]["id-token"] == "write"


def test_the_azure_pipeline_uses_the_template_by_resource_id_and_to_start_a_post() -> None:
    import jsonschema

    pipeline = load("azure-pipelines.yml")
    jsonschema.Draft7Validator(schema("azure-pipelines.json")).validate(pipeline)
    template = yaml.safe_load((ROOT / "pipelines" / "watch.yml").read_text(encoding="utf-8"))
    declared = {p["name"] for p in template["parameters"]}
    uses = [step for step in pipeline["steps"] if step.get("template") == "pipelines/watch.yml@lrowatcher"]
    assert len(uses) == 2
    for step in uses:
        assert set(step["parameters"]) <= declared, set(step["parameters"]) - declared
    assert "resourceId" in uses[0]["parameters"] and uses[0]["parameters"]["apiVersion"]
    assert uses[1]["parameters"]["startMethod"] == "POST"
    assert [r["repository"] for r in pipeline["resources"]["repositories"]] == ["lrowatcher"]
