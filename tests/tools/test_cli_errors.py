"""No traceback for any input or setting: each retried as the issue wrote it, as a subprocess, as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tools.dev.azurite import Azurite
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
