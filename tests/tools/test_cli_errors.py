"""No traceback for any input or setting: each retried as the issue wrote it, as a subprocess, as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tools.dev.azurite import Azurite, connection_string_for
from tools.ops._cli import run_tool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARM_URL = ("https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Web"
           "/locations/westus/operationResults/op-3?api-version=2023-12-01")


def run(argv: list[str | bytes], tmp_path: Path, **env: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "STATUS_", "POLL_", "ARM_"))}
    done = subprocess.run([sys.executable, "-m", *argv], cwd=tmp_path, env={**clean, **env, "PYTHONPATH": str(PROJECT_ROOT)},
                          capture_output=True, timeout=120)
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--correlation-id", b"bad\xffbytes"], "Field 'correlationId' is not valid text (the argument holds byte 0xff"),
        (["--context", '{"a":"\\udcff"}'], "Field 'context' is not valid text (it holds a lone surrogate U+DCFF"),
        (["--context", '{"blob": "' + "x" * 50_000 + '"}', "--base64"], "it is base64, which adds a third"),
    ],
    ids=["non-utf8-argument", "lone-surrogate", "base64-too-large"],
)
def test_enqueue_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str | bytes], says: str) -> None:
    code, out, err = run(["tools.enqueue", "--status-url", ARM_URL, *argv, "--dry-run"], tmp_path)
    assert (code, out) == (2, "")
    assert says in one_line(err)


def test_a_public_suffix_allowlist_is_refused_naming_the_setting(tmp_path: Path) -> None:
    code, _, err = run(["tools.enqueue", "--status-url", ARM_URL, "--dry-run"], tmp_path, STATUS_HOST_ALLOWLIST="*.com")
    assert code == 2 and one_line(err).startswith("error: setting STATUS_HOST_ALLOWLIST: entry '*.com' matches every host")


@pytest.mark.parametrize("tool", ["tools.results", "tools.poison"])
def test_a_malformed_storage_connection_names_the_setting(tmp_path: Path, tool: str) -> None:
    code, _, err = run([tool], tmp_path, AzureWebJobsStorage="garbage")
    assert code == 2 and "setting AzureWebJobsStorage: is not a storage connection string" in one_line(err)


def test_run_local_start_up_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run(["tools.run_local", "--drain"], tmp_path, AzureWebJobsStorage="UseDevelopmentStorage=true",
                       POLL_MAX_FAILURES="0")
    assert code == 2 and "function_app did not start: setting POLL_MAX_FAILURES: must be between 1 and 10000" in one_line(err)
    code, _, err = run(["tools.run_local", "--drain"], tmp_path, AzureWebJobsStorage="garbage")
    assert code == 2 and "setting AzureWebJobsStorage: is not a storage connection string" in one_line(err)


def test_an_unexpected_error_in_a_tool_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> int:
        raise TypeError("something the tool did not expect")

    assert run_tool(broken) == 1
    assert one_line(capsys.readouterr().err) == "error: unexpected TypeError: something the tool did not expect (a bug in the tool: please report it)"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tools.poison", "--max", "-1"], "--max must be at least 1, got -1"),
        (["tools.results", "--interval", "-1"], "--interval must be more than 0 seconds"),
        (["tools.results", "--wait"], "--wait, --timeout, --message-id and --event-id need --correlation-id"),
    ],
)
def test_bad_numbers_and_combinations_are_one_line(tmp_path: Path, argv: list[str | bytes], says: str) -> None:
    code, _, err = run(argv, tmp_path, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert code == 2 and says in one_line(err)


@pytest.mark.parametrize(("tool", "says"), [
    ("tools.simulator", "cannot listen on 127.0.0.1:{port}"),
    ("tools.stack", "the stack could not start: port {port} is in use (another stack or Azurite? it keeps running)"),
])
def test_a_port_in_use_is_one_line(tmp_path: Path, tool: str, says: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = ["--blob-port", "0", "--location", str(tmp_path / ".azurite")] if tool == "tools.stack" else []
        flag = "--queue-port" if tool == "tools.stack" else "--port"
        code, _, err = run([tool, flag, str(port), *extra], tmp_path)
    assert code in (1, 2) and says.format(port=port) in one_line(err)


class _StrictAzurite(Azurite):
    """Azurite as the old README started it: without --skipApiVersionCheck."""

    def command(self, port: int) -> list[str]:
        return [part for part in super().command(port) if part != "--skipApiVersionCheck"]


def test_run_local_against_an_azurite_that_checks_api_versions_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"), encoding="utf-8")
    with _StrictAzurite() as strict:
        code, _, err = run(["tools.run_local", "--drain", "--max-seconds", "60"], tmp_path,
                           AzureWebJobsStorage=strict.connection_string)
    assert code == 2 and "start it with --skipApiVersionCheck (python -m tools.stack does)" in err
    assert "Traceback" not in err and "retrying" not in err


def test_tools_read_the_local_settings_file_as_run_local_does(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": false, "Values": {"AzureWebJobsStorage": "garbage"}}',
                                                  encoding="utf-8")
    code, _, err = run(["tools.results"], tmp_path)
    assert code == 2 and "setting AzureWebJobsStorage: is not a storage connection string" in one_line(err)
    code, _, err = run(["tools.results", "--no-local-settings"], tmp_path)
    assert code == 2 and "set AzureWebJobsStorage to a storage connection string" in one_line(err)
    code, _, err = run(["tools.results"], tmp_path, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert "AzureWebJobsStorage" not in err, "the environment wins over the file"


# -- errors that name the setting, and say what to do ---------------------------------------------------------

SIM = "http://127.0.0.1:10090"


def _stack_settings_file(directory: Path) -> None:
    """local.settings.json as `make stack` writes it (the simulator on its fixed port)."""
    import json
    from types import SimpleNamespace

    from tools.dev import stack

    sim = SimpleNamespace(base_url=SIM, port=10090, identity_endpoint=f"{SIM}/msi/token", identity_header="h",
                          eventgrid_endpoint=f"{SIM}/eventgrid/api/events")
    document = stack.local_settings_document(stack.stack_settings(10001, 10000, sim))
    (directory / "local.settings.json").write_text(json.dumps(document), encoding="utf-8")


def test_a_dry_run_after_make_stack_names_the_stacks_arm_endpoint_and_the_way_out(tmp_path: Path) -> None:
    _stack_settings_file(tmp_path)
    code, out, err = run(["tools.enqueue", "--status-url", ARM_URL, "--dry-run"], tmp_path)
    line = one_line(err)
    assert (code, out) == (2, "") and "Field 'statusUrl' has host 'management.azure.com'" in line
    assert f"ARM_ENDPOINT is '{SIM}', from local.settings.json;" in line
    assert "`make stack` writes it" in line and "pass --no-local-settings" in line
    code, out, _ = run(["tools.enqueue", "--status-url", ARM_URL, "--dry-run", "--no-local-settings"], tmp_path)
    assert code == 0 and "management.azure.com" in out, "what the line says to do works"


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["--status-url", "Operation-Location: https://ai.cognitiveservices.azure.com/ops/1?api-version=1"], {},
         "DATAPLANE_HOSTS is '*.devcenter.azure.com=https://devcenter.azure.com/.default', its default "
         "(not set); to poll ai.cognitiveservices.azure.com, add an entry 'ai.cognitiveservices.azure.com=SCOPE'"),
        (["--source", "devcenter", "--endpoint", "https://evil.example.com", "--project", "web", "--operation-id",
          "fa067167-e49d-41bd-8dd8-de719b9de3b3"], {"STATUS_HOST_ALLOWLIST": "*.devcenter.azure.com,dc.example.com"},
         "STATUS_HOST_ALLOWLIST is '*.devcenter.azure.com,dc.example.com', set in the environment; "
         "to allow evil.example.com, add it to the list (entries separated by ','); change STATUS_HOST_ALLOWLIST in the "
         "environment."),
    ],
    ids=["dataplane-default", "devcenter-environment"],
)
def test_a_refused_host_names_the_setting_its_value_and_where_it_came_from(
    tmp_path: Path, argv: list[str | bytes], env: dict[str, str], says: str,
) -> None:
    code, _, err = run(["tools.enqueue", *argv, "--dry-run"], tmp_path, **env)
    assert code == 2 and says in one_line(err)


def test_start_says_where_a_token_may_go_and_why(tmp_path: Path) -> None:
    _stack_settings_file(tmp_path)
    code, _, err = run(["tools.start", "--method", "PUT", "--url", ARM_URL, "--dry-run"], tmp_path)
    line = one_line(err)
    assert code == 2 and f"ARM_ENDPOINT is '{SIM}', from local.settings.json" in line and "--no-local-settings" in line


def test_an_http_account_url_says_azurite_needs_a_connection_string(tmp_path: Path) -> None:
    code, _, err = run(["tools.results", "--account-url", "http://127.0.0.1:10001/devstoreaccount1"], tmp_path)
    assert code == 2 and "is http, and DefaultAzureCredential's tokens go over https only: for Azurite pass " \
                         "--connection-string" in one_line(err)


@pytest.mark.parametrize("tool", ["tools.results", "tools.poison", "tools.enqueue"])
def test_storage_that_is_down_says_is_azurite_running(tmp_path: Path, tool: str) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    extra = ["--source", "apim", "--subscription-id", "00000000-0000-0000-0000-000000000000", "--location", "westus",
             "--operation-id", "o"] if tool == "tools.enqueue" else []
    code, out, err = run([tool, *extra], tmp_path, AzureWebJobsStorage=connection_string_for(port))
    assert (code, out) == (1, "")
    assert one_line(err) == (f"error: cannot reach the queue service at 127.0.0.1:{port} (connection refused): "
                             "is Azurite running? `make stack` starts it")


def test_a_wrong_account_key_says_so_in_the_tools_and_in_run_local(tmp_path: Path, azurite: Azurite) -> None:
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    code, _, err = run(["tools.results"], tmp_path, AzureWebJobsStorage=wrong)
    assert code == 1 and one_line(err) == ("error: the storage account refused the request: the account key does not "
                                           "match (check AccountKey in the connection string: AzureWebJobsStorage, or "
                                           "--connection-string)")
    (tmp_path / "host.json").write_text((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run(["tools.run_local", "--drain"], tmp_path, AzureWebJobsStorage=wrong)
    assert code == 1 and "cannot create queue operations: the storage account refused the request: the account key " \
                         "does not match" in one_line(err), "a wrong key stays wrong: no retries"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tools.results", "--local-settings", "nope.json"], "error: --local-settings nope.json: no such file"),
        (["tools.enqueue", "--local-settings", "local.settings.json", "--no-local-settings"],
         "error: --local-settings local.settings.json and --no-local-settings contradict each other: give one"),
        (["tools.poison", "--host-json", "nope.json"], "error: --host-json nope.json: no such file"),
        (["tools.results", "--follow", "--max-seconds", "-1"], "error: --max-seconds must be more than 0 seconds, got -1"),
        (["tools.results", "--correlation-id", "c", "--wait", "--timeout", "nan"], "error: --timeout must be more than 0 seconds, got nan"),
        (["tools.start", "--method", "PUT", "--url", ARM_URL, "--wait", "--wait-timeout", "-1"],
         "error: --wait-timeout must be more than 0 seconds, got -1"),
        (["tools.soak", "--max-seconds", "-1"], "error: --max-seconds must be more than 0 seconds, got -1"),
        (["tools.soak", "--window", "0"], "error: --window must be at least 1, got 0"),
        (["tools.soak", "--fault-rate", "2"], "error: --fault-rate must be a share from 0 to 1, got 2"),
        (["tools.bench", "--only", "p9"], "error: --only takes figures from p1, p2, p3, p4, p5, p6, comma-separated; got 'p9'"),
        (["tools.bench", "--runs", "0"], "error: --runs must be at least 1, got 0"),
    ],
)
def test_paths_and_numbers_that_cannot_work_are_refused_in_one_line(tmp_path: Path, argv: list[str | bytes], says: str) -> None:
    (tmp_path / "local.settings.json").write_text('{"Values": {}}', encoding="utf-8")
    code, out, err = run(argv, tmp_path, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert (code, out) == (2, "") and one_line(err) == says


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--host-json", "nope.json"], "--host-json nope.json: no such file"),
        (["--local-settings", "nope.json"], "--local-settings nope.json: no such file"),
        (["--local-settings", "host.json", "--no-local-settings"],
         "--local-settings host.json and --no-local-settings contradict each other: give one"),
        (["--max-seconds", "-1"], "--max-seconds must be more than 0 seconds, got -1"),
        (["--lease-seconds", "0"], "--lease-seconds must be at least 1, got 0"),
        (["--http-port", "70000"], "--http-port must be a port number (0 to 65535), got 70000"),
    ],
)
def test_run_local_refuses_a_path_that_does_not_exist_and_numbers_that_cannot_work(
    tmp_path: Path, argv: list[str | bytes], says: str,
) -> None:
    code, _, err = run(["tools.run_local", "--drain", *argv], tmp_path, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert code == 2 and one_line(err).endswith(f"ERROR   run_local: {says}")


@pytest.mark.parametrize("doc", ["pipelines.md", "operating.md"])
def test_the_docs_refused_host_sample_is_what_the_tool_prints(tmp_path: Path, doc: str) -> None:
    import shlex

    lines = (PROJECT_ROOT / "docs" / doc).read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("$ python -m tools.enqueue") and "evil.example.com" in line)
    code, _, err = run(shlex.split(lines[at].removeprefix("$ python -m ")), tmp_path)
    assert code == 2 and one_line(err) == lines[at + 1]
