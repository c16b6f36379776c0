"""tools.run_local (and tools.azurite) against a real Azurite, with tiny fixture apps.

The fixture apps (tests/fixtures/echo_app.py, async_echo_app.py) put one record on the
results queue per delivery; the message text decides whether they fail. The test
host.json (tests/fixtures/host.json) has a 1 s visibilityTimeout and maxDequeueCount 3
so redelivery and poison take seconds. Synchronisation is by process exit (``--drain``)
or by polling a queue with a deadline, never by sleeping.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueSet, run_local_process, start_run_local, wait_until
from tools.dev import run_local as rl
from tools.dev.azurite import ACCOUNT_KEY, Azurite, AzuriteError, connection_string_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
HOST_JSON = FIXTURES / "host.json"
ECHO_APP = "tests.fixtures.echo_app"
ASYNC_APP = "tests.fixtures.async_echo_app"
NO_LOCAL_SETTINGS = FIXTURES / "absent.local.settings.json"  # a file that does not exist
APP_SETTINGS = ("AzureWebJobsStorage", "OPERATIONS_QUEUE", "RESULTS_QUEUE", "ECHO_TAG")


@pytest.fixture(autouse=True)
def _no_inherited_app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Subprocesses inherit os.environ: the test decides every app setting itself.
    for name in APP_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def write_host_json(directory: Path, **queues: Any) -> Path:
    host = json.loads(HOST_JSON.read_text())
    host["extensions"]["queues"].update(queues)
    path = directory / "host.json"
    path.write_text(json.dumps(host))
    return path


def drain(environ: dict[str, str], *args: str, host_json: Path = HOST_JSON, app: str = ECHO_APP,
          max_seconds: float = 30) -> subprocess.CompletedProcess[str]:
    result = run_local_process(
        environ, "--app", app, "--host-json", str(host_json), "--drain", "--max-seconds", str(max_seconds),
        *args, timeout=max_seconds + 30,
    )
    return result


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"


def by_event(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return sorted((r for r in records if r["event"] == event), key=lambda r: r["dequeueCount"])


# ---------------------------------------------------------------------------------------------
# host.json, settings, app discovery (no storage)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:30", 30), ("00:01:00", 60), ("01:00:00", 3600), ("00:00:00.200", 0.2), ("1.00:00:01", 86401)],
)
def test_parse_timespan(text: str, seconds: float) -> None:
    assert rl.parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["30", "00:60:00", "abc", 30, None])
def test_parse_timespan_rejects(value: object) -> None:
    with pytest.raises(rl.RunLocalError):
        rl.parse_timespan(value, "x")


def test_queue_options_defaults_are_the_hosts() -> None:
    options = rl.QueueOptions.from_host_json({"version": "2.0"})
    assert options == rl.QueueOptions(
        batch_size=16, new_batch_threshold=8, max_polling_interval=60.0, visibility_timeout=0.0,
        max_dequeue_count=5, message_encoding="base64", function_timeout=None,
    )
    assert rl.QueueOptions.from_host_json({"extensions": {"queues": {"batchSize": 10}}}).new_batch_threshold == 5


def test_queue_options_of_the_project_host_json() -> None:
    options = rl.QueueOptions.load(PROJECT_ROOT / "host.json")
    raw = json.loads((PROJECT_ROOT / "host.json").read_text())["extensions"]["queues"]
    assert options.batch_size == raw["batchSize"]
    assert options.max_dequeue_count == raw["maxDequeueCount"]
    assert options.message_encoding == "none"
    assert options.visibility_timeout == rl.parse_timespan(raw["visibilityTimeout"])


@pytest.mark.parametrize(
    "queues",
    [{"batchSize": 33}, {"batchSize": 0}, {"maxDequeueCount": "5"}, {"messageEncoding": "utf8"},
     {"visibilityTimeout": 30}, {"maxPollingInterval": "00:00:00.010"}],
)
def test_queue_options_reject_bad_values(queues: dict[str, Any]) -> None:
    with pytest.raises(rl.RunLocalError, match="extensions.queues"):
        rl.QueueOptions.from_host_json({"extensions": {"queues": queues}})


def test_settings_precedence_defaults_then_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"RESULTS_QUEUE": "from-file", "ECHO_TAG": "file", "X": "file"}}
    ))
    settings = rl.resolve_settings({"X": "env"}, project_dir=tmp_path)
    assert settings["OPERATIONS_QUEUE"] == "operations"  # contract default
    assert settings["RESULTS_QUEUE"] == "from-file"
    assert settings["ECHO_TAG"] == "file"
    assert settings["X"] == "env"  # the environment wins
    assert rl.resolve_settings({}, project_dir=tmp_path / "nowhere")["RESULTS_QUEUE"] == "operation-results"


@pytest.mark.parametrize(
    ("content", "message"),
    [({"IsEncrypted": True, "Values": {}}, "IsEncrypted"), ({"Values": {"N": 5}}, "Values.N"), ("[", "not valid JSON")],
)
def test_local_settings_errors(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(rl.RunLocalError, match=message):
        rl.read_local_settings(path)


def test_find_queue_function_of_the_fixture_apps() -> None:
    echo = rl.find_queue_function(rl.load_app(ECHO_APP))
    assert (echo.name, echo.arg_name, echo.queue_name_setting, echo.connection) == (
        "echo", "msg", "%OPERATIONS_QUEUE%", "AzureWebJobsStorage")
    assert not echo.is_async and echo.context_arg is None
    assert echo.queue_name({"OPERATIONS_QUEUE": "ops"}) == "ops"
    # get_functions() may only be called once per app object: a second lookup is served from cache.
    assert rl.find_queue_function(rl.load_app(ECHO_APP)).user_function is echo.user_function
    async_echo = rl.find_queue_function(rl.load_app(ASYNC_APP), "async_echo")
    assert async_echo.is_async and async_echo.context_arg == "context" and async_echo.arg_name == "message"


def test_unresolvable_queue_setting_names_it() -> None:
    echo = rl.find_queue_function(rl.load_app(ECHO_APP))
    with pytest.raises(rl.RunLocalError, match="OPERATIONS_QUEUE"):
        echo.queue_name({})


def test_redact_masks_keys_signatures_and_tokens() -> None:
    text = rl.redact(
        f"AccountKey={ACCOUNT_KEY}; https://a.queue.core.windows.net/q?sv=2024&sig=abc%2Fdef&se=x "
        "Authorization: Bearer eyJ0eXAi.abc.def {\"access_token\": \"tok123\"}"
    )
    assert ACCOUNT_KEY not in text and "abc%2Fdef" not in text and "eyJ0eXAi" not in text and "tok123" not in text
    assert "AccountKey=[redacted]" in text and "sig=[redacted]" in text


# ---------------------------------------------------------------------------------------------
# Azurite itself
# ---------------------------------------------------------------------------------------------


def test_account_key_is_the_one_azurite_accepts() -> None:
    constants = PROJECT_ROOT / "node_modules" / "azurite" / "dist" / "src" / "common" / "utils" / "constants.js"
    assert f'EMULATOR_ACCOUNT_KEY = Buffer.from("{ACCOUNT_KEY}"' in constants.read_text()


def test_connection_string_is_explicit(azurite: Azurite) -> None:
    assert azurite.connection_string == connection_string_for(azurite.port)
    assert f"QueueEndpoint=http://127.0.0.1:{azurite.port}/devstoreaccount1;" in azurite.connection_string
    assert azurite.running and azurite.environ() == {"AzureWebJobsStorage": azurite.connection_string}


def test_azurite_counts_delayed_and_leased_messages(queues: QueueSet) -> None:
    # What --drain relies on: the approximate count includes invisible messages.
    queues.send("visible")
    queues.send("delayed", visibility_timeout=60)
    assert queues.count() == 2 and queues.peek() == ["visible"]
    leased = list(queues.client().receive_messages(visibility_timeout=60))
    assert [m.content for m in leased] == ["visible"]
    assert queues.count() == 2 and queues.peek() == []
    queues.client().delete_message(leased[0])
    assert queues.count() == 1


def test_persistent_azurite_restarts_on_the_same_port_and_keeps_messages(tmp_path: Path) -> None:
    with Azurite(location=tmp_path / "azurite") as azurite:
        port = azurite.port
        queues = QueueSet(azurite.connection_string, "persist-test")
        queues.send("kept")
        queues.send("kept and delayed", visibility_timeout=60)
        pid = azurite.pid
        azurite.restart()
        assert azurite.port == port and azurite.pid != pid
        fresh = QueueSet(azurite.connection_string, "persist-test")
        assert fresh.peek() == ["kept"] and fresh.count() == 2
    assert not azurite.running


def test_azurite_reports_a_taken_port(azurite: Azurite) -> None:
    with pytest.raises(AzuriteError, match="EADDRINUSE"):
        Azurite(port=azurite.port, startup_timeout=20).start()


def test_python_m_tools_azurite_prints_json_and_stops_on_sigterm_with_143() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.azurite"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no output from python -m tools.azurite within 30s"
        info = json.loads(process.stdout.readline())
        assert info["connectionString"] == connection_string_for(info["port"])
        queues = QueueSet(info["connectionString"], "cli-check")
        queues.create(queues.operations)
        assert queues.exists(queues.operations)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 143, "stopped by a signal: never 0"
        assert process.stderr.read().strip() == "interrupted by SIGTERM: Azurite is stopped (it kept its queues in memory only)"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The Azurite it started is gone too.
    assert not _pid_alive(info["pid"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# run_local: host semantics
# ---------------------------------------------------------------------------------------------


def test_success_deletes_the_message(queues: QueueSet) -> None:
    queues.send("hello")
    queues.send_json({"n": 2})
    result = drain(queues)
    assert_ok(result)
    records = queues.take_all_json()
    assert sorted(r["body"] for r in records) == ["hello", '{"n": 2}']
    assert {r["event"] for r in records} == {"done"} and {r["dequeueCount"] for r in records} == {1}
    assert all(r["hasPopReceipt"] and r["insertionTime"] for r in records)
    assert queues.count() == 0 and queues.peek(queues.poison) == []


def test_failure_redelivers_after_visibility_timeout_then_poisons_the_raw_text(queues: QueueSet) -> None:
    text = '{"fail": true, "note": "caf\u00e9 <&> \'quoted\'"}'
    queues.send(text)
    result = drain(queues)
    assert_ok(result)
    failed = by_event(queues.take_all_json(), "failed")
    assert [r["dequeueCount"] for r in failed] == [1, 2, 3]  # maxDequeueCount 3
    for earlier, later in zip(failed, failed[1:]):
        assert later["start"] - earlier["end"] >= 0.8  # released with visibilityTimeout 1 s
    assert queues.peek(queues.poison) == [text]  # raw, byte for byte
    assert queues.count() == 0
    assert "moved to" in result.stderr and "AskedToFail: asked to fail at dequeue 3" in result.stderr
    assert queues.connection_string not in result.stderr


def test_a_failure_below_max_dequeue_count_is_retried_to_success(queues: QueueSet) -> None:
    queues.send_json({"failUntil": 3})
    assert_ok(drain(queues))
    records = queues.take_all_json()
    assert [(r["event"], r["dequeueCount"]) for r in sorted(records, key=lambda r: r["dequeueCount"])] == [
        ("failed", 1), ("failed", 2), ("done", 3)]
    assert queues.peek(queues.poison) == [] and queues.count() == 0


def test_message_received_past_max_dequeue_count_is_poisoned_without_running(queues: QueueSet) -> None:
    queues.send("left behind")
    client = queues.client()
    for _ in range(3):  # a consumer that died three times (maxDequeueCount is 3)
        (message,) = client.receive_messages(visibility_timeout=60)
        client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
    assert_ok(drain(queues))
    assert queues.take_all() == []  # the function never ran
    assert queues.peek(queues.poison) == ["left behind"]


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(b'{"source": "apim"}').decode(),  # base64-looking text stays base64
        '{"source": "apim", "x": "<tag attr=\\"1\\">&amp;</tag>"}',
        "plain \u00e9\u00e8 \u2603 text\nwith a newline",
    ],
)
def test_raw_text_reaches_the_function_unaltered(queues: QueueSet, text: str) -> None:
    queues.send(text)
    assert_ok(drain(queues))
    (record,) = queues.take_all_json()
    assert record["body"] == text


def test_message_encoding_base64_decodes_like_the_host(queues: QueueSet, tmp_path: Path) -> None:
    host_json = write_host_json(tmp_path, messageEncoding="base64", maxDequeueCount=1)
    queues.send(base64.b64encode("d\u00e9cod\u00e9".encode()).decode())
    queues.send("not base64!")
    result = drain(queues, host_json=host_json)
    assert_ok(result)
    assert [r["body"] for r in queues.take_all_json()] == ["d\u00e9cod\u00e9"]
    assert queues.peek(queues.poison) == ["not base64!"]
    assert "not valid base64" in result.stderr


def test_drain_waits_for_delayed_messages(queues: QueueSet) -> None:
    queues.send("later", visibility_timeout=2)
    assert queues.peek() == [] and queues.count() == 1
    started = time.monotonic()
    assert_ok(drain(queues))
    assert time.monotonic() - started >= 1.5
    assert [r["body"] for r in queues.take_all_json()] == ["later"]
    assert queues.count() == 0


def test_missing_queues_are_created(queues: QueueSet) -> None:
    assert not any(queues.exists(name) for name in queues.names)
    assert_ok(drain(queues))
    assert all(queues.exists(name) for name in queues.names)


def test_messages_are_processed_concurrently(queues: QueueSet) -> None:
    for n in range(4):  # batchSize 4: one receive, four invocations at once
        queues.send_json({"n": n, "sleep": 0.5})
    assert_ok(drain(queues))
    records = queues.take_all_json()
    assert len(records) == 4
    overlap = max(sum(1 for o in records if o["start"] < r["end"] and r["start"] < o["end"]) for r in records)
    assert overlap >= 2


def test_local_settings_json_values_with_environment_winning(queues: QueueSet, tmp_path: Path) -> None:
    write_host_json(tmp_path)
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {**queues, "ECHO_TAG": "from-file", "FUNCTIONS_WORKER_RUNTIME": "python"}}
    ))
    queues.send("one")
    result = run_local_process({}, "--app", ECHO_APP, "--project-dir", str(tmp_path), "--drain", "--max-seconds", "30")
    assert_ok(result)
    assert [r["tag"] for r in queues.take_all_json()] == ["from-file"]

    queues.send("two")
    result = run_local_process(
        {"ECHO_TAG": "from-env"}, "--app", ECHO_APP, "--project-dir", str(tmp_path), "--drain", "--max-seconds", "30"
    )
    assert_ok(result)
    assert [r["tag"] for r in queues.take_all_json()] == ["from-env"]


def test_sigterm_finishes_in_flight_work_and_exits_143(queues: QueueSet, tmp_path: Path) -> None:
    queues.create()
    queues.send_json({"announce": True, "sleep": 1.0})
    with open(tmp_path / "run_local.log", "w+") as log:
        process = start_run_local(queues, "--app", ECHO_APP, "--host-json", str(HOST_JSON), log=log)
        try:
            (started,) = queues.take_json(1, timeout=30)
            assert started["event"] == "started"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 143, "stopped, not finished: never 0"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        output = log.read()
    assert "SIGTERM: stopping" in output
    assert "interrupted by SIGTERM: in-flight invocations finished" in output
    assert [r["event"] for r in queues.take_all_json()] == ["done"]  # the in-flight message completed
    assert queues.count() == 0  # and was deleted


def test_sigint_when_idle_exits_130(queues: QueueSet) -> None:
    process = start_run_local(queues, "--app", ECHO_APP, "--host-json", str(HOST_JSON))
    try:
        wait_until(lambda: queues.exists(queues.results), timeout=30, description="run_local to create its queues")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_max_seconds_exceeded_exits_non_zero(queues: QueueSet) -> None:
    queues.send("far in the future", visibility_timeout=120)
    result = drain(queues, max_seconds=1)
    assert result.returncode == rl.EXIT_MAX_SECONDS, result.stderr
    assert "--max-seconds 1 exceeded" in result.stderr
    assert queues.count() == 1


def test_configuration_errors_exit_2_and_name_the_problem(queues: QueueSet) -> None:
    no_storage = {k: v for k, v in queues.items() if k != "AzureWebJobsStorage"}
    result = drain(no_storage)
    assert result.returncode == rl.EXIT_CONFIG and "AzureWebJobsStorage" in result.stderr
    result = drain(queues, app="tests.fixtures.no_such_app")
    assert result.returncode == rl.EXIT_CONFIG and "no_such_app" in result.stderr


# ---------------------------------------------------------------------------------------------
# run_local: Python API, in-process
# ---------------------------------------------------------------------------------------------


def test_run_api_in_process_restores_the_environment(queues: QueueSet) -> None:
    queues.send("in-process")
    code = rl.run(ECHO_APP, dict(queues), host_json=HOST_JSON, drain=True, max_seconds=30,
                  project_dir=PROJECT_ROOT / "tests" / "fixtures")
    assert code == 0
    assert [r["body"] for r in queues.take_all_json()] == ["in-process"]
    assert "OPERATIONS_QUEUE" not in os.environ and "AzureWebJobsStorage" not in os.environ


def test_async_function_with_context_runs_on_one_event_loop(queues: QueueSet) -> None:
    for n in range(3):
        queues.send_json({"n": n, "sleep": 0.2})
    queues.send_json({"failUntil": 2})
    settings = rl.resolve_settings(dict(queues), local_settings=NO_LOCAL_SETTINGS)
    host = rl.LocalHost.from_app(ASYNC_APP, settings, rl.QueueOptions.load(HOST_JSON), drain=True,
                                 max_seconds=30, export_environ=True)
    assert host.run() == 0
    records = queues.take_all_json()
    done = [r for r in records if r["event"] == "done"]
    assert len(done) == 4 and all(r["async"] and r["functionName"] == "async_echo" for r in records)
    assert len({r["loop"] for r in records}) == 1  # one loop, like the Python worker
    assert len({r["invocationId"] for r in records}) == len(records)
    assert host.stats.as_dict()["failed"] == 1 and host.stats.as_dict()["succeeded"] == 4


def test_lease_is_renewed_while_the_function_runs(queues: QueueSet) -> None:
    queues.send_json({"sleep": 2.5})  # longer than two 1-second leases
    settings = rl.resolve_settings(dict(queues), local_settings=NO_LOCAL_SETTINGS)
    host = rl.LocalHost.from_app(ECHO_APP, settings, rl.QueueOptions.load(HOST_JSON), drain=True,
                                 max_seconds=30, lease_seconds=1, export_environ=True)
    assert host.run() == 0
    records = queues.take_all_json()
    assert [(r["event"], r["dequeueCount"]) for r in records] == [("done", 1)]  # never delivered twice
    assert host.stats.renewed >= 2


def test_local_host_in_a_background_thread_stops_on_request(queues: QueueSet) -> None:
    settings = rl.resolve_settings(dict(queues), local_settings=NO_LOCAL_SETTINGS)
    with rl.LocalHost.from_app(ECHO_APP, settings, rl.QueueOptions.load(HOST_JSON), export_environ=True) as host:
        queues.send("background")
        (record,) = queues.take_json(1, timeout=30)
        assert record["body"] == "background"
    assert host.join(0) == 0 and host.in_flight == 0


def test_log_lines_have_a_clean_format(queues: QueueSet, tmp_path: Path) -> None:
    queues.send_json({"fail": True})
    result = drain(queues, host_json=write_host_json(tmp_path, maxDequeueCount=1))
    assert_ok(result)
    first = result.stderr.splitlines()[0]
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3} (INFO|WARNING|ERROR|DEBUG)\s+\S+: ", first), first
    assert "Auth level is not applied" not in result.stderr


def test_the_app_sees_its_settings_when_imported(queues: QueueSet) -> None:
    # function_app.py validates its settings at import: export_environ covers the import too.
    queues.send("x")
    settings = rl.resolve_settings({**queues, "ECHO_TAG": "at-import"}, local_settings=NO_LOCAL_SETTINGS)
    host = rl.LocalHost.from_app("tests.fixtures.import_settings_app", settings, rl.QueueOptions.load(HOST_JSON),
                                 drain=True, max_seconds=30, export_environ=True)
    assert "ECHO_TAG" not in os.environ  # restored after the import
    assert host.run() == 0
    assert [r["tagAtImport"] for r in queues.take_all_json()] == ["at-import"]


def test_run_local_rides_out_an_azurite_restart(tmp_path: Path) -> None:
    with Azurite(location=tmp_path / "azurite") as azurite:
        queues = QueueSet(azurite.connection_string, "restart-test")
        queues.send("before")
        settings = rl.resolve_settings(dict(queues), local_settings=NO_LOCAL_SETTINGS)
        with rl.LocalHost.from_app(ECHO_APP, settings, rl.QueueOptions.load(HOST_JSON), export_environ=True) as host:
            assert [r["body"] for r in queues.take_json(1, timeout=30)] == ["before"]
            azurite.restart()
            queues.send("after")
            assert [r["body"] for r in queues.take_json(1, timeout=30)] == ["after"]
        assert host.join(0) == 0
