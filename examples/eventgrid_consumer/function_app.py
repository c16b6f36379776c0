"""A sample consumer of lro-watcher outcomes: an Event Grid-triggered function that drops duplicates.

Subscribe it to the topic with the CloudEvents 1.0 delivery schema (see README.md).
lro-watcher and Event Grid both deliver at least once, so the same outcome can
arrive more than once, always with the same ``id`` (= ``data.eventId``); the
:class:`~idempotency.Deduplicator` makes ``handle_outcome`` run once per eventId.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
from idempotency import Deduplicator, MemoryStore, TableStore

app = func.FunctionApp()
log = logging.getLogger("lro_consumer")

EVENT_TYPE_PREFIX = "LroWatcher.Operation."
_lock = threading.Lock()
_deduplicator: Deduplicator | None = None


def handle_outcome(result: dict[str, Any]) -> None:
    """Your logic goes here. ``result`` is the lro-watcher result object (README "The result")."""
    if result["outcome"] == "Succeeded":
        log.info("operation %s (%s) succeeded", result["operationId"], result.get("correlationId"))
    else:
        log.warning(
            "operation %s (%s) ended %s: %s",
            result["operationId"], result.get("correlationId"), result["outcome"], (result.get("error") or {}).get("message"),
        )


def _table_client(table_name: str) -> Any:
    from azure.data.tables import TableServiceClient

    endpoint = os.environ.get("AzureWebJobsStorage__tableServiceUri")
    if endpoint:  # identity-based connection, as the Functions host itself uses
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=os.environ.get("AzureWebJobsStorage__clientId"))
        service = TableServiceClient(endpoint=endpoint, credential=credential)
    else:
        service = TableServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"])
    table = service.get_table_client(table_name)
    from azure.core.exceptions import ResourceExistsError

    try:
        table.create_table()
    except ResourceExistsError:
        pass
    return table


def deduplicator() -> Deduplicator:
    """One per process, built on first use from DEDUPE_STORE (``table``, the default, or ``memory``)."""
    global _deduplicator
    with _lock:
        if _deduplicator is None:
            kind = os.environ.get("DEDUPE_STORE", "table").strip().lower()
            if kind == "memory":
                store: Any = MemoryStore(int(os.environ.get("DEDUPE_MEMORY_ENTRIES", "10000")))
            elif kind == "table":
                store = TableStore(_table_client(os.environ.get("DEDUPE_TABLE", "lrowatcherevents")))
            else:
                raise ValueError(f"DEDUPE_STORE must be 'table' or 'memory', got {kind!r}")
            _deduplicator = Deduplicator(store, lease_seconds=float(os.environ.get("DEDUPE_LEASE_SECONDS", "300")))
        return _deduplicator


@app.function_name(name="on_operation_outcome")
@app.event_grid_trigger(arg_name="event")
def on_operation_outcome(event: func.EventGridEvent) -> None:
    """Handle one outcome once.

    Annotated ``EventGridEvent`` because every Python worker accepts that for an Event
    Grid trigger; for a CloudEvents delivery, azure-functions >= 1.25 hands over a
    ``func.CloudEvent`` instead. Only ``id`` and ``get_json()`` are used, which both have.
    """
    result = event.get_json()
    if not isinstance(result, dict) or not result.get("eventId") or not result.get("outcome"):
        log.warning("event %s is not an lro-watcher outcome; ignored", event.id)
        return
    event_type = getattr(event, "type", None) or getattr(event, "event_type", None)
    if event_type and not str(event_type).startswith(EVENT_TYPE_PREFIX):
        log.warning("event %s has type %s; ignored", event.id, event_type)
        return
    event_id = event.id or result["eventId"]
    if not deduplicator().run_once(event_id, lambda: handle_outcome(result)):
        log.info("event %s (%s) already handled: duplicate dropped", event_id, result["outcome"])


@app.function_name(name="forget_old_event_ids")
@app.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False)
def forget_old_event_ids(timer: func.TimerRequest) -> None:
    """Daily: delete remembered ids older than DEDUPE_RETENTION_DAYS (Azure Tables has no TTL)."""
    store = deduplicator().store
    if not isinstance(store, TableStore):
        return
    days = float(os.environ.get("DEDUPE_RETENTION_DAYS", "7"))
    cutoff = datetime.now(UTC) - timedelta(days=days)
    deleted = store.forget_older_than(cutoff)
    log.info("forgot %s event id(s) older than %s", deleted, cutoff.isoformat())
