"""tools.stack's pieces, and how Azurite is started (node + the package's script, a process group per platform)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.core.settings import load_settings
from tools.dev import azurite, stack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SIM = SimpleNamespace(base_url="http://127.0.0.1:4100", port=4100, identity_endpoint="http://127.0.0.1:4100/msi/token",
                      identity_header="h")


def test_the_example_settings_have_no_obsolete_flag_and_derive_arm_scope() -> None:
    values = json.loads((PROJECT_ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    assert "AzureWebJobsFeatureFlags" not in values
    assert values["ARM_SCOPE"] == ""
    settings = load_settings({**values, "ARM_ENDPOINT": "https://management.usgovcloudapi.net"})
    assert settings.arm_scope == "https://management.usgovcloudapi.net/.default", "changing ARM_ENDPOINT alone moves the scope"


def test_the_stack_settings_point_everything_at_the_stack() -> None:
    values = stack.local_settings_document(stack.stack_settings(10001, 10000, SIM))["Values"]
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" in values["AzureWebJobsStorage"]
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" in values["AzureWebJobsStorage"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python", "the example's other values are kept"
    settings = load_settings(values)
    assert settings.arm_endpoint == SIM.base_url and settings.arm_scope == f"{SIM.base_url}/.default"
    assert settings.status_host_allowlist.allows("127.0.0.1", 4100)
    assert (values["IDENTITY_ENDPOINT"], values["IDENTITY_HEADER"]) == (SIM.identity_endpoint, "h")


def test_local_settings_are_never_overwritten_without_force(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("{}", encoding="utf-8")
    assert "left as it is" in stack._write_local_settings(path, {"A": "1"}, force=False)
    assert path.read_text(encoding="utf-8") == "{}"
    assert "wrote" in stack._write_local_settings(path, {"A": "1"}, force=True)
    assert json.loads(path.read_text(encoding="utf-8"))["Values"]["A"] == "1"


@pytest.mark.parametrize(("shell", "line"), [("posix", "export A='x'"), ("powershell", "$env:A = 'x'"), ("cmd", 'set "A=x"')])
def test_settings_are_printed_for_the_shell(shell: str, line: str) -> None:
    assert stack._exports({"A": "x"}, shell) == [line]


def test_script_without_a_running_stack_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = stack.main(["script", "op-1", "[]", "--location", str(tmp_path)])
    assert code == 2 and "is `python -m tools.stack` running" in capsys.readouterr().err


def test_azurite_runs_as_node_and_the_packages_own_script() -> None:
    for service in ("queue", "blob"):
        command = azurite.Azurite(service=service)._command(10001)
        assert Path(command[0]).name.startswith("node")
        assert Path(command[1]) == azurite.azurite_script(service)
        assert Path(command[1]).parts[-3:] == ("src", service, "main.js") and Path(command[1]).exists()
        assert f"--{service}Port" in command and "--skipApiVersionCheck" in command and "--disableTelemetry" in command


def test_process_groups_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azurite, "_WINDOWS", False)
    assert azurite._own_process_group() == {"start_new_session": True}
    monkeypatch.setattr(azurite, "_WINDOWS", True)
    assert azurite._own_process_group() == {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}


def test_a_blob_service_starts_and_stops() -> None:
    with azurite.Azurite(service="blob") as blob:
        assert blob.running and blob.port > 0
    assert not blob.running
