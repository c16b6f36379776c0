"""python -m tools.enqueue: flags -> request, validated by the function's own parser, sent to Azurite.

Most cases call ``main(argv, environ)`` in-process; one runs the module as a subprocess,
as a pipeline does. The environment is always given explicitly (the test's queues and
settings), never inherited.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.core.message_text import decode_message_text
from tests.support import QueueSet
from tools.ops import enqueue
from tools.ops.enqueue import status_url_from

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEVCENTER_OP = "fa067167-e49d-41bd-8dd8-de719b9de3b3"
ARM_URL = (
    f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus"
    "/operationResults/op-3?api-version=2023-12-01"
)
NO_STORAGE = {"OPERATIONS_QUEUE": "operations"}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = enqueue.main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, out, err


APIM = ("--source", "apim", "--subscription-id", SUBSCRIPTION, "--location", "West US", "--operation-id", "op-1")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (APIM, {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "op-1"}),
        (
            ("--source", "operationalinsights", "--subscription-id", "sub-1", "--location", "westus", "--operation-id", "op-2",
             "--api-version", "2025-07-01"),
            {"source": "operationalinsights", "subscriptionId": "sub-1", "location": "westus", "operationId": "op-2",
             "apiVersion": "2025-07-01"},
        ),
        (
            ("--source", "devcenter", "--endpoint", "https://tenant-dc.westus3.devcenter.azure.com", "--project", "web",
             "--operation-id", DEVCENTER_OP, "--timeout", "3600"),
            {"source": "devcenter", "endpoint": "https://tenant-dc.westus3.devcenter.azure.com", "projectName": "web",
             "operationId": DEVCENTER_OP, "timeoutSeconds": 3600},
        ),
        (
            ("--status-url", ARM_URL, "--correlation-id", "release-42", "--context", '{"stage": "prod", "n": [1]}'),
            {"source": "arm", "statusUrl": ARM_URL, "correlationId": "release-42", "context": {"stage": "prod", "n": [1]}},
        ),
    ],
    ids=["apim", "operationalinsights", "devcenter", "arm-inferred"],
)
def test_dry_run_prints_the_request_json_only(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: dict[str, Any]) -> None:
    code, out, err = run(capsys, NO_STORAGE, *argv, "--dry-run")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert json.loads(out) == expected
    assert list(json.loads(out)) == list(expected), "source first, then the fields in a stable order"


@pytest.mark.parametrize(
    "value",
    [
        ARM_URL,
        f"Azure-AsyncOperation: {ARM_URL}",
        f"azure-asyncoperation:{ARM_URL}\r\n",
        f"  AZURE-ASYNCOPERATION :   {ARM_URL}  ",
        f"< Azure-AsyncOperation: {ARM_URL}",
        f"'Azure-AsyncOperation': '{ARM_URL}'",
        f'"Azure-AsyncOperation": "{ARM_URL}"',
    ],
)
def test_status_url_takes_the_value_or_the_header_line(value: str) -> None:
    assert status_url_from(value) == ARM_URL


def test_a_header_line_of_another_header_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, NO_STORAGE, "--status-url", f"Retry-After: {ARM_URL}", "--dry-run")
    assert code == 2 and out == ""
    assert "Field 'statusUrl'" in err and "'Retry-After' header line" in err and "--status-url" in err


@pytest.mark.parametrize(
    ("line", "header"),
    [(f"Location: {ARM_URL}", "Location"), (f"location:{ARM_URL}", "Location"), (f"< LOCATION: {ARM_URL}", "Location")],
)
def test_a_location_header_line_sets_status_header(capsys: pytest.CaptureFixture[str], line: str, header: str) -> None:
    code, out, err = run(capsys, NO_STORAGE, "--status-url", line, "--dry-run")
    assert code == 0, err
    assert json.loads(out) == {"source": "arm", "statusUrl": ARM_URL, "statusHeader": header}


def test_an_azure_asyncoperation_line_leaves_the_default_implicit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, NO_STORAGE, "--status-url", f"Azure-AsyncOperation: {ARM_URL}", "--dry-run")
    assert code == 0, err
    assert json.loads(out) == {"source": "arm", "statusUrl": ARM_URL}


def test_an_operation_location_line_is_a_dataplane_request(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://tenant-dc.westus.devcenter.azure.com/projects/web/operationstatuses/x?api-version=2025-02-01"
    code, out, err = run(capsys, NO_STORAGE, "--status-url", f"Operation-Location: {url}", "--dry-run")
    assert code == 0, err
    assert json.loads(out) == {"source": "dataplane", "statusUrl": url}


def test_a_bad_status_header_flag_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, NO_STORAGE, "--status-url", ARM_URL, "--status-header", "Retry-After", "--dry-run")
    assert code == 2 and out == ""
    assert "Field 'statusHeader'" in err and "--status-header" in err


@pytest.mark.parametrize(
    ("argv", "field", "flag"),
    [
        (("--source", "apim", "--location", "westus", "--operation-id", "x"), "subscriptionId", "--subscription-id"),
        (("--source", "apim", "--subscription-id", "not-a-uuid", "--location", "w", "--operation-id", "x"), "subscriptionId", "--subscription-id"),
        (("--source", "devcenter", "--endpoint", "https://evil.example.com", "--project", "web", "--operation-id", DEVCENTER_OP), "endpoint", "--endpoint"),
        (("--source", "devcenter", "--endpoint", "https://t-dc.westus.devcenter.azure.com", "--project", "a/b", "--operation-id", DEVCENTER_OP), "projectName", "--project"),
        (("--status-url", "https://evil.example.com/subscriptions/x/operationResults/y?api-version=1"), "statusUrl", "--status-url"),
        (("--status-url", ARM_URL.split("?")[0]), "statusUrl", "--status-url"),
        ((*APIM, "--status-url", ARM_URL), "statusUrl", "--status-url"),
        ((*APIM, "--context", "{not json"), "context", "--context"),
        ((*APIM, "--context", "[1, 2]"), "context", "--context"),
        ((*APIM, "--timeout", "0"), "timeoutSeconds", "--timeout"),
        ((*APIM, "--correlation-id", "c" * 257), "correlationId", "--correlation-id"),
        (("--operation-id", "x"), "source", None),
    ],
    ids=["missing", "not-uuid", "host-not-allowed", "path-segment", "arm-host", "no-api-version", "other-source-field",
         "context-not-json", "context-not-object", "timeout-0", "correlation-too-long", "no-source"],
)
def test_invalid_requests_exit_2_naming_the_field_and_send_nothing(
    capsys: pytest.CaptureFixture[str], queues: QueueSet, argv: tuple[str, ...], field: str, flag: str | None
) -> None:
    queues.create()
    code, out, err = run(capsys, dict(queues), *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: invalid request: ") and f"Field '{field}'" in err
    assert flag is None or f"(flag {flag})" in err
    assert queues.count() == 0


def test_settings_of_the_function_apply(capsys: pytest.CaptureFixture[str]) -> None:
    devcenter = ("--source", "devcenter", "--endpoint", "http://127.0.0.1:8123", "--project", "web", "--operation-id", DEVCENTER_OP, "--dry-run")
    assert run(capsys, NO_STORAGE, *devcenter)[0] == 2
    assert run(capsys, {**NO_STORAGE, "STATUS_HOST_ALLOWLIST": "127.0.0.1:8123"}, *devcenter)[0] == 0
    local_arm = ("--status-url", "http://127.0.0.1:8124/subscriptions/s/operationResults/o?api-version=1", "--dry-run")
    assert run(capsys, NO_STORAGE, *local_arm)[0] == 2
    assert run(capsys, {**NO_STORAGE, "ARM_ENDPOINT": "http://127.0.0.1:8124"}, *local_arm)[0] == 0


def test_bad_settings_exit_2_naming_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, {"POLL_MIN_DELAY_SECONDS": "soon"}, *APIM, "--dry-run")
    assert code == 2 and "POLL_MIN_DELAY_SECONDS" in err
    code, _, err = run(capsys, {}, *APIM)
    assert code == 2 and "AzureWebJobsStorage" in err and "--connection-string" in err


def test_enqueue_sends_the_json_and_prints_the_message_id(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    code, out, err = run(capsys, dict(queues), *APIM, "--correlation-id", "c-1")
    assert (code, err) == (0, "")
    first, text = out.splitlines()
    (message,) = queues.client().peek_messages(max_messages=32)
    assert first == f"enqueued message {message.id} on queue {queues.operations}"
    assert message.content == text == json.dumps(json.loads(text), separators=(",", ":"))
    assert json.loads(text)["correlationId"] == "c-1"
    assert message.expires_on > datetime.now(UTC) + timedelta(days=365), "a request never expires unread"


def test_base64_sends_the_base64_of_the_json(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    code, out, _ = run(capsys, dict(queues), *APIM, "--base64")
    assert code == 0 and out.splitlines()[0].endswith("(base64)")
    (content,) = queues.peek()
    assert base64.b64decode(content).decode() == out.splitlines()[1]
    assert decode_message_text(content) == json.loads(out.splitlines()[1]), "the watcher reads it"
    code, out, _ = run(capsys, NO_STORAGE, *APIM, "--base64", "--dry-run")
    assert base64.b64decode(out.strip()) == base64.b64decode(content)


def test_flags_choose_the_account_and_queue(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    other = f"{queues.operations}-x"
    queues.create(other)
    code, _, err = run(capsys, {}, *APIM, "--connection-string", queues.connection_string, "--operations-queue", other)
    assert (code, err) == (0, "")
    assert len(queues.peek(other)) == 1 and queues.peek() == []


def test_local_settings_file_is_read_when_asked(capsys: pytest.CaptureFixture[str], queues: QueueSet, tmp_path: Path) -> None:
    queues.create()
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": dict(queues)}))
    assert run(capsys, {}, *APIM, "--local-settings", str(settings))[0] == 0
    assert len(queues.peek()) == 1


def test_a_missing_queue_exits_1_and_says_so(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    code, out, err = run(capsys, dict(queues), *APIM)
    assert code == 1 and out == ""
    assert "does the queue exist" in err and "AccountKey" not in err


def test_account_url_uses_default_azure_credential() -> None:
    args = enqueue.build_parser().parse_args(["--account-url", "https://acct.queue.core.windows.net"])
    from azure.identity import DefaultAzureCredential

    from tools.ops._cli import queue_client

    client = queue_client(args, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, "operations")
    assert client.url == "https://acct.queue.core.windows.net/operations"
    assert isinstance(client.credential, DefaultAzureCredential)


def test_python_m_tools_enqueue_as_a_pipeline_runs_it(queues: QueueSet) -> None:
    queues.create()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "OPERATIONS_QUEUE"))}, **queues}
    done = subprocess.run(
        [sys.executable, "-m", "tools.enqueue", "--status-url", f"Azure-AsyncOperation: {ARM_URL}\r",
         "--context", '{"run": 7}'],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(queues.peek()[0]) == {"source": "arm", "statusUrl": ARM_URL, "context": {"run": 7}}
    bad = subprocess.run([sys.executable, "-m", "tools.enqueue", "--source", "apim"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Field 'subscriptionId'" in bad.stderr
    assert len(queues.peek()) == 1


def test_the_text_sent_is_what_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    big = json.dumps({"blob": "x" * 50_000})  # fits as JSON, not as base64 (which is a third larger)
    assert run(capsys, NO_STORAGE, *APIM, "--context", big, "--dry-run")[0] == 0
    code, out, err = run(capsys, NO_STORAGE, *APIM, "--context", big, "--dry-run", "--base64")
    assert code == 2 and out == "" and "larger than" in err


DEPLOYMENT = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/web-rg/providers/Microsoft.Resources/deployments/main"


def test_resource_id_wait_for_and_expected_seconds_build_a_resource_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, NO_STORAGE, "--resource-id", DEPLOYMENT, "--api-version", "2024-03-01", "--wait-for", "deleted",
                       "--expected-seconds", "600", "--dry-run")
    assert code == 0
    assert json.loads(out) == {"source": "arm", "resourceId": DEPLOYMENT, "waitFor": "deleted", "apiVersion": "2024-03-01",
                               "expectedSeconds": 600}


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--resource-id", DEPLOYMENT), "--resource-id"),  # no api-version
        (("--resource-id", "https://management.azure.com" + DEPLOYMENT, "--api-version", "1"), "--resource-id"),
        (("--resource-id", DEPLOYMENT, "--api-version", "1", "--status-url", ARM_URL), "--resource-id"),
        (("--resource-id", DEPLOYMENT, "--api-version", "1", "--wait-for", "gone"), "--wait-for"),
        (("--status-url", ARM_URL, "--wait-for", "deleted"), "--wait-for"),
        (("--status-url", ARM_URL, "--expected-seconds", "0"), "--expected-seconds"),
    ],
)
def test_bad_resource_flags_exit_2_naming_the_flag(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], flag: str) -> None:
    code, out, err = run(capsys, NO_STORAGE, *argv, "--dry-run")
    assert code == 2 and out == ""
    assert f"(flag {flag})" in err and len(err.strip().splitlines()) == 1
