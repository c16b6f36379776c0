"""An interrupted wait never passes a pipeline step: real subprocesses, real signals to their process group.

Each tool is started in its own process group, the test waits for its readiness line (never
a sleep), sends SIGINT (a terminal's Ctrl-C) or SIGTERM (a CI runner's cancel) to the group,
and expects 128 + the signal's number and one line saying what was and was not done.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import QueueSet, ToolProcess
from tests.support.processes import PROJECT_ROOT
from tools.dev.azurite import connection_string_for

from .test_results_wait import outcome

#: Azurite's well-known development key (public), for a connection string to a server that is not Azurite.
DEVSTORE_KEY = connection_string_for(1).split("AccountKey=")[1].split(";")[0]
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


# -- every other long-running tool: the same codes, and a line saying how far it got ---------------------------


@contextmanager
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A loopback port that accepts connections and never answers: a tool talking to it blocks, mid-request.

    ``accepted`` is set once a connection came in, so the test knows the tool is inside that request (no sleep).
    """
    server = socket.create_server(("127.0.0.1", 0))
    accepted, held = threading.Event(), []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for connection in held:
            connection.close()


def silent_storage(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEVSTORE_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


def interrupted(module: str, args: list[str], signum: int, environ: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``module`` against a silent server, signal it once it is mid-request; (exit code, its last stderr line)."""
    with silent_server() as (port, accepted):
        argv = [arg.replace("{storage}", silent_storage(port)).replace("{port}", str(port)) for arg in args]
        with ToolProcess(module, *argv, environ=environ) as tool:
            assert accepted.wait(30), f"{module} never connected; stderr: {''.join(tool.stderr)}"
            tool.signal(signum)
            code = tool.finish()
    assert "Traceback" not in "".join(tool.stderr), tool.stderr
    return code, tool.stderr[-1].strip()


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_an_interrupted_poison_listing_changed_nothing(signum: int, code: int) -> None:
    assert interrupted("tools.poison", ["--connection-string", "{storage}", "--no-local-settings"], signum) == (
        code, f"interrupted by {signal.Signals(signum).name}: stopped; nothing was changed")


def test_an_interrupted_replay_says_only_what_was_replayed_left() -> None:
    got = interrupted("tools.poison", ["--replay", "--connection-string", "{storage}", "--no-local-settings"], signal.SIGTERM)
    assert got == (143, "interrupted by SIGTERM: stopped; only the entries replayed before the signal left the poison queue, "
                        "every other entry stays (visible again at once, or when its lease ends)")


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_an_interrupted_enqueue_says_the_request_may_or_may_not_be_sent(signum: int, code: int) -> None:
    args = ["--source", "apim", "--subscription-id", "00000000-0000-0000-0000-000000000000", "--location", "westus",
            "--operation-id", "op-1", "--connection-string", "{storage}", "--no-local-settings"]
    assert interrupted("tools.enqueue", args, signum) == (
        code, f"interrupted by {signal.Signals(signum).name}: stopped while the request was being sent: it may or may "
              "not be on operations (no 'enqueued message' line was printed)")


def test_an_interrupted_start_before_anything_was_sent_says_so() -> None:
    args = ["--method", "PUT", "--url", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d"
            "?api-version=2024-03-01", "--wait", "--connection-string", "{storage}", "--no-local-settings"]
    assert interrupted("tools.start", args, signal.SIGINT) == (130, "interrupted by SIGINT: stopped; nothing was sent or enqueued")


def test_an_interrupted_start_while_the_put_was_out_says_it_may_have_started(queues: QueueSet) -> None:
    from tools.dev.sim import Simulator

    queues.create()
    deployment = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d"
    with Simulator() as sim:  # only its managed-identity endpoint: the token comes first, then the PUT goes to ARM
        environ = {"IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header,
                   "OPERATIONS_QUEUE": queues.operations, "AZURE_CLIENT_ID": "", "PYTHONPATH": str(PROJECT_ROOT)}
        with silent_server() as (port, accepted):
            environ["ARM_ENDPOINT"] = f"http://127.0.0.1:{port}"  # ARM accepts the PUT and never answers
            with ToolProcess("tools.start", "--method", "PUT", "--url", f"{deployment}?api-version=2024-03-01", "--wait",
                             "--connection-string", queues.connection_string, "--no-local-settings", environ=environ) as tool:
                assert accepted.wait(60), "".join(tool.stderr)
                tool.signal(signal.SIGTERM)
                assert tool.finish() == 143
    assert tool.stderr[-1].strip() == (f"interrupted by SIGTERM: stopped while PUT {deployment} was being sent: the operation "
                                       "may have started, and nothing was enqueued to watch it")
    assert queues.count(queues.operations) == 0


def test_an_interrupted_soak_stops_everything_it_started_and_writes_no_report(tmp_path: Path) -> None:
    import psutil

    report = tmp_path / "report.json"
    with ToolProcess("tools.soak", "--ops", "40", "--workdir", str(tmp_path / "work"), "--report", str(report)) as tool:
        tool.wait_for_line("operations, 2 workers", timeout=120)
        children = psutil.Process(tool.process.pid).children(recursive=True)
        assert children, "the soak runs Azurite, the simulator and two workers"
        tool.signal(signal.SIGTERM)
        assert tool.finish(120) == 143
    assert tool.stderr[-1].strip() == ("interrupted by SIGTERM: stopped the workers, Azurite and the simulator; "
                                       f"no report written to {report}")
    assert not report.exists()
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]


def test_an_interrupted_bench_stops_its_helpers_and_keeps_the_old_figures(tmp_path: Path) -> None:
    import psutil

    out = tmp_path / "latest.json"
    with ToolProcess("tools.bench", "--smoke", "--only", "p1", "--out", str(out)) as tool:
        tool.wait_for_line("P1: throughput", timeout=120)
        children = psutil.Process(tool.process.pid).children(recursive=True)
        tool.signal(signal.SIGINT)
        assert tool.finish(120) == 130
    assert tool.stderr[-1].strip() == (f"interrupted by SIGINT: stopped the benchmark and its helpers; {out} holds only "
                                       "the figures finished before")
    assert not out.exists(), "a partial run of one figure writes nothing"
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
