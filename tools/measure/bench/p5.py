"""P5: status reads and detection lag of the watcher's schedule, replayed on a simulated fleet.

Every operation of :func:`tools.measure.bench.fleet.make_fleet` (seeded; the model and why it looks
like it does are in that module) is replayed through the real ``shared.core.decide.decide``
on a fake clock, each read answered by the operation's truth at that moment. The same fleet
is replayed under three references: a fixed 30 s timer (a Durable Functions monitor),
azure-core's poller (Retry-After, else 30 s) and the schedule before issue 13 (Retry-After
exactly, else 5 s x 1.5 per poll up to 300 s). Detection lag = the reading time that saw the
end minus the true end. No sockets, no sleeps: seconds to run.

Targets (issue 13), each against the fixed timer on the same operations:
* with ``percentComplete``: reads <= 0.35x at mean lag <= 1.0x;
* without it (and without a hint): reads and mean lag each <= 1.05x;
* with ``expectedSeconds`` (no percentComplete): reads <= 0.5x at mean lag <= 1.0x.
"""

from __future__ import annotations

from typing import Any

from tools.measure.bench import fleet

SCHEDULES = ("watcher", "fixed_30s_timer", "azure_core", "previous")
KINDS = ("all", "percentComplete", "no percentComplete", "expectedSeconds")
#: kind -> (reads ratio at most, mean lag ratio at most) against the fixed timer.
TARGETS = {"percentComplete": (0.35, 1.0), "no percentComplete": (1.05, 1.05), "expectedSeconds": (0.5, 1.0)}


def measure(operations: int = 3000, seed: int = 5) -> dict[str, Any]:
    ops = fleet.make_fleet(operations, seed)
    watcher = fleet.WatcherReplay()
    runs = {"watcher": watcher.run, "fixed_30s_timer": fleet.replay_timer,
            "azure_core": fleet.replay_azure_core, "previous": fleet.replay_previous}
    replays: dict[str, dict[str, list[fleet.Replay]]] = {name: {kind: [] for kind in KINDS} for name in SCHEDULES}
    for op in ops:
        for name, run in runs.items():
            replay = run(op)
            replays[name]["all"].append(replay)
            replays[name][op.kind].append(replay)
    figures: dict[str, Any] = {}
    for kind in KINDS:
        timer = fleet.summarise(replays["fixed_30s_timer"][kind])
        row: dict[str, Any] = {}
        for name in SCHEDULES:
            summary = fleet.summarise(replays[name][kind])
            summary["reads_ratio"] = summary["reads_per_op"] / timer["reads_per_op"] if timer["reads_per_op"] else None
            summary["lag_ratio"] = summary["mean_lag_s"] / timer["mean_lag_s"] if timer["mean_lag_s"] else None
            row[name] = summary
        if kind in TARGETS:
            reads_max, lag_max = TARGETS[kind]
            row["target"] = {"reads_ratio_max": reads_max, "lag_ratio_max": lag_max}
            row["pass"] = row["watcher"]["reads_ratio"] <= reads_max and row["watcher"]["lag_ratio"] <= lag_max
        figures[kind] = row
    return {
        "operations": operations,
        "seed": seed,
        "by_kind": figures,
        "pass": all(figures[kind]["pass"] for kind in TARGETS),
        "model": "tools/measure/bench/fleet.py (log-normal durations median 10 min, 1 min..8 h; 1/3 percentComplete; "
                 "60% Retry-After 10-60 s; 1/4 expectedSeconds with 25% error)",
    }


def table(p5: dict[str, Any]) -> str:
    lines = ["| operations | schedule | reads/op | × timer | mean lag | × timer | p95 lag |", "|---|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        row = p5["by_kind"][kind]
        for name in SCHEDULES:
            s = row[name]
            lines.append(f"| {kind} ({s['operations']:,}) | {name} | {s['reads_per_op']:.1f} | {s['reads_ratio']:.2f} | "
                         f"{s['mean_lag_s']:.1f} s | {s['lag_ratio']:.2f} | {s['p95_lag_s']:.0f} s |")
    return "\n".join(lines)
