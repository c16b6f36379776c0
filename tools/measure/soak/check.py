"""Judge a soak run: every planned operation against what reached the results and poison queues.

Pure: :func:`judge` takes the plan, the messages collected (``(message id, text)`` pairs,
already unique by message id) and the simulator's request log, and returns the
report's verdict part. Per operation:

* **lost**: neither a result nor a poison entry;
* **wrong**: a result whose outcome (or status, error code, HTTP status, echoed
  fields, eventId, the moved Location's URL) differs from the script; for a moved
  Location, a copy that polled the producer's URL is allowed (a stale copy from before
  the move, delivered again), but at least one copy must have polled the moved URL; results with different eventIds for one
  operation; a result for an invalid request; a poison entry for a valid request
  (the host's poisoning after ``maxDequeueCount``); a poison reason that does not
  name the offending field;
* **duplicates**: copies beyond the first of one eventId (allowed: at least once).

With ``events`` (what the simulator's Event Grid accepted, when the sink includes it), an operation
with a result but no event of that ``eventId`` is **lost** too. The callback lane (``azdo``: the
simulator's Azure DevOps records) adds its own lost and wrong (:mod:`tools.measure.soak.callbacks`).
The hostile lane (:mod:`tools.measure.soak.hostile`) is judged by the same rules, plus
``percentComplete`` where its script says (``null`` after a non-finite one), any error code where it
says ``"*"``, a ``context`` the watcher dropped to fit (listed in ``trimmed``); ``hostile`` in the
verdict counts its lost and wrong per variant. Secrets and strict JSON in every output are
:mod:`tools.measure.soak.audit`'s.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core.result import event_id_for
from shared.core.sources import SOURCES

from .callbacks import callback_verdict
from .hostile import variant_summary
from .plan import HOSTILE_LANE, PlannedOp

__all__ = ["judge", "stats", "fault_counts", "result_owner", "poison_owner"]

STATUS_ROUTES = ("apim", "operationalinsights", "devcenter", "arm", "dataplane", "resource")
MAX_EXAMPLES = 20


def stats(values: Sequence[float]) -> dict[str, float] | None:
    """mean / p50 / p95 / max (nearest-rank percentiles)."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"mean": round(sum(ordered) / len(ordered), 2), "p50": rank(0.50), "p95": rank(0.95), "max": ordered[-1]}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _expected_event_id(result: dict[str, Any], event_url: str | None, watch: str | None = None) -> str:
    """From the request's own statusUrl (the same however often a Location moved), else the result's; a
    watched resource's also from what it waits for and its correlationId (``watch``: ``waitFor|correlationId``)."""
    source = SOURCES.get(str(result.get("source")))
    if source is None:
        return "(no such source)"
    return event_id_for(source, str(event_url or result.get("statusUrl", "")), str(result.get("outcome")), watch)


def _result_problem(op: PlannedOp, result: dict[str, Any]) -> str | None:
    expect = op.expect
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    trimmed = result.get("trimmed") if isinstance(result.get("trimmed"), list) else []
    checks = [
        ("outcome", result.get("outcome"), expect["outcome"]),
        ("source", result.get("source"), expect["source"]),
        ("correlationId", result.get("correlationId"), expect["correlationId"]),
        ("context", result.get("context"), None if "context" in trimmed else expect["context"]),
        ("eventId", result.get("eventId"), _expected_event_id(result, expect.get("eventUrl"), expect.get("watch"))),
    ]
    if "operation" in expect:  # a watched resource: the projection, never the body
        operation = result.get("operation") if isinstance(result.get("operation"), dict) else {}
        checks.append(("operation keys", sorted(operation), ["id", "name", "provisioningState", "type"]))
        checks.append(("operation.id", operation.get("id"), expect["operation"]["id"]))
        checks.append(("operationId", result.get("operationId"), expect["operation"]["id"].rsplit("/", 1)[1]))
    if "statusUrl" in expect and result.get("statusUrl") != expect["eventUrl"]:
        # A moved Location: the URL polled last. (A stale copy of the message from before the move, one the
        # host delivered again, polls the producer's URL: allowed, same eventId; _op_problem wants one moved copy.)
        checks.append(("statusUrl", result.get("statusUrl"), expect["statusUrl"]))
    if "status" in expect:
        checks.append(("status", result.get("status"), expect["status"]))
    if expect.get("errorCode") == "*":  # any code the watcher names
        checks.append(("error.code is a name", isinstance(error.get("code"), str) and bool(error.get("code")), True))
    elif "errorCode" in expect:
        checks.append(("error.code", error.get("code"), expect["errorCode"]))
    if "percentComplete" in expect:
        checks.append(("percentComplete", result.get("percentComplete"), expect["percentComplete"]))
    if "httpStatus" in expect:
        checks.append(("error.httpStatus", error.get("httpStatus"), expect["httpStatus"]))
    for name, got, wanted in checks:
        if got != wanted:
            return f"{name} is {got!r}, expected {wanted!r}"
    return None


def result_owner(text: str, by_key: Mapping[str, PlannedOp]) -> PlannedOp | None:
    """The planned operation a result belongs to (by its correlationId)."""
    result = _json(text)
    key = result.get("correlationId") if isinstance(result, dict) else None
    return by_key.get(key) if isinstance(key, str) else None


def poison_owner(
    text: str, by_text: Mapping[str, PlannedOp], by_key: Mapping[str, PlannedOp]
) -> tuple[PlannedOp | None, dict[str, Any] | None]:
    """``(operation or None, the watcher's poison entry or None when the host poisoned the raw message)``."""
    entry = _json(text)
    wrapped = isinstance(entry, dict) and {"reason", "original", "rejectedAt"} <= entry.keys()
    original = entry["original"] if wrapped else text
    op = by_text.get(original)
    if op is None:  # a re-enqueued copy the host poisoned: find it by its correlationId
        body = _json(original)
        if isinstance(body, dict) and isinstance(body.get("correlationId"), str):
            op = by_key.get(body["correlationId"])
    return op, (entry if wrapped else None)


def _sort(plan: Sequence[PlannedOp], results: Sequence[str], poison: Sequence[str]) -> tuple[
        dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any] | None]], list[dict[str, Any]]]:
    """Results and poison entries by operation key; what belongs to none is wrong (a stray)."""
    by_key = {op.key: op for op in plan}
    by_text = {op.text: op for op in plan}
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    poisoned: dict[str, list[dict[str, Any] | None]] = defaultdict(list)
    strays: list[dict[str, Any]] = []
    for text in results:
        op = result_owner(text, by_key)
        if op is None:
            strays.append({"op": None, "why": f"a result that does not parse or matches no planned operation: {text[:200]}"})
        else:
            got[op.key].append(_json(text))
    for text in poison:
        op, entry = poison_owner(text, by_text, by_key)
        if op is None:
            strays.append({"op": None, "why": f"a poison entry matching no planned operation: {text[:200]}"})
        else:
            poisoned[op.key].append(entry)
    return got, poisoned, strays


class _Tally:
    """Outcomes, duplicates and polls, counted operation by operation."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.by_source: dict[str, Counter[str]] = defaultdict(Counter)
        self.polls: list[int] = []
        self.duplicates = self.duplicate_poison = 0

    def poisoned(self, op: PlannedOp, entries: list[dict[str, Any] | None]) -> None:
        self.outcomes["poisoned"] += 1
        self.by_source[op.source]["poisoned"] += 1
        self.duplicate_poison += len(entries) - 1

    def published(self, op: PlannedOp, copies: list[dict[str, Any]]) -> None:
        outcome = str(copies[0].get("outcome"))
        self.outcomes[outcome] += 1
        self.by_source[op.source][outcome] += 1
        self.polls.append(copies[0].get("polls", 0))
        self.duplicates += sum(n - 1 for n in Counter(r.get("eventId") for r in copies).values())


def _per_operation(
    plan: Sequence[PlannedOp], got: dict[str, list[dict[str, Any]]], poisoned: dict[str, list[dict[str, Any] | None]],
    published: set[str] | None, wrong: list[dict[str, Any]],
) -> tuple[list[str], _Tally]:
    """Each planned operation against its results and poison entries (and its Event Grid event): lost, tally; appends to wrong."""
    lost: list[str] = []
    tally = _Tally()
    for op in plan:
        copies, entries = got.get(op.key, []), poisoned.get(op.key, [])
        if not copies and not entries:
            lost.append(op.key)
            continue
        problem = _op_problem(op, copies, entries)
        if problem:
            wrong.append({"op": op.key, "kind": op.kind, "source": op.source, "why": problem})
        if entries:
            tally.poisoned(op, entries)
        if copies:
            tally.published(op, copies)
            if published is not None and not any(str(r.get("eventId")) in published for r in copies):
                lost.append(f"{op.key} (no Event Grid event)")
    return lost, tally


def judge(
    plan: Sequence[PlannedOp], results: Sequence[str], poison: Sequence[str], azdo: Sequence[dict[str, Any]] | None = None,
    events: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The verdict: lost, wrong, duplicates, poisoned, outcomes, polls, callbacks, hostile (see the module docstring)."""
    got, poisoned, wrong = _sort(plan, results, poison)
    strays = len(wrong)
    published = {str(e.get("id")) for e in events} if events is not None else None
    lost, tally = _per_operation(plan, got, poisoned, published, wrong)
    callbacks = None
    if azdo is not None:
        callbacks, callback_lost, callback_wrong = callback_verdict(plan, azdo)
        lost += callback_lost
        wrong += callback_wrong
    variants = {op.key: op.expect["variant"] for op in plan if op.source == HOSTILE_LANE}
    hostile = variant_summary(variants, {k.split(" ")[0] for k in lost}, {str(w.get("op")) for w in wrong})
    return {
        "lost": len(lost),
        "wrong": len(wrong),
        "duplicates": tally.duplicates,
        "poisoned": tally.outcomes["poisoned"],
        "poisonEntries": len(poison),
        "duplicatePoisonEntries": tally.duplicate_poison,
        "results": len(results),
        "opsWithDuplicates": sum(1 for copies in got.values() if len(copies) > 1),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "outcomesBySource": {source: dict(sorted(c.items())) for source, c in sorted(tally.by_source.items())},
        "pollsPerOperation": stats(tally.polls),
        "lostExamples": lost[:MAX_EXAMPLES],
        "wrongExamples": wrong[:MAX_EXAMPLES],
        "strays": strays,
        **({"callbacks": callbacks} if callbacks is not None else {}),
        **({"hostile": hostile} if hostile else {}),
    }


def _op_problem(op: PlannedOp, copies: list[dict[str, Any]], entries: list[dict[str, Any] | None]) -> str | None:
    if op.kind == "poison":
        if copies:
            return f"an invalid request was published as {copies[0].get('outcome')}"
        fields = op.expect["field"] if isinstance(op.expect["field"], tuple) else (op.expect["field"],)
        for entry in entries:
            if entry is None:
                return "poisoned by the host (raw message), not rejected by the watcher"
            reason = str(entry.get("reason"))
            if not any(_names(reason, field) for field in fields):
                return f"poison reason does not name field {' or '.join(map(repr, fields))}: {reason[:300]!r}"
        return None
    if entries:
        return f"a valid request ended in the poison queue ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'})"
    if len({r.get("eventId") for r in copies}) > 1:
        return f"{len(copies)} results with different eventIds: {sorted({r.get('outcome') for r in copies})}"
    for result in copies:
        problem = _result_problem(op, result)
        if problem:
            return problem
    if "statusUrl" in op.expect and all(r.get("statusUrl") != op.expect["statusUrl"] for r in copies):
        return f"no result polled the moved Location {op.expect['statusUrl']!r}"
    return None


def _names(reason: str, field: str) -> bool:
    """Whole-message problems say "The message ..."; field problems quote the field ('x', or a part of it: 'x.y')."""
    if field == "message":
        return reason.startswith("The message ")
    return f"'{field}'" in reason or f"'{field}." in reason


def fault_counts(records: Sequence[dict[str, Any]], plan: Sequence[PlannedOp]) -> dict[str, Any]:
    """Status reads seen by the simulator: faults injected by kind, HTTP statuses, reads per operation."""
    reads = [r for r in records if r.get("route") in STATUS_ROUTES]
    scripted = {(op.sim_id or (op.resource_id or "").rsplit("/", 1)[-1]).lower() for op in plan if op.sim_id or op.resource_id}
    per_op = Counter((r.get("operationId") or "").lower() for r in reads)
    injected = Counter(r["fault"] for r in reads if r.get("fault"))
    return {
        "statusReads": len(reads),
        "faultsInjected": sum(injected.values()),
        "faultShare": round(sum(injected.values()) / len(reads), 4) if reads else 0.0,
        "faultsByKind": dict(sorted(injected.items())),
        "httpStatuses": dict(sorted(Counter(str(r.get("status")) for r in reads).items())),
        "statusReadsPerOperation": stats([per_op[k] for k in scripted]),
        "readsOfUnscriptedOperations": sum(n for k, n in per_op.items() if k not in scripted),
        "tokenRequests": sum(1 for r in records if r.get("route") == "msi"),
    }
