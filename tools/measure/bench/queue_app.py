"""A function app that does only the queue work of one poll (the reference of P1).

:func:`queue_work` is what the bare storage loop does per message, and ``queue_only`` is the
same work as a queue-triggered function, so ``tools.run_local`` can run it exactly as it runs
``function_app``: per message, send the re-enqueued copy (the request with its ``poll.polls``
one higher, visible at once) or, at the last poll (``BENCH_POLLS_PER_OP``), a small result to
the results queue. No status read, no validation, no decision.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import azure.functions as func

app = func.FunctionApp()
_clients: list[Any] = []
_lock = threading.Lock()


def queue_work(text: str | bytes, operations: Any, results: Any) -> None:
    """Re-enqueue ``text`` with its poll count bumped, or publish once it reached BENCH_POLLS_PER_OP."""
    message = json.loads(text)
    poll = message.setdefault("poll", {"firstSeenAt": "2026-01-01T00:00:00.000Z", "polls": 0, "failures": 0})
    poll["polls"] = poll.get("polls", 0) + 1
    if poll["polls"] >= int(os.environ.get("BENCH_POLLS_PER_OP", "5")):
        results.send_message(json.dumps({"outcome": "Succeeded", "polls": poll["polls"], "request": message}), time_to_live=-1)
    else:
        operations.send_message(json.dumps(message, separators=(",", ":")), visibility_timeout=0)


def _queues() -> tuple[Any, Any]:
    if not _clients:
        with _lock:
            if not _clients:
                from shared.core.storage_connection import storage_connection_from_environ
                from shared.edges.storage import queue_service_client

                service = queue_service_client(storage_connection_from_environ(os.environ))
                _clients.extend([service.get_queue_client(os.environ["OPERATIONS_QUEUE"]),
                                 service.get_queue_client(os.environ.get("RESULTS_QUEUE") or "operation-results")])
    return _clients[0], _clients[1]


@app.function_name(name="queue_only")
@app.queue_trigger(arg_name="msg", queue_name="%OPERATIONS_QUEUE%", connection="AzureWebJobsStorage")
def queue_only(msg: func.QueueMessage) -> None:
    operations, results = _queues()
    queue_work(msg.get_body(), operations, results)
