"""action.yml (GitHub) and pipelines/watch.yml (Azure Pipelines), run as their runners run them.

* **Metadata.** ``action.yml`` validates against the action-metadata schema SchemaStore publishes
  (vendored by the ``check-jsonschema`` package as ``github-actions.json``), and every input the
  scripts read is declared. The template, compiled (``${{ parameters.* }}`` and ``${{ if }}``
  expanded, as Azure Pipelines does before a run), validates against ``azure-pipelines.json``.
* **The scripts.** Each ``run:`` step of the composite action is executed in order with
  ``bash --noprofile --norc -eo pipefail``, its ``env:`` and ``${{ inputs.* }}`` / ``${{ github.* }}``
  expressions expanded as the runner expands them (an input's default too), ``GITHUB_ENV`` carried
  to the next step and ``GITHUB_OUTPUT`` read into the action's ``outputs``. The template's
  ``inlineScript`` runs the same way with its ``env:`` and ``$(macro)`` values. Against the local
  stack: Azurite, the simulator (ARM's resources and deployments, the managed-identity endpoint
  DefaultAzureCredential signs in with) and ``tools.run_local``.
* **Only requirements.txt.** The "venv" the install step finds is an empty one (no pip, no
  packages) whose ``.pth`` points at the test session's site-packages, so ``pip install -r
  requirements.txt`` must find everything satisfied — offline — and change nothing; and an
  import guard there (:mod:`tests.support.requirements_only`) refuses every module that
  ``requirements.txt`` and its dependencies do not install (pyyaml, jsonschema, pytest, …),
  so a tool that needed a development package would fail here as on a runner.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import QueueSet
from tests.support.e2e import clear_inherited_settings, fast_host_json, watcher_settings
from tests.support.processes import start_run_local
from tests.support.requirements_only import install_guard
from tools.dev.sim import Simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((PROJECT_ROOT / "action.yml").read_text(encoding="utf-8"))
TEMPLATE = yaml.safe_load((PROJECT_ROOT / "pipelines" / "watch.yml").read_text(encoding="utf-8"))
SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/web-rg"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
GITHUB = {"repository": "contoso/web", "run_id": "4242", "run_attempt": "1", "action_path": str(PROJECT_ROOT)}


def vendored_schema(name: str) -> dict[str, Any]:
    pytest.importorskip("check_jsonschema")
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / name).read_text(encoding="utf-8"))


# --- metadata ------------------------------------------------------------------------------------------------------


def test_action_yml_is_valid_action_metadata() -> None:
    import jsonschema

    jsonschema.Draft7Validator(vendored_schema("github-actions.json")).validate(ACTION)
    assert ACTION["runs"]["using"] == "composite"
    assert all(step.get("shell") == "bash" for step in ACTION["runs"]["steps"])
    assert set(ACTION["outputs"]) == {"correlation-id", "outcome", "event-id"}
    assert {"resource-id", "status-url", "start-method", "start-url", "start-body", "api-version", "correlation-id", "context",
            "timeout", "expected-seconds", "account-url", "queue", "wait"} <= set(ACTION["inputs"])
    used = {m for step in ACTION["runs"]["steps"] for v in (step.get("env") or {}).values() for m in
            re.findall(r"inputs\.([a-z-]+)", str(v))}
    assert used == set(ACTION["inputs"]), "every input reaches the scripts, and only declared ones"
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step["run"], "inputs reach scripts through env, never pasted into the script"


def test_the_compiled_template_is_a_valid_azure_pipelines_steps_document() -> None:
    import jsonschema

    compiled = compile_template({"azureSubscription": "arm", "resourceId": f"{RG}/providers/Microsoft.Resources/deployments/m"})
    jsonschema.Draft7Validator(vendored_schema("azure-pipelines.json")).validate({"steps": compiled})
    assert [s.get("checkout") or s.get("task") for s in compiled] == ["lrowatcher", "AzureCLI@2"]
    assert [s.get("task") for s in compile_template({"azureSubscription": "a", "checkoutWatcher": False})] == ["AzureCLI@2"]
    names = {p["name"] for p in TEMPLATE["parameters"]}
    assert {"resourceId", "statusUrl", "startMethod", "startUrl", "startBody", "apiVersion", "correlationId", "context", "timeout",
            "expectedSeconds", "accountUrl", "queue", "wait"} <= names


# --- expression expansion, as the runners do it ---------------------------------------------------------------------


def expand_github(text: str, inputs: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        path = match.group(1).split(".")
        if path[0] == "inputs" and len(path) == 2:
            return inputs[path[1]]
        if path[0] == "github" and len(path) == 2:
            return GITHUB[path[1]]
        if path[0] == "steps" and path[2] == "outputs" and outputs is not None:
            return outputs.get(path[1], {}).get(path[3], "")
        raise AssertionError(f"an expression this test does not know how to expand: {match.group(0)}")

    return EXPRESSION.sub(value, text)


def action_inputs(given: Mapping[str, str]) -> dict[str, str]:
    unknown = set(given) - set(ACTION["inputs"])
    assert not unknown, f"not inputs of action.yml: {unknown}"
    defaults = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    return {name: given.get(name, expand_github(defaults[name], {})) for name in ACTION["inputs"]}


def compile_template(parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    declared = {p["name"]: p for p in TEMPLATE["parameters"]}
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    values = {name: parameters.get(name, spec.get("default")) for name, spec in declared.items()}
    missing = [name for name, value in values.items() if value is None]
    assert not missing, f"required parameters not given: {missing}"

    def evaluate(expression: str) -> Any:
        if (m := re.fullmatch(r"parameters\.(\w+)", expression)) is not None:
            return values[m.group(1)]
        if (m := re.fullmatch(r"lower\(parameters\.(\w+)\)", expression)) is not None:
            return str(values[m.group(1)]).lower()
        if (m := re.fullmatch(r"if eq\(parameters\.(\w+), (true|false)\)", expression)) is not None:
            return values[m.group(1)] is (m.group(2) == "true")
        raise AssertionError(f"a template expression this test does not know: {expression}")

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            whole = EXPRESSION.fullmatch(node)
            if whole is not None:
                result = evaluate(whole.group(1))
                return str(result).lower() if isinstance(result, bool) else result
            return EXPRESSION.sub(lambda m: str(evaluate(m.group(1))), node)
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            out: list[Any] = []
            for item in node:
                if isinstance(item, dict) and len(item) == 1 and (key := next(iter(item))).startswith("${{ if"):
                    if evaluate(EXPRESSION.fullmatch(key).group(1)):
                        out.extend(walk(item[key]))
                    continue
                out.append(walk(item))
            return out
        return node

    return walk(TEMPLATE["steps"])


# --- the stack ------------------------------------------------------------------------------------------------------


def empty_venv(where: Path) -> Path:
    """A venv with no pip and no packages, seeing the session's site-packages through a .pth."""
    subprocess.run([os.path.join(sys.base_prefix, "bin", "python3"), "-m", "venv", "--without-pip", str(where)], check=True,
                   timeout=60)
    purelib = subprocess.run([str(where / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    Path(purelib, "session-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    install_guard(Path(purelib), PROJECT_ROOT / "requirements.txt")
    return where


def test_the_runners_venv_imports_only_what_requirements_txt_installs(tmp_path: Path) -> None:
    python = str(empty_venv(tmp_path / "venv") / "bin" / "python")

    def imports(module: str) -> bool:
        done = subprocess.run([python, "-c", f"import {module}"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 or "not installed by requirements.txt" in done.stderr, done.stderr
        return done.returncode == 0

    assert [m for m in ("yaml", "jsonschema", "pytest", "hypothesis", "azure.mgmt.core", "check_jsonschema") if imports(m)] == []
    assert [m for m in ("httpx", "pydantic", "azure.identity", "azure.storage.queue", "azure.functions", "publicsuffixlist", "pip")
            if not imports(m)] == []


@pytest.fixture
def stack(queues: QueueSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, dict[str, str]]]:
    clear_inherited_settings(monkeypatch)
    with Simulator() as sim:
        env = {**watcher_settings(sim, queues)}
        queues.create()
        watcher = start_run_local(env, "--host-json", str(fast_host_json(tmp_path)), "--no-local-settings", "--max-seconds", "150")
        try:
            yield sim, env
        finally:
            watcher.send_signal(signal.SIGTERM)
            try:
                watcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                watcher.kill()
                watcher.wait(timeout=10)


def job_env(base: Mapping[str, str], temp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    return {**keep, **base, "RUNNER_TEMP": str(temp), "AGENT_TEMPDIRECTORY": str(temp)}


def run_action(given: Mapping[str, str], base_env: Mapping[str, str], workspace: Path) -> tuple[int, dict[str, str], str]:
    """Every step of action.yml in order, as the runner runs a composite action. (exit code, outputs, log)."""
    inputs = action_inputs(given)
    env = job_env(base_env, workspace / "runner-temp")
    github_env = workspace / "github_env"
    step_outputs: dict[str, dict[str, str]] = {}
    log, code = "", 0
    for index, step in enumerate(ACTION["runs"]["steps"]):
        output_file = workspace / f"output-{index}"
        output_file.write_text("", encoding="utf-8")
        github_env.write_text("", encoding="utf-8")
        step_env = {**env, **{k: expand_github(str(v), inputs) for k, v in (step.get("env") or {}).items()},
                    "GITHUB_ENV": str(github_env), "GITHUB_OUTPUT": str(output_file)}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=workspace,
                              env=step_env, capture_output=True, text=True, timeout=180)
        log += done.stdout + done.stderr
        env.update(dict(line.split("=", 1) for line in github_env.read_text(encoding="utf-8").splitlines() if "=" in line))
        if "id" in step:
            step_outputs[step["id"]] = dict(line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines())
        if done.returncode != 0:
            code = done.returncode
            break
    outputs = {name: expand_github(spec["value"], inputs, step_outputs) for name, spec in ACTION["outputs"].items()}
    return code, outputs, log


def deployment(sim: Simulator, name: str, final: str = "Succeeded", **answers: Any) -> str:
    resource_id = f"{RG}/providers/Microsoft.Resources/deployments/{name}"
    error = {"error": {"code": "DeploymentFailed", "message": "A resource failed."}} if final == "Failed" else {}
    sim.script_resource(resource_id, [{"http": 404}, {"state": "Running"}, {"state": final, **error}], answers or None)
    return resource_id


def test_the_action_watches_deployments_and_starts_operations_against_the_stack(
    stack: tuple[Simulator, dict[str, str]], queues: QueueSet, tmp_path: Path,
) -> None:
    sim, env = stack
    empty_venv(tmp_path / "runner-temp" / "lro-watcher-venv")
    env = {**env, "IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header}
    common = {"queue": queues.operations, "timeout": "120"}

    # 1. A Bicep deployment started with --no-wait, watched by id; the default correlation-id.
    code, outputs, log = run_action({**common, "resource-id": deployment(sim, "main"), "api-version": "2024-03-01"}, env, tmp_path)
    assert code == 0, log
    assert outputs["correlation-id"] == "contoso/web/4242/1" and outputs["outcome"] == "Succeeded", log
    assert re.fullmatch(r"[0-9a-f-]{36}", outputs["event-id"])

    # 1b. A second step of the same job with the default correlation-id: the first step's outcome is still on the
    #     results queue under the same correlationId, and must not be taken for this one's.
    code, outputs, log = run_action({**common, "resource-id": deployment(sim, "second", "Failed"), "api-version": "2024-03-01"},
                                    env, tmp_path)
    assert code == 10 and outputs["correlation-id"] == "contoso/web/4242/1" and outputs["outcome"] == "Failed", log

    # 2. start-*: a PUT this step sends (body from a workspace file), answered with Azure-AsyncOperation.
    started = deployment(sim, "started", PUT={"style": "aao", "http": 201, "operationSteps": [{"status": "Running"},
                                                                                               {"status": "Succeeded"}]})
    (tmp_path / "main.json").write_text('{"properties": {"mode": "Incremental", "template": {}}}', encoding="utf-8")
    code, outputs, log = run_action({**common, "start-method": "PUT", "start-url": f"{started}?api-version=2024-03-01",
                                     "start-body": "@main.json", "correlation-id": "run-2"}, env, tmp_path)
    assert code == 0 and outputs["outcome"] == "Succeeded", log
    assert [r["method"] for r in sim.requests() if r["route"] == "resource" and r["operationId"] == "started"] == ["PUT"]

    # 3. A failed deployment fails the step, with the outcome in the outputs.
    code, outputs, log = run_action({**common, "resource-id": deployment(sim, "broken", "Failed"), "api-version": "2024-03-01",
                                     "correlation-id": "run-3"}, env, tmp_path)
    assert code == 10 and outputs["outcome"] == "Failed", log
    assert "::error title=lro-watcher::" in log and "DeploymentFailed" in log

    # 4. wait: false hands it over and goes on.
    code, outputs, log = run_action({**common, "resource-id": deployment(sim, "later"), "api-version": "2024-03-01",
                                     "correlation-id": "run-4", "wait": "false"}, env, tmp_path)
    assert code == 0 and outputs == {"correlation-id": "run-4", "outcome": "", "event-id": ""}, log

    # 5. status-url: the whole header line a command printed.
    sim.script("op-header", [{"status": "Running"}, {"status": "Succeeded"}])
    url = f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationStatuses/op-header?api-version=2023-12-01"
    code, outputs, log = run_action({**common, "status-url": f"Azure-AsyncOperation: {url}", "correlation-id": "run-6"}, env, tmp_path)
    assert code == 0 and outputs["outcome"] == "Succeeded", log

    # 6. Two modes at once: one error line, exit 2, nothing handed over.
    code, outputs, log = run_action({**common, "resource-id": deployment(sim, "x"), "status-url": "https://management.azure.com/x",
                                     "correlation-id": "run-5"}, env, tmp_path)
    assert code == 2 and "give exactly one of resource-id, status-url or start-method" in log

    token_header = sim.issue_token("https://management.azure.com").split(".")[0]
    assert token_header not in log and "Bearer" not in log


def test_the_pipeline_template_watches_a_deployment_against_the_stack(
    stack: tuple[Simulator, dict[str, str]], queues: QueueSet, tmp_path: Path,
) -> None:
    sim, env = stack
    empty_venv(tmp_path / "lro-watcher-venv")
    resource_id = deployment(sim, "ado")
    [_, task] = compile_template({"azureSubscription": "arm", "resourceId": resource_id, "apiVersion": "2024-03-01",
                                  "queue": queues.operations, "timeout": "120", "watcherPath": str(PROJECT_ROOT)})
    macros = {"System.TeamProject": "web", "Build.BuildId": "77", "System.JobAttempt": "1"}
    step_env = {k: re.sub(r"\$\(([\w.]+)\)", lambda m: macros[m.group(1)], str(v)) for k, v in task["env"].items()}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", task["inputs"]["inlineScript"]],
                          cwd=tmp_path, env={**job_env(env, tmp_path), **step_env}, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "##vso[task.setvariable variable=correlationId;isoutput=true]web/77/1" in done.stdout
    assert "##vso[task.setvariable variable=outcome;isoutput=true]Succeeded" in done.stdout
