"""P3: cold start — importing ``function_app`` in a fresh interpreter vs importing only its
third-party dependencies in a fresh interpreter.

Each figure is measured inside a new ``python`` process, from just before the first import to
just after the last (interpreter start-up itself is the same for both and not counted), after
one unmeasured run so that bytecode caches exist; runs alternate the variants.

* ``function_app``: ``import function_app`` — what the Functions worker does at start-up
  (the app validates its settings here). It imports ``azure.functions`` and ``shared.runtime``;
  the heavy clients (azure-identity, azure-storage-queue, certifi, pydantic models) are imported
  on the first message, by design, so this is *less* than the reference.
* ``deps`` (the reference): ``import azure.functions, azure.identity, azure.storage.queue,
  certifi, pydantic`` (every runtime dependency in ``requirements.txt``).
* ``app_and_first_message_imports``: ``function_app`` plus everything the first message
  imports (``shared.runtime.build_watcher``'s modules): the honest "own code on top of the
  dependencies" figure, reported beside the ratio.
* ``first_message`` (when a stage is given): a fresh interpreter imports ``function_app``,
  builds the watcher and handles one request end to end (Azurite + simulator, one status read
  that answers ``Succeeded``, one result sent) — time to first handled message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from typing import Any

from tools.measure.bench.common import PROJECT_ROOT, median, python_env

_TIMED = """
import time
_t = time.perf_counter()
{body}
print(time.perf_counter() - _t)
"""

VARIANTS = {
    "function_app": "import function_app",
    "deps": "import azure.functions, azure.identity, azure.storage.queue, certifi, pydantic",
    "app_and_first_message_imports": textwrap.dedent("""\
        import function_app
        import shared.watcher, shared.edges.status_client, shared.edges.http, shared.edges.queues, shared.edges.sinks, shared.edges.tokens, shared.edges.storage
        import azure.identity, azure.storage.queue, certifi"""),
}

_FIRST_MESSAGE = """
import time
_t = time.perf_counter()
import function_app
from azure.functions.queue import QueueMessage
fn = function_app.poll_operation.build().get_user_function()
fn(QueueMessage(id="first", body={body!r}, dequeue_count=1))
print(time.perf_counter() - _t)
"""

APP_ENV = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "OPERATIONS_QUEUE": "operations"}


def _timed(code: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=python_env(env), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold-start run failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def measure(runs: int = 7, stage: Any = None) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for body in VARIANTS.values():  # warm-up: bytecode caches
        _timed(_TIMED.format(body=body), APP_ENV)
    for _ in range(runs):
        for name, body in VARIANTS.items():
            times[name].append(_timed(_TIMED.format(body=body), APP_ENV))
    first: list[float] = []
    if stage is not None:
        first = _first_message_times(stage, max(3, runs // 2))
    app, deps, full = (median(times[name]) for name in VARIANTS)
    ratio = app / deps
    result: dict[str, Any] = {
        "target": 1.15,
        "ratio": ratio,
        "pass": ratio <= 1.15,
        "import_function_app_ms": app * 1e3,
        "import_deps_ms": deps * 1e3,
        "import_app_and_first_message_modules_ms": full * 1e3,
        "app_and_first_message_imports_ratio": full / deps,
        "runs": runs,
        "raw_ms": {name: [t * 1e3 for t in values] for name, values in times.items()},
    }
    if first:
        result["first_handled_message_ms"] = median(first) * 1e3
        result["first_handled_message_ratio_to_deps"] = median(first) / deps
        result["raw_ms"]["first_message"] = [t * 1e3 for t in first]
    return result


def _first_message_times(stage: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        queues = stage.new_queues()
        try:
            op = str(uuid.uuid4())
            stage.script([{"operationId": op, "steps": [{"status": "Succeeded"}]}])
            body = json.dumps({"source": "apim", "subscriptionId": "00000000-0000-0000-0000-000000000000",
                               "location": "westus", "operationId": op}).encode()
            times.append(_timed(_FIRST_MESSAGE.format(body=body), stage.environ(queues)))
        finally:
            stage.drop_queues(queues)
    return times
