"""The sample Event Grid consumer (examples/eventgrid_consumer): duplicates are dropped by eventId."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eventgrid_consumer"


def load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import one of the example's modules as the Functions host would (its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    spec = importlib.util.spec_from_file_location(f"eventgrid_consumer_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def idem(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load("idempotency", monkeypatch)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ the deduplicator, in memory


def test_a_duplicate_is_dropped(idem: ModuleType) -> None:
    runs: list[str] = []
    dedupe = idem.Deduplicator(idem.MemoryStore())
    assert dedupe.run_once("e-1", lambda: runs.append("e-1")) is True
    assert dedupe.run_once("e-1", lambda: runs.append("e-1 again")) is False
    assert dedupe.run_once("e-2", lambda: runs.append("e-2")) is True
    assert runs == ["e-1", "e-2"]


def test_a_failed_handler_runs_again_on_the_retry(idem: ModuleType) -> None:
    dedupe = idem.Deduplicator(idem.MemoryStore())

    def boom() -> None:
        raise RuntimeError("downstream is down")

    with pytest.raises(RuntimeError):
        dedupe.run_once("e-1", boom)
    runs: list[int] = []
    assert dedupe.run_once("e-1", lambda: runs.append(1)) is True and runs == [1]


def test_a_claim_in_progress_makes_the_duplicate_wait_until_its_lease_ends(idem: ModuleType) -> None:
    clock = Clock()
    store = idem.MemoryStore()
    dedupe = idem.Deduplicator(store, lease_seconds=60, clock=clock)
    assert store.claim("e-1", clock.now, 60) == "new"  # another delivery is running the handler
    with pytest.raises(idem.InProgress):
        dedupe.run_once("e-1", lambda: None)
    clock.now += 61  # ... and died without finishing
    assert dedupe.run_once("e-1", lambda: None) is True


def test_the_memory_store_forgets_the_oldest_ids_when_full(idem: ModuleType) -> None:
    dedupe = idem.Deduplicator(idem.MemoryStore(max_entries=2))
    for event_id in ("a", "b", "c"):
        dedupe.run_once(event_id, lambda: None)
    assert dedupe.run_once("c", lambda: None) is False
    assert dedupe.run_once("a", lambda: None) is True, "evicted: the documented limit of the LRU"


# ------------------------------------------------------------------ the Table store, against a fake TableClient


class Entity(dict):
    def __init__(self, values: dict[str, Any], etag: str) -> None:
        super().__init__(values)
        self.metadata = {"etag": etag}


class FakeTable:
    """Just enough of azure.data.tables.TableClient: atomic insert, etag-conditional delete."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Entity] = {}
        self.version = 0
        self.before_delete: Any = None

    def put(self, entity: dict[str, Any]) -> None:
        self.version += 1
        self.rows[(entity["PartitionKey"], entity["RowKey"])] = Entity(dict(entity), f"W/{self.version}")

    def create_entity(self, entity: dict[str, Any]) -> None:
        if (entity["PartitionKey"], entity["RowKey"]) in self.rows:
            raise ResourceExistsError("EntityAlreadyExists")
        self.put(entity)

    def get_entity(self, partition_key: str, row_key: str) -> Entity:
        try:
            return self.rows[(partition_key, row_key)]
        except KeyError:
            raise ResourceNotFoundError("ResourceNotFound") from None

    def upsert_entity(self, entity: dict[str, Any]) -> None:
        self.put({**self.rows.get((entity["PartitionKey"], entity["RowKey"]), {}), **entity})

    def delete_entity(self, partition_key: str, row_key: str, *, etag: str | None = None,
                      match_condition: MatchConditions | None = None) -> None:
        if self.before_delete:
            self.before_delete()
        key = (partition_key, row_key)
        if key not in self.rows:
            raise ResourceNotFoundError("ResourceNotFound")
        if match_condition == MatchConditions.IfNotModified and self.rows[key].metadata["etag"] != etag:
            error = HttpResponseError("UpdateConditionNotSatisfied")
            error.status_code = 412
            raise error
        del self.rows[key]


def test_the_table_store_claims_atomically_and_remembers_done_ids(idem: ModuleType) -> None:
    table = FakeTable()
    clock = Clock()
    dedupe = idem.Deduplicator(idem.TableStore(table), lease_seconds=60, clock=clock)
    event_id = "3f1c2b9e-0000-5000-8000-000000000001"
    assert dedupe.run_once(event_id, lambda: None) is True
    assert table.rows[("3f", event_id)]["state"] == "done"
    assert dedupe.run_once(event_id, lambda: None) is False


def test_the_table_store_releases_a_failed_claim_and_takes_over_an_abandoned_one(idem: ModuleType) -> None:
    table = FakeTable()
    clock = Clock()
    store = idem.TableStore(table)
    dedupe = idem.Deduplicator(store, lease_seconds=60, clock=clock)

    def fail() -> None:
        raise ValueError("handler failed")

    with pytest.raises(ValueError):
        dedupe.run_once("ab-1", fail)
    assert table.rows == {}, "released"

    assert store.claim("ab-2", clock.now, 60) == "new"  # an instance claims, then dies
    with pytest.raises(idem.InProgress):
        dedupe.run_once("ab-2", lambda: None)
    clock.now += 61
    assert dedupe.run_once("ab-2", lambda: None) is True
    assert table.rows[("ab", "ab-2")]["state"] == "done"


def test_two_deliveries_racing_for_an_abandoned_claim_run_the_handler_once(idem: ModuleType) -> None:
    table = FakeTable()
    store = idem.TableStore(table)
    assert store.claim("cd-1", 0, 60) == "new"

    def the_other_delivery_takes_over() -> None:  # between our read and our conditional delete
        table.before_delete = None
        table.put({**table.rows[("cd", "cd-1")], "leaseUntil": 1_000.0})

    table.before_delete = the_other_delivery_takes_over
    assert store.claim("cd-1", 100, 60) == "busy"


# ------------------------------------------------------------------ the function, through the azure-functions binding


def cloud_event(event_id: str, outcome: str = "Succeeded") -> str:
    result = {"eventId": event_id, "outcome": outcome, "status": outcome, "source": "apim", "operationId": "op-1",
              "statusUrl": "https://management.azure.com/subscriptions/s/providers/Microsoft.ApiManagement/locations/westus/operationStatuses/op-1?api-version=2024-05-01",
              "correlationId": "release-42", "context": None, "percentComplete": 100, "startTime": None, "endTime": None,
              "error": None, "operation": None, "polls": 3, "enqueuedAt": "2026-11-22T12:00:00.000Z", "completedAt": "2026-11-22T12:05:00.000Z"}
    return json.dumps({"specversion": "1.0", "id": event_id, "source": "lro-watcher", "type": f"LroWatcher.Operation.{outcome}",
                       "subject": "/subscriptions/s/providers/Microsoft.ApiManagement/locations/westus/operationStatuses/op-1",
                       "time": result["completedAt"], "datacontenttype": "application/json", "data": result})


def test_the_function_handles_each_event_id_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    monkeypatch.setenv("DEDUPE_STORE", "memory")
    app = load("function_app", monkeypatch)
    handled: list[tuple[str, str]] = []
    monkeypatch.setattr(app, "handle_outcome", lambda result: handled.append((result["eventId"], result["outcome"])))
    (function,) = [f for f in app.app.get_functions() if f.get_function_name() == "on_operation_outcome"]
    assert function.get_bindings()[0].type == "eventGridTrigger"
    user_function = function.get_user_function()

    def deliver(body: str) -> None:
        user_function(EventGridEventInConverter.decode(Datum(body, "json"), trigger_metadata={}))

    for body in (cloud_event("e-1"), cloud_event("e-1"), cloud_event("e-2", "Failed"), cloud_event("e-1")):
        deliver(body)
    assert handled == [("e-1", "Succeeded"), ("e-2", "Failed")]

    deliver(json.dumps({"specversion": "1.0", "id": "x", "source": "other", "type": "Other.Event", "data": {"eventId": "x", "outcome": "y"}}))
    deliver(json.dumps({"specversion": "1.0", "id": "y", "source": "other", "type": "LroWatcher.Operation.Succeeded", "data": "text"}))
    assert len(handled) == 2, "foreign events are ignored"
