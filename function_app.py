"""lro-watcher's Azure Functions app: bindings only; the logic lives in ``shared``."""

from __future__ import annotations

import azure.functions as func

from shared import runtime

# Bad settings stop start-up here, with a message naming the setting.
runtime.check_settings()

app = func.FunctionApp()


@app.function_name(name="poll_operation")
@app.queue_trigger(
    arg_name="msg",
    queue_name="%OPERATIONS_QUEUE%",
    connection="AzureWebJobsStorage",
)
def poll_operation(msg: func.QueueMessage) -> None:
    """Poll one long-running operation; re-enqueue it, publish its outcome, or poison it."""
    runtime.get_watcher().handle(msg.get_body(), msg.dequeue_count, message_id=msg.id)
