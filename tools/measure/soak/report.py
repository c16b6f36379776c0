"""The soak's report: the verdict (:mod:`tools.measure.soak.check`) with the run's figures, and its summary."""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from .audit import Secret, scrub
from .plan import KIND_WEIGHTS, PlannedOp

__all__ = ["build_report", "summary", "failed"]


def failed(report: dict[str, Any]) -> bool:
    """Anything lost or wrong, a secret in an output, or an output a strict JSON parser refuses."""
    return bool(report["lost"] or report["wrong"] or report.get("secretsFound") or report.get("notStrictJson"))


def build_report(
    config: Any,
    plan: Sequence[PlannedOp],
    verdict: dict[str, Any],
    *,
    enqueued: int,
    wall: float,
    timed_out: bool,
    left_in_queue: int | None,
    faults: dict[str, Any],
    chaos: dict[str, Any],
    workers: Sequence[Any],
    hiccups: dict[str, int],
    settings: dict[str, str],
    client_timeout: float,
    secrets: Sequence[Secret] = (),
) -> dict[str, Any]:
    """Key figures first (``enqueued``, ``lost``, ``wrong``, ``secretsFound``, ``notStrictJson``, ``duplicates``,
    ``poisoned``), then the details; no secret of the run in it (each replaced by ``«secret»``)."""
    verdict = dict(verdict)
    report = {
        "ops": len(plan),
        "enqueued": enqueued,
        "lost": verdict.pop("lost"),
        "wrong": verdict.pop("wrong"),
        "secretsFound": verdict.pop("secretsFound", None),
        "notStrictJson": verdict.pop("notStrictJson", None),
        "duplicates": verdict.pop("duplicates"),
        "poisoned": verdict.pop("poisoned"),
        **verdict,
        "planned": dict(sorted(Counter(op.kind for op in plan).items())),
        "wallSeconds": round(wall, 1),
        "operationsPerSecond": round(len(plan) / wall, 1) if wall else None,
        "timedOut": timed_out,
        "leftInOperationsQueue": left_in_queue,
        "faults": faults,
        "chaos": chaos,
        "workers": [{"index": w.index, "incarnations": w.incarnations} for w in workers],
        "storageHiccups": hiccups,
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("workdir", "verbose", "fault_kinds")},
            "fault_kinds": list(config.fault_kinds),
            "deadline_seconds": config.deadline_seconds(),
            "client_timeout_seconds": client_timeout,
            "kind_weights_percent": KIND_WEIGHTS,
            "settings": settings,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "finishedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return json.loads(scrub(json.dumps(report), secrets)) if secrets else report


def summary(report: dict[str, Any]) -> str:
    """The report in a few lines (plus the first lost / wrong operations, if any)."""
    faults = report["faults"]
    polls = report["pollsPerOperation"] or {}
    kill = report["chaos"].get("workerKill", {})
    restart = report["chaos"].get("azuriteRestart", {})
    lines = [
        f"soak: {report['ops']} operations, {len(report['workers'])} workers, {report['wallSeconds']} s "
        f"({report['operationsPerSecond']} operations/s)",
        f"  lost {report['lost']}   wrong {report['wrong']}   secrets found {report.get('secretsFound')}   "
        f"not strict JSON {report.get('notStrictJson')}   duplicates {report['duplicates']} "
        f"(in {report['opsWithDuplicates']} operations)   poisoned {report['poisoned']}",
        f"  outcomes: {', '.join(f'{k} {v}' for k, v in report['outcomes'].items())}",
        f"  polls per operation: mean {polls.get('mean')}, p50 {polls.get('p50')}, p95 {polls.get('p95')}, "
        f"max {polls.get('max')}",
        f"  status reads {faults['statusReads']}, faults injected {faults['faultsInjected']} "
        f"({faults['faultShare']:.1%}): {', '.join(f'{k} {v}' for k, v in faults['faultsByKind'].items())}",
        f"  worker 0 SIGKILLed at {kill.get('atSeconds')} s ({kill.get('progress', 0):.0%}), back at "
        f"{kill.get('restartedAtSeconds')} s; Azurite restarted ({restart.get('kind')}, {restart.get('signal')}) at "
        f"{restart.get('atSeconds')} s ({restart.get('progress', 0):.0%}, down {restart.get('downSeconds')} s)",
    ]
    hostile = report.get("hostile")
    if hostile:
        bad = {k: v for k, v in hostile.items() if v["lost"] or v["wrong"]}
        lines.append(f"  hostile lane: {sum(v['operations'] for v in hostile.values())} operations in {len(hostile)} variants; "
                     + (", ".join(f"{k} (lost {v['lost']}, wrong {v['wrong']})" for k, v in bad.items()) or "all right"))
    callbacks = report.get("callbacks")
    if callbacks:
        lines.append(
            f"  callback lane: {callbacks.get('operations', 0)} operations, TaskCompleted accepted for "
            f"{callbacks.get('taskCompleted', 0)} ({callbacks.get('duplicates', 0)} duplicates, "
            f"{callbacks.get('retried', 0)} after a 5xx), {callbacks.get('refused', 0)} refused with 401 "
            f"({callbacks.get('refusedPosts', 0)} POSTs)")
    lines += [f"  LOST {example}" for example in report["lostExamples"][:5]]
    lines += [f"  WRONG {example}" for example in report["wrongExamples"][:5]]
    lines += [f"  SECRET {e['secret']} ({e['form']}) in {e['where']}: {e['excerpt']!r}" for e in report.get("secretExamples", [])[:5]]
    lines += [f"  NOT STRICT {e['where']}: {e['why']}" for e in report.get("notStrictExamples", [])[:5]]
    return "\n".join(lines)
