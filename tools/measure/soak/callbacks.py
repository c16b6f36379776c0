"""The callback lane's verdict: every callback operation's TaskCompleted on the simulator's Azure DevOps.

Per operation with a ``callback``: **lost** when no TaskCompleted was accepted (or, for a plan that
refuses, none was even tried); **wrong** when accepted TaskCompleted events disagree (``succeeded``
and ``failed``), differ from the outcome, name another task or job, or a refused plan was accepted.
Accepted copies beyond the first are counted as ``duplicates`` (allowed).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from .plan import PlannedOp

__all__ = ["callback_verdict"]


def callback_verdict(plan: Sequence[PlannedOp], azdo: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
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
