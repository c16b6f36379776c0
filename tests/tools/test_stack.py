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
                      identity_header="h", eventgrid_endpoint="http://127.0.0.1:4100/eventgrid/api/events")


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


def test_an_existing_local_settings_keeps_the_users_values_and_gets_the_stacks(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "old", "MINE": "kept"}, "Host": {"CORS": "*"}}),
                    encoding="utf-8")
    note = stack.write_local_settings(path, {"A": "1", "B": "2"}, force=False)
    assert note == f"rewrote the stack's settings in {path} (A, B changed); kept your other 1 value(s)"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["Values"] == {"A": "1", "MINE": "kept", "B": "2"} and document["Host"] == {"CORS": "*"}
    assert "wrote" in stack.write_local_settings(path, {"A": "1"}, force=True)
    assert "MINE" not in json.loads(path.read_text(encoding="utf-8"))["Values"], "--force starts from the example"
    path.write_text("not json", encoding="utf-8")
    assert "left as it is" in stack.write_local_settings(path, {"A": "1"}, force=False)
    assert path.read_text(encoding="utf-8") == "not json"


def test_the_stack_writes_what_the_dataplane_and_event_grid_examples_need() -> None:
    sim = SIM
    settings = load_settings(stack.stack_settings(10001, 10000, sim))
    assert settings.result_sink == "both" and settings.eventgrid_topic_endpoint == sim.eventgrid_endpoint
    assert stack.stack_settings(10001, 10000, sim)["DATAPLANE_HOSTS"] == f"127.0.0.1:4100={stack.DATAPLANE_SCOPE}"


@pytest.mark.parametrize(("shell", "line"), [("posix", "export A='x'"), ("powershell", "$env:A = 'x'"), ("cmd", 'set "A=x"')])
def test_settings_are_printed_for_the_shell(shell: str, line: str) -> None:
    assert stack.export_lines({"A": "x"}, shell) == [line]


def test_script_without_a_running_stack_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = stack.main(["script", "op-1", "[]", "--location", str(tmp_path)])
    assert code == 2 and "is `python -m tools.stack` running" in capsys.readouterr().err


def test_azurite_runs_as_node_and_the_packages_own_script() -> None:
    for service in ("queue", "blob"):
        command = azurite.Azurite(service=service).command(10001)
        assert Path(command[0]).name.startswith("node")
        assert Path(command[1]) == azurite.azurite_script(service)
        assert Path(command[1]).parts[-3:] == ("src", service, "main.js") and Path(command[1]).exists()
        assert f"--{service}Port" in command and "--skipApiVersionCheck" in command and "--disableTelemetry" in command


def test_process_groups_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azurite, "_WINDOWS", False)
    assert azurite.own_process_group() == {"start_new_session": True}
    monkeypatch.setattr(azurite, "_WINDOWS", True)
    assert azurite.own_process_group() == {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}


def test_a_blob_service_starts_and_stops() -> None:
    with azurite.Azurite(service="blob") as blob:
        assert blob.running and blob.port > 0
    assert not blob.running


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_stack_survives_two_restarts_and_a_failed_second_start(tmp_path: Path) -> None:
    import signal

    from tests.support import ToolProcess

    sim_port = _free_port()  # "fixed": the same on every start, as the default 10090 is
    args = ["--queue-port", "0", "--blob-port", "0", "--sim-port", str(sim_port), "--write-local-settings"]
    environ = {"PYTHONPATH": str(PROJECT_ROOT)}
    settings_path, state_path = tmp_path / "local.settings.json", tmp_path / ".azurite" / "stack.json"
    for start in range(3):  # the first start, then two restarts
        with ToolProcess("tools.stack", *args, environ=environ, merge_output=True, cwd=tmp_path) as tool:
            tool.wait_for_line("stack ready", timeout=60)
            state = json.loads(state_path.read_text(encoding="utf-8"))
            values = json.loads(settings_path.read_text(encoding="utf-8"))["Values"]
            assert {key: values[key] for key in state["settings"]} == state["settings"], f"start {start}: the file is current"
            assert values["ARM_ENDPOINT"] == f"http://127.0.0.1:{sim_port}"
            if start == 0:
                values["MY_OWN_SETTING"] = "kept"
                settings_path.write_text(json.dumps({"Values": values}), encoding="utf-8")
            else:
                assert values["MY_OWN_SETTING"] == "kept", "the user's other values survive a restart"
            if start == 1:  # a second stack on the same simulator port fails, and leaves the running one's stack.json
                before = state_path.read_text(encoding="utf-8")
                with ToolProcess("tools.stack", *args, environ=environ, merge_output=True, cwd=tmp_path) as second:
                    assert second.finish(60) == 1
                assert f"the simulator's port {sim_port} is in use" in "".join(second.stderr)
                assert state_path.read_text(encoding="utf-8") == before
            tool.signal(signal.SIGINT)
            assert tool.finish() == 130
        assert not state_path.exists(), "a stopped stack removes its own stack.json"
