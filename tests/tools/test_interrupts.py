"""An interrupted wait never passes a pipeline step: real subprocesses, real signals to their process group.

Each tool is started in its own process group, the test waits for its readiness line (never
a sleep), sends SIGINT (a terminal's Ctrl-C) or SIGTERM (a CI runner's cancel) to the group,
and expects 128 + the signal's number and one line saying what was and was not done.
"""

from __future__ import annotations

import signal

import pytest

from tests.support import QueueSet, ToolProcess
from tests.support.processes import PROJECT_ROOT

from .test_results_wait import outcome

SIGNALS = [pytest.param(signal.SIGINT, 130, id="SIGINT"), pytest.param(signal.SIGTERM, 143, id="SIGTERM")]


def storage_flags(queues: QueueSet) -> list[str]:
    return ["--connection-string", queues.connection_string, "--results-queue", queues.results, "--no-local-settings"]


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_an_interrupted_wait_exits_with_the_signals_code_and_takes_nothing(queues: QueueSet, signum: int, code: int) -> None:
    queues.create()
    queues.send_json(outcome("someone-else"), queue=queues.results)
    args = ["--correlation-id", "mine", "--wait", "--timeout", "600", *storage_flags(queues)]
    with ToolProcess("tools.results", *args) as tool:
        tool.wait_for_line("waiting for correlationId mine")
        tool.signal(signum)
        assert tool.finish() == code
    last = tool.stderr[-1].strip()
    assert last == (f"interrupted by {signal.Signals(signum).name}: stopped waiting for correlationId mine; "
                    "nothing was taken from the queue")
    assert "Traceback" not in "".join(tool.stderr)
    assert len(queues.peek(queues.results)) == 1, "nothing was consumed"


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_an_interrupted_follow_exits_with_the_signals_code(queues: QueueSet, signum: int, code: int) -> None:
    queues.create()
    queues.send_json(outcome("first"), queue=queues.results)
    with ToolProcess("tools.results", "--follow", "--json", *storage_flags(queues)) as tool:
        tool.wait_for_line("following")
        tool.signal(signum)
        assert tool.finish() == code
    assert tool.stderr[-1].startswith(f"interrupted by {signal.Signals(signum).name}: nothing was taken from the queue")
    assert '"correlationId": "first"' in tool.stdout


def test_the_stack_stopped_by_sigterm_exits_143_and_stops_everything(tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = ["--queue-port", "0", "--blob-port", "0", "--location", str(tmp_path / "azurite")]
    environ = {"PYTHONPATH": str(PROJECT_ROOT)}
    with ToolProcess("tools.stack", *args, environ=environ, merge_output=True, cwd=tmp_path) as tool:
        tool.wait_for_line("stack ready", timeout=60)
        tool.signal(signal.SIGTERM)
        assert tool.finish() == 143
    text = "".join(tool.stderr)
    assert "stopped Azurite (queue, blob) and the simulator" in text
    assert tool.stderr[-1].startswith("interrupted by SIGTERM: the stack is stopped")


def test_an_interrupted_demo_says_so_and_stops_what_it_started() -> None:
    with ToolProcess("tools.demo", "--quiet", merge_output=True) as tool:
        tool.wait_for_line("Watching (one log line per poll)", timeout=90)
        tool.signal(signal.SIGINT)
        assert tool.finish(60) == 130
    assert tool.stderr[-1].startswith("interrupted by SIGINT: stopped the watcher, Azurite and the simulator")
    assert "Traceback" not in "".join(tool.stderr)
