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

The callback lane (``azdo``: the simulator's Azure DevOps records) adds, per operation with a
``callback``: **lost** when no TaskCompleted was accepted (or, for a plan that refuses, none was
even tried); **wrong** when accepted TaskCompleted events disagree (``succeeded`` and ``failed``),
differ from the outcome, name another task or job, or a refused plan was accepted; a job token
(``TOKEN_PREFIX``) or a resource body's secret (``BODY_SECRET``: every body the resource and
deployment lanes serve holds one) in any result or poison entry is **wrong** too. Accepted copies beyond the first
are counted as ``callbacks.duplicates`` (allowed).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core.result import event_id_for
from shared.core.sources import SOURCES

from .plan import BODY_SECRET, TOKEN_PREFIX, PlannedOp

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
    except ValueError:
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
    checks = [
        ("outcome", result.get("outcome"), expect["outcome"]),
        ("source", result.get("source"), expect["source"]),
        ("correlationId", result.get("correlationId"), expect["correlationId"]),
        ("context", result.get("context"), expect["context"]),
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
    if "errorCode" in expect:
        checks.append(("error.code", error.get("code"), expect["errorCode"]))
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


def judge(
    plan: Sequence[PlannedOp], results: Sequence[str], poison: Sequence[str], azdo: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The verdict: lost, wrong, duplicates, poisoned, outcomes, polls, callbacks (see the module docstring)."""
    by_key = {op.key: op for op in plan}
    by_text = {op.text: op for op in plan}
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    poisoned: dict[str, list[dict[str, Any] | None]] = defaultdict(list)
    wrong: list[dict[str, Any]] = []
    strays = 0
    for text in results:
        op = result_owner(text, by_key)
        if op is None:
            strays += 1
            wrong.append({"op": None, "why": f"a result matching no planned operation: {text[:200]}"})
            continue
        got[op.key].append(json.loads(text))
    for text in poison:
        op, entry = poison_owner(text, by_text, by_key)
        if op is None:
            strays += 1
            wrong.append({"op": None, "why": f"a poison entry matching no planned operation: {text[:200]}"})
            continue
        poisoned[op.key].append(entry)

    lost: list[str] = []
    outcomes: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    polls: list[int] = []
    duplicates = duplicate_poison = 0
    for op in plan:
        copies, entries = got.get(op.key, []), poisoned.get(op.key, [])
        if not copies and not entries:
            lost.append(op.key)
            continue
        problem = _op_problem(op, copies, entries)
        if problem:
            wrong.append({"op": op.key, "kind": op.kind, "source": op.source, "why": problem})
        if entries:
            outcomes["poisoned"] += 1
            by_source[op.source]["poisoned"] += 1
            duplicate_poison += len(entries) - 1
        if copies:
            outcome = copies[0].get("outcome")
            outcomes[outcome] += 1
            by_source[op.source][outcome] += 1
            polls.append(copies[0].get("polls", 0))
            per_event = Counter(r.get("eventId") for r in copies)
            duplicates += sum(n - 1 for n in per_event.values())
    callbacks = None
    if azdo is not None:
        callbacks, callback_lost, callback_wrong = _callback_verdict(plan, azdo)
        lost += callback_lost
        wrong += callback_wrong
    wrong += [{"op": None, "why": f"a job token in the {name}: {text[:120]}..."}
              for name, texts in (("results", results), ("poison queue", poison)) for text in texts if TOKEN_PREFIX in text]
    wrong += [{"op": None, "why": f"a resource body's secret in the {name}: {text[:120]}..."}
              for name, texts in (("results", results), ("poison queue", poison)) for text in texts if BODY_SECRET in text]
    return {
        "lost": len(lost),
        "wrong": len(wrong),
        "duplicates": duplicates,
        "poisoned": outcomes["poisoned"],
        "poisonEntries": len(poison),
        "duplicatePoisonEntries": duplicate_poison,
        "results": len(results),
        "opsWithDuplicates": sum(1 for copies in got.values() if len(copies) > 1),
        "outcomes": dict(sorted(outcomes.items())),
        "outcomesBySource": {source: dict(sorted(c.items())) for source, c in sorted(by_source.items())},
        "pollsPerOperation": stats(polls),
        "lostExamples": lost[:MAX_EXAMPLES],
        "wrongExamples": wrong[:MAX_EXAMPLES],
        "strays": strays,
        **({"callbacks": callbacks} if callbacks is not None else {}),
    }


def _callback_verdict(plan: Sequence[PlannedOp], azdo: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Every callback operation's TaskCompleted: received at least once with one, right, result."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    feed_lines: Counter[str] = Counter()
    for record in azdo:
        if record.get("kind") == "event":
            events[str(record.get("planId"))].append(record)
        elif record.get("status") == 200:
            feed_lines[str(record.get("planId"))] += 1
    lost: list[str] = []
    wrong: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for op in plan:
        if "planId" not in op.expect:
            continue
        counts["operations"] += 1
        mine = events.get(op.expect["planId"].lower(), [])
        accepted = [e for e in mine if 200 <= int(e.get("status") or 0) < 300]
        refusing = op.expect.get("azdoAnswers") == [401]
        counts["posts"] += len(mine)
        counts["withFeedLines"] += 1 if feed_lines.get(op.expect["planId"].lower()) else 0
        if refusing:
            counts["refused"] += 1
            counts["refusedPosts"] += len(mine)
            if not mine:
                lost.append(f"{op.key} (TaskCompleted never tried)")
            elif accepted:
                wrong.append({"op": op.key, "why": "a refusing plan accepted a TaskCompleted"})
            continue
        if not accepted:
            lost.append(f"{op.key} (no TaskCompleted accepted after {len(mine)} POSTs)")
            continue
        counts["taskCompleted"] += 1
        counts["duplicates"] += len(accepted) - 1
        counts["retried"] += 1 if len(mine) > len(accepted) else 0
        results = {e["body"].get("result") for e in accepted}
        ids = {(e["body"].get("taskId"), e["body"].get("jobId")) for e in accepted}
        if len(results) > 1:
            wrong.append({"op": op.key, "why": f"conflicting TaskCompleted results {sorted(results)}"})
        elif results != {op.expect["taskResult"]}:
            wrong.append({"op": op.key, "why": f"TaskCompleted {results.pop()!r}, expected {op.expect['taskResult']!r}"})
        elif ids != {(op.expect["taskId"], op.expect["jobId"])}:
            wrong.append({"op": op.key, "why": f"TaskCompleted for {sorted(ids)}"})
    return dict(sorted(counts.items())), lost, wrong


def _op_problem(op: PlannedOp, copies: list[dict[str, Any]], entries: list[dict[str, Any] | None]) -> str | None:
    if op.kind == "poison":
        if copies:
            return f"an invalid request was published as {copies[0].get('outcome')}"
        field = op.expect["field"]
        for entry in entries:
            if entry is None:
                return "poisoned by the host (raw message), not rejected by the watcher"
            reason = str(entry.get("reason"))
            # Whole-message problems say "The message ..."; field problems quote the field: "Field 'x' ...".
            if f"'{field}'" not in reason and not (field == "message" and reason.startswith("The message ")):
                return f"poison reason does not name field {field!r}: {reason!r}"
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
