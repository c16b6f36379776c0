"""The function's argument, built the way the Python worker builds it.

The Functions host sends the worker the message body as typed data plus the queue
trigger's metadata (``Id``, ``DequeueCount``, ``InsertionTime``, ``ExpirationTime``,
``NextVisibleTime``, ``PopReceipt``); the worker hands both to the azure-functions
library's converter for the ``queueTrigger`` binding, which returns the
``func.QueueMessage``. run_local does the same with the same converter, so the binding
path exercised locally is the worker's (field names, type coercion, date parsing), not a
hand-built ``QueueMessage``. Values are typed as the host's RPC conversion types them:
strings as ``string``, the dequeue count and the dates as JSON text (``json``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["trigger_metadata", "queue_message_argument"]


def _json_datum(value: Any) -> Any:
    from azure.functions.meta import Datum

    return Datum(json.dumps(value), "json")


def trigger_metadata(message: Any) -> dict[str, Any]:
    """The queue trigger's metadata for a received ``azure.storage.queue.QueueMessage``."""
    from azure.functions.meta import Datum

    metadata: dict[str, Any] = {
        "Id": Datum(message.id, "string"),
        "DequeueCount": _json_datum(message.dequeue_count),
        "PopReceipt": Datum(message.pop_receipt, "string"),
    }
    for name, moment in (("InsertionTime", message.inserted_on), ("ExpirationTime", message.expires_on),
                         ("NextVisibleTime", message.next_visible_on)):
        if isinstance(moment, datetime):
            metadata[name] = _json_datum(moment.isoformat())
    return metadata


def queue_message_argument(message: Any, body: bytes | str) -> Any:
    """``func.QueueMessage`` from the azure-functions queue converter, as the worker makes it."""
    from azure.functions.meta import Datum
    from azure.functions.queue import QueueMessageInConverter

    data = Datum(body, "string" if isinstance(body, str) else "bytes")
    return QueueMessageInConverter.decode(data, trigger_metadata=trigger_metadata(message))
