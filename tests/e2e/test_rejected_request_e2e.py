"""A rejected request on the local stack (issue 21 items 2 and 5), as an operator meets it.

``tools.stack`` and ``tools.run_local`` run as a developer runs them (a fresh directory, the
stack's local.settings.json); a producer that bypassed ``tools.enqueue`` puts a request with a
typo on the queue; a pipeline waits for it with ``--timeout 600``. The wait must end with exit
code 4 and the reason as soon as the watcher poisoned the request (the subprocess gets 120 s,
a fifth of the timeout), and the ``messageId`` the watcher's log line names must find the
poison entry with ``tools.poison --id``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import ToolProcess, start_run_local, wait_until
from tests.support.e2e import fast_host_json
from tests.support.processes import PROJECT_ROOT

REQUEST = {"source": "apim", "subscriptionId": "00000000-0000-0000-0000-000000000000", "location": "westus",
           "operationID": "typo", "correlationId": "release-42"}


def _tool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def _send_raw(tmp_path: Path, text: str) -> None:
    """As a producer that bypassed tools.enqueue (and its validation) sends it."""
    from azure.storage.queue import QueueClient

    values = json.loads((tmp_path / "local.settings.json").read_text(encoding="utf-8"))["Values"]
    with QueueClient.from_connection_string(values["AzureWebJobsStorage"], values["OPERATIONS_QUEUE"]) as queue:
        queue.send_message(text)


def test_a_wait_for_a_rejected_request_ends_at_once_and_the_logged_id_finds_the_entry(tmp_path: Path) -> None:
    fast_host_json(tmp_path)
    stack_args = ["--queue-port", "0", "--blob-port", "0", "--sim-port", "0", "--write-local-settings"]
    with ToolProcess("tools.stack", *stack_args, environ={"PYTHONPATH": str(PROJECT_ROOT)}, cwd=tmp_path,
                     merge_output=True) as stack:
        stack.wait_for_line("stack ready", timeout=60)
        log_path = tmp_path / "run_local.log"
        with log_path.open("w", encoding="utf-8") as log:
            watcher = start_run_local({"PYTHONPATH": str(PROJECT_ROOT)}, log=log, cwd=tmp_path)
            try:  # the queues exist once run_local says which one it reads (it creates them, as the Bicep does in Azure)
                wait_until(lambda: " on queue operations (" in log_path.read_text(encoding="utf-8"), timeout=60,
                           description="run_local to create the queues")
                _send_raw(tmp_path, json.dumps(REQUEST))
                waited = _tool(tmp_path, "tools.results", "--correlation-id", "release-42", "--wait", "--timeout", "600")
                logged = wait_until(lambda: re.search(r"rejected request .*messageId=([0-9a-f-]{36})",
                                                      log_path.read_text(encoding="utf-8")),
                                    timeout=30, description="the watcher's rejection line")
            finally:
                watcher.send_signal(signal.SIGINT)
                assert watcher.wait(timeout=60) == 130
        assert waited.returncode == 4, waited.stdout + waited.stderr
        (said,) = [line for line in waited.stderr.splitlines() if line.startswith("rejected at ")]
        assert "Field 'operationID'" in said and "python -m tools.poison --id" in said

        message_id = logged.group(1)
        listed = _tool(tmp_path, "tools.poison", "--id", message_id[:8], "--json")
        assert listed.returncode == 0, listed.stderr
        (entry,) = json.loads(listed.stdout)
        assert entry["originalMessageId"] == message_id and entry["correlationId"] == "release-42"
        by_message = _tool(tmp_path, "tools.results", "--correlation-id", "not-given", "--message-id", message_id,
                           "--wait", "--timeout", "600")
        assert by_message.returncode == 4, "the message id tools.enqueue printed finds the rejection too"
        stack.signal(signal.SIGINT)
        assert stack.finish(60) == 130
