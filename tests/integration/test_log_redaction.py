"""Log lines: one per poll, libraries at WARNING unless LOG_LEVEL says otherwise, no secret (contract §3), over real sockets.

The logging set-up is the runtime's own (``shared.runtime.check_settings``, what ``function_app``
runs at import): it finds pytest's capture handler on the root logger as it finds the Functions
worker's or run_local's. The levels and filters it sets are put back after each test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import closing

import pytest

from shared import runtime
from shared.edges.http import HttpxTransport
from shared.edges.logs import LIBRARY_LOGGERS, WATCHER_LOGGER
from shared.edges.secrets import PROCESS_SECRETS
from shared.edges.status_client import StatusClient
from shared.edges.tokens import TokenCache
from shared.watcher import Watcher
from tests.support.fakes import CountingCredential, RecordingPublisher, RecordingQueues
from tests.support.loopback import Server, http_response

SIG = "Zm9vYmFyc2lnbmF0dXJl%2BYWJj%3D"


def status_server(status: int, body: dict) -> Server:
    """Answers every GET with ``status`` and ``body`` as JSON, keep-alive."""
    answer = http_response(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return Server(lambda _request: answer)


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    names = (WATCHER_LOGGER, *LIBRARY_LOGGERS)
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).filters)) for name in names}
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def poll_once(server: Server, env: dict[str, str], caplog: pytest.LogCaptureFixture) -> tuple[RecordingQueues, RecordingPublisher]:
    caplog.set_level(logging.DEBUG)  # the root logger lets everything through: the levels below are the runtime's
    settings = runtime.check_settings({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "DATAPLANE_HOSTS": f"127.0.0.1:{server.port}=https://dataplane.example/.default", **env,
    })
    queues, publisher = RecordingQueues(), RecordingPublisher()
    with closing(HttpxTransport(timeout_seconds=5)) as http:
        status = StatusClient(TokenCache(CountingCredential()), http)
        watcher = Watcher(settings, status, queues, publisher)  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{server.port}/ops/1?api-version=2024-11-30&sv=2024-01-01&sig={SIG}"
        watcher.handle(json.dumps({"source": "dataplane", "statusUrl": url, "correlationId": "c-1"}), 1, message_id="m-1")
    return queues, publisher


@pytest.fixture
def running() -> Iterator[Server]:
    server = status_server(200, {"status": "Running"})
    yield server
    server.close()


def test_a_poll_is_one_line_and_no_line_holds_the_sas_signature(running: Server, caplog: pytest.LogCaptureFixture) -> None:
    queues, _ = poll_once(running, {}, caplog)
    assert len(queues.reenqueued) == 1
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.name for r in lines] == [WATCHER_LOGGER], [r.getMessage() for r in lines]  # not httpx's HTTP Request line
    assert SIG not in caplog.text


def test_log_level_debug_shows_the_libraries_without_a_query_string(running: Server, caplog: pytest.LogCaptureFixture) -> None:
    poll_once(running, {"LOG_LEVEL": "DEBUG"}, caplog)
    assert [r for r in caplog.records if r.name.startswith("httpcore.")]  # the libraries log at DEBUG
    request_lines = [r.getMessage() for r in caplog.records if r.name == f"{WATCHER_LOGGER}.http"]  # the transport's line
    assert request_lines == [f"HTTP GET http://127.0.0.1:{running.port}/ops/1 -> 200"], request_lines
    assert SIG not in caplog.text and "api-version" not in caplog.text


def test_log_level_error_quiets_the_watcher_and_the_libraries(running: Server, caplog: pytest.LogCaptureFixture) -> None:
    poll_once(running, {"LOG_LEVEL": "ERROR"}, caplog)
    assert not [r for r in caplog.records if r.name.split(".")[0] in (WATCHER_LOGGER, *LIBRARY_LOGGERS)]


def test_an_error_body_echoing_the_token_and_the_url_reaches_no_output(caplog: pytest.LogCaptureFixture) -> None:
    token = "token-https://dataplane.example/.default-1"
    server = status_server(400, {"error": {"code": "Bad", "message": f"Authorization: Bearer {token} for ?sig={SIG}"}})
    try:
        _, publisher = poll_once(server, {}, caplog)
    finally:
        server.close()
    [result] = publisher.results
    text = json.dumps(result)
    assert result["outcome"] == "PollingFailed" and token not in text and SIG not in text
    assert token not in caplog.text and SIG not in caplog.text


def test_an_exception_text_reaching_a_log_line_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    runtime.check_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    PROCESS_SECRETS.hold("test key", "a-process-secret-0123456789")
    try:
        raise RuntimeError("failed with a-process-secret-0123456789 in hand")
    except RuntimeError:
        logging.getLogger(WATCHER_LOGGER).exception("it went wrong: %s", "a-process-secret-0123")
    assert "a-process-secret-0123" not in caplog.text and "[redacted]" in caplog.text
