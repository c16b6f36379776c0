"""Handle each lro-watcher outcome once, however often it is delivered.

lro-watcher publishes at least once (a retried publish repeats the same eventId)
and Event Grid delivers at least once (it retries until the handler succeeds).
:class:`Deduplicator` runs a handler for an ``eventId`` only if no earlier
delivery already did, using a small store that remembers ids:

* :class:`TableStore` — one Azure Table entity per eventId (PartitionKey = the first
  two characters of the id, RowKey = the id). Inserting an entity is atomic, so two
  instances of the function cannot both claim the same event. A claim is a lease: if
  the instance holding it dies, the next delivery after ``lease_seconds`` takes over.
* :class:`MemoryStore` — an in-process LRU of the last ``max_entries`` ids. No
  dependency, no latency, but each instance has its own (duplicates delivered to two
  instances both run), it forgets on restart, and it forgets the oldest ids once
  full. Good for tests, local runs, and handlers that are idempotent anyway.

The protocol, for any store::

    claim(id)  -> "new"   this delivery must run the handler
               -> "done"  an earlier delivery ran it: drop this one
               -> "busy"  another delivery is running it now: raise, Event Grid retries later
    done(id)      the handler finished
    release(id)   the handler failed: forget the claim so the retry runs it
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["Claim", "Store", "MemoryStore", "TableStore", "Deduplicator", "InProgress"]

Claim = Literal["new", "done", "busy"]


class InProgress(Exception):
    """Another delivery of the same event holds the claim; fail so Event Grid retries this one later."""


class Store(Protocol):
    def claim(self, event_id: str, now: float, lease_seconds: float) -> Claim: ...

    def done(self, event_id: str, now: float) -> None: ...

    def release(self, event_id: str) -> None: ...


class MemoryStore:
    """Per-process LRU of event ids (see the module docstring for its limits)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id -> (state, lease until)
        self._max = max_entries
        self._lock = threading.Lock()

    def claim(self, event_id: str, now: float, lease_seconds: float) -> Claim:
        with self._lock:
            entry = self._entries.get(event_id)
            if entry is not None:
                self._entries.move_to_end(event_id)
                state, until = entry
                if state == "done":
                    return "done"
                if until > now:
                    return "busy"
            self._entries[event_id] = ("claimed", now + lease_seconds)
            self._entries.move_to_end(event_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return "new"

    def done(self, event_id: str, now: float) -> None:
        with self._lock:
            self._entries[event_id] = ("done", now)
            self._entries.move_to_end(event_id)

    def release(self, event_id: str) -> None:
        with self._lock:
            self._entries.pop(event_id, None)


class TableStore:
    """Event ids in an Azure Table; ``table`` is an ``azure.data.tables.TableClient``."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def _keys(event_id: str) -> tuple[str, str]:
        return event_id[:2].lower(), event_id

    def claim(self, event_id: str, now: float, lease_seconds: float) -> Claim:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        partition, row = self._keys(event_id)
        entity = {"PartitionKey": partition, "RowKey": row, "state": "claimed", "leaseUntil": float(now + lease_seconds)}
        for _ in range(2):
            try:
                self._table.create_entity(entity)
                return "new"
            except ResourceExistsError:
                pass
            try:
                existing = self._table.get_entity(partition, row)
            except ResourceNotFoundError:
                continue  # released in between: try to claim again
            if existing.get("state") == "done":
                return "done"
            if float(existing.get("leaseUntil", 0)) > now:
                return "busy"
            try:  # an abandoned claim: take it over, unless someone else just did
                self._table.delete_entity(
                    partition, row, etag=existing.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
            except ResourceNotFoundError:
                pass
            except HttpResponseError as err:
                if err.status_code == 412:
                    return "busy"
                raise
        return "busy"

    def done(self, event_id: str, now: float) -> None:
        partition, row = self._keys(event_id)
        self._table.upsert_entity({"PartitionKey": partition, "RowKey": row, "state": "done", "handledAt": float(now)})

    def release(self, event_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        partition, row = self._keys(event_id)
        try:
            self._table.delete_entity(partition, row)
        except ResourceNotFoundError:
            pass

    def forget_older_than(self, cutoff: datetime) -> int:
        """Delete ids last written before ``cutoff`` (Azure Tables has no TTL); returns how many."""
        from azure.core.exceptions import ResourceNotFoundError

        deleted = 0
        for entity in self._table.query_entities("Timestamp lt @cutoff", parameters={"cutoff": cutoff}, select=["PartitionKey", "RowKey"]):
            try:
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                deleted += 1
            except ResourceNotFoundError:
                pass
        return deleted


class Deduplicator:
    """Runs a handler at most once per event id (per store), and again only if it failed."""

    def __init__(self, store: Store, lease_seconds: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self._clock = clock

    def run_once(self, event_id: str, handler: Callable[[], None]) -> bool:
        """Run ``handler`` unless ``event_id`` was handled already; True if it ran.

        Raises :class:`InProgress` while another delivery holds the claim, and
        re-raises the handler's exception after releasing the claim (so that
        Event Grid's retry runs the handler again).
        """
        claim = self.store.claim(event_id, self._clock(), self.lease_seconds)
        if claim == "done":
            return False
        if claim == "busy":
            raise InProgress(f"event {event_id} is being handled by another delivery")
        try:
            handler()
        except BaseException:
            self.store.release(event_id)
            raise
        self.store.done(event_id, self._clock())
        return True
