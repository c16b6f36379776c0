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
    runtime.get_watcher().handle(msg.get_body(), msg.dequeue_count or 1, message_id=msg.id)


@app.function_name(name="watch")
@app.route(
    route="watch",
    methods=[func.HttpMethod.POST],
    auth_level=func.AuthLevel.FUNCTION,
)
def watch(req: func.HttpRequest) -> func.HttpResponse:
    """Accept a request over HTTP (Azure Pipelines' agentless AzureFunction@1 too): validate, enqueue, answer at once."""
    return runtime.get_front_door().respond(req)
