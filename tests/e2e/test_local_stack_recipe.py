"""docs/local.md "Running locally" → "The local stack, step by step", run as written.

Every ``python -m`` command of the section's code blocks is run, in order, in a fresh
directory holding only the project's host.json (so the developer's own local.settings.json
and .azurite/ are never touched): the stack and run_local in the background, the others to
completion. The only change to a command: the stack gets free ports (``--queue-port 0
--blob-port 0``) so the test runs beside a developer's stack. ``make setup`` and the venv's
activation are what the test session itself runs under (``sys.executable``). Readiness is
the stack's ``stack ready`` line; run_local's start is not waited for — the request waits on
the queue and ``tools.results --wait`` waits for its outcome.
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.support.processes import end_process

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SIM_PORT = 10090  # the stack's default simulator port, as the docs' data-plane URL names it
SECTION = "### The local stack, step by step"
BACKGROUND = ("python -m tools.stack", "python -m tools.run_local")


def recipe_commands() -> list[str]:
    readme = (PROJECT_ROOT / "docs" / "local.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.index("\n### ", start + len(SECTION))
    commands, in_code = [], False
    for line in readme[start:end].splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        command = line.split("  #", 1)[0].strip()
        if in_code and command.startswith("python -m "):
            commands.append(command)
    return commands


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def _wait_for_line(lines: queue.Queue[str | None], wanted: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line == wanted:
            return seen
    pytest.fail(f"no {wanted!r} line from the stack; it printed:\n" + "\n".join(seen))


def _assert_the_queues_exist(printed: list[str]) -> None:
    from shared.core.storage_connection import storage_connection_from_environ
    from shared.edges.storage import queue_service_client

    line = next(p.strip() for p in printed if "export AzureWebJobsStorage=" in p)
    service = queue_service_client(storage_connection_from_environ({"AzureWebJobsStorage": line.split("=", 1)[1].strip("'")}))
    assert {q.name for q in service.list_queues()} >= {"operations", "operation-results", "operations-poison"}


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=30)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_recipe_runs_as_written(tmp_path: Path) -> None:
    commands = recipe_commands()
    assert [c.split()[2] for c in commands] == [
        "tools.stack", "tools.run_local", "tools.stack", "tools.enqueue", "tools.results",
        "tools.stack", "tools.enqueue", "tools.results",
        "tools.stack", "tools.enqueue", "tools.results", "tools.stack",
    ], "the recipe changed: update this test's expectations with it"
    shutil.copy(PROJECT_ROOT / "host.json", tmp_path / "host.json")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AzureWebJobs", "ARM_", "IDENTITY_"))}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    background: list[subprocess.Popen[str]] = []
    outputs: list[str] = []
    try:
        sim_address = f"127.0.0.1:{SIM_PORT}"
        for command in commands:
            argv = [sys.executable, *shlex.split(command.replace(f"127.0.0.1:{SIM_PORT}", sim_address))[1:]]
            if command.startswith(BACKGROUND[0]) and not {"script", "resource", "events"} & set(argv):
                argv += ["--queue-port", "0", "--blob-port", "0", "--sim-port", "0"]
                stack = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, encoding="utf-8")
                background.append(stack)
                lines: queue.Queue[str | None] = queue.Queue()
                assert stack.stdout is not None
                threading.Thread(target=_lines, args=(stack.stdout, lines), daemon=True).start()
                printed = _wait_for_line(lines, "stack ready", 60)
                sim_address = next(p for p in printed if p.strip().startswith("simulator")).split("//", 1)[1].split()[0]
                assert any(line.startswith("wrote local.settings.json") for line in printed)
                assert any("export AzureWebJobsStorage=" in line and "BlobEndpoint=" in line for line in printed)
                _assert_the_queues_exist(printed)  # before run_local starts: the stack creates them, as the Bicep does
            elif command.startswith(BACKGROUND[1]):
                log = (tmp_path / "run_local.log").open("w", encoding="utf-8")
                background.append(subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True))
            else:
                done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                outputs.append(done.stdout)
        first, deployment, model, events = outputs[2], outputs[5], outputs[8], outputs[9]  # the foreground commands
        assert "Succeeded" in first and "my-first" in first, first
        assert "Succeeded" in deployment and "my-deployment" in deployment and "main" in deployment, deployment
        assert "Succeeded" in model and "my-model" in model and "dataplane" in model, model
        assert events.count("LroWatcher.Operation.Succeeded") == 3, events
        assert "correlationId=my-first" in events and "correlationId=my-model" in events, events
        run_local, stack = background[1], background[0]
        assert _stop(run_local) == 130
        log_text = (tmp_path / "run_local.log").read_text(encoding="utf-8")
        assert "correlationId=my-first" in log_text and "-> Succeeded" in log_text
        assert "correlationId=my-deployment" in log_text
        queue_port = int(next(p for p in printed if "Azurite queue" in p).rsplit(":", 1)[1].split("/")[0])
        assert _stop(stack) == 130
        assert not _port_open(queue_port), "Ctrl-C stopped Azurite"
    finally:
        for process in reversed(background):  # run_local first, then the stack (which stops its Azurite and simulator)
            end_process(process)
    azurite_files = {p.name for p in (tmp_path / ".azurite").iterdir()}
    assert "__azurite_db_queue__.json" in azurite_files and "__azurite_db_blob__.json" in azurite_files
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("__azurite", "AzuriteConfig"))], "nothing outside .azurite/"
    assert not [p.name for p in PROJECT_ROOT.iterdir() if p.name.startswith(("__azurite", "AzuriteConfig"))]
