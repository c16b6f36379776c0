"""P5: status reads and detection lag of the watcher's schedule, replayed on simulated fleets.

Every operation of each fleet model in :data:`tools.measure.bench.fleet.MODELS` (each seeded; the models
and why they differ are in that module) is replayed through the real ``shared.core.decide.decide``
on a fake clock, each read answered by the operation's truth at that moment. The same fleet
is replayed under four references: a fixed 30 s timer (a Durable Functions monitor; like
``az ... wait`` and a pipeline's sleep loop it ignores Retry-After), the same timer honouring
Retry-After as a floor (the like-for-like comparison: the watcher must honour it), azure-core's
poller (Retry-After, else 30 s) and the schedule before issue 13 (Retry-After exactly, else 5 s
x 1.5 per poll up to 300 s). Detection lag = the reading time that saw the end minus the true end,
the same for every schedule (each reads first at the sighting); mean and p95 per class, and the
part of the watcher's lag excess over the timer owed to operations asking for more than the
timer's 30 s between reads (``floors_over_30s``). No sockets, no sleeps: seconds to run.

Targets (issues 13 and 22), each against the fixed timer on the same operations, on **every** model:
* with ``percentComplete``: reads <= 0.35x at mean lag <= 1.0x;
* without it (and without a hint): reads and mean lag each <= 1.05x;
* with ``expectedSeconds`` (no percentComplete): reads <= 0.5x at mean lag <= 1.0x.
The goal beyond (reported, not a target): p95 lag per class <= the timer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.measure.bench import fleet

#: Operations per model. Another draw (``--seed``) of 3,000 moved a class's reads ratio by up to 0.06 and its
#: lag ratio by up to 0.19 (the hint class, a few hundred operations), more than the margins the schedule's
#: constants were set by; at 10,000, by up to 0.02 and 0.10 (three other draws, 2026-12-06).
OPERATIONS = 10_000
SCHEDULES = ("watcher", "fixed_30s_timer", "timer_honouring_floors", "azure_core", "previous")
KINDS = ("all", "percentComplete", "no percentComplete", "expectedSeconds")
#: kind -> (reads ratio at most, mean lag ratio at most) against the fixed timer.
TARGETS = {"percentComplete": (0.35, 1.0), "no percentComplete": (1.05, 1.05), "expectedSeconds": (0.5, 1.0)}


def _replay(ops: list[fleet.TrueOperation]) -> tuple[dict[str, dict[str, list[fleet.Replay]]], dict[str, list[float]]]:
    """Every operation under every schedule, by class; and the watcher's lag excess over the timer of the
    operations asking for more than the timer's 30 s between reads."""
    watcher = fleet.WatcherReplay()
    runs = {"watcher": watcher.run, "fixed_30s_timer": fleet.replay_timer,
            "timer_honouring_floors": fleet.replay_timer_honouring_floors,
            "azure_core": fleet.replay_azure_core, "previous": fleet.replay_previous}
    replays: dict[str, dict[str, list[fleet.Replay]]] = {name: {kind: [] for kind in KINDS} for name in SCHEDULES}
    floored: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for op in ops:
        got = {name: run(op) for name, run in runs.items()}
        for name, replay in got.items():
            replays[name]["all"].append(replay)
            replays[name][op.kind].append(replay)
        if (op.retry_after or 0) > fleet.TIMER_S:
            for kind in ("all", op.kind):
                floored[kind].append(got["watcher"].lag_s - got["fixed_30s_timer"].lag_s)
    return replays, floored


def _row(kind: str, replays: dict[str, dict[str, list[fleet.Replay]]], floored: list[float]) -> dict[str, Any]:
    """One class: each schedule's figures with their ratios to the fixed timer, the target and the verdict."""
    timer = fleet.summarise(replays["fixed_30s_timer"][kind])
    row: dict[str, Any] = {}
    for name in SCHEDULES:
        summary: dict[str, Any] = dict(fleet.summarise(replays[name][kind]))
        for key, base in (("reads_ratio", "reads_per_op"), ("lag_ratio", "mean_lag_s"), ("p95_lag_ratio", "p95_lag_s")):
            summary[key] = summary[base] / timer[base] if timer[base] else None
        row[name] = summary
    row["floors_over_30s"] = {"operations": len(floored), "lag_excess_s": sum(floored) / max(row["watcher"]["operations"], 1)}
    if kind in TARGETS:
        reads_max, lag_max = TARGETS[kind]
        w = row["watcher"]
        row["target"] = {"reads_ratio_max": reads_max, "lag_ratio_max": lag_max}
        row["pass"] = bool(w["operations"]) and w["reads_ratio"] <= reads_max and w["lag_ratio"] <= lag_max
        row["p95_goal_met"] = bool(w["operations"]) and w["p95_lag_s"] <= row["fixed_30s_timer"]["p95_lag_s"]
    return row


def measure_model(model: fleet.FleetModel, operations: int = OPERATIONS, seed: int | None = None) -> dict[str, Any]:
    """P5 on one fleet model: per class and schedule, reads/op, mean and p95 lag, ratios to the timer."""
    replays, floored = _replay(fleet.make_fleet(operations, seed, model=model))
    figures = {kind: _row(kind, replays, floored[kind]) for kind in KINDS}
    return {
        "operations": operations,
        "seed": model.seed if seed is None else seed,
        "model": model.describe(),
        "by_kind": figures,
        "pass": all(figures[kind]["pass"] for kind in TARGETS),
    }


def measure(operations: int = OPERATIONS, seed: int | None = None,
            models: Sequence[fleet.FleetModel] = fleet.MODELS) -> dict[str, Any]:
    """P5 on every model (``seed`` replaces each model's own, to look at other draws)."""
    by_model = {model.name: measure_model(model, operations, seed) for model in models}
    return {
        "operations": operations,
        "models": by_model,
        "pass": all(figures["pass"] for figures in by_model.values()),
        "fleet": "tools/measure/bench/fleet.py MODELS",
    }


def table(p5: dict[str, Any]) -> str:
    """Every model, class and schedule: reads/op, mean and p95 lag, each with its ratio to the timer."""
    lines = ["| model | operations | schedule | reads/op | × timer | mean lag | × timer | p95 lag | × timer |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, figures in p5["models"].items():
        for kind in KINDS:
            row = figures["by_kind"][kind]
            for schedule in SCHEDULES:
                s = row[schedule]
                if not s["operations"]:
                    continue
                lines.append(f"| {name} | {kind} ({s['operations']:,}) | {schedule} | {s['reads_per_op']:.1f} | "
                             f"{s['reads_ratio']:.2f} | {s['mean_lag_s']:.1f} s | {s['lag_ratio']:.2f} | "
                             f"{s['p95_lag_s']:.0f} s | {s['p95_lag_ratio']:.2f} |")
    return "\n".join(lines)


def side_by_side(p5: dict[str, Any]) -> str:
    """The watcher against the timer, one column per model (the table in docs/schedule.md)."""
    names = list(p5["models"])
    lines = ["| class: watcher vs fixed 30 s timer | " + " | ".join(f"`{n}` (seed {p5['models'][n]['seed']})" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for kind in KINDS:
        cells = []
        for n in names:
            row = p5["models"][n]["by_kind"][kind]
            w, t = row["watcher"], row["fixed_30s_timer"]
            if not w["operations"]:
                cells.append("—")
                continue
            verdict = "" if "pass" not in row else (" met" if row["pass"] else " **missed**")
            cells.append(f"{w['operations']:,} ops: reads {w['reads_ratio']:.2f}×, lag {w['lag_ratio']:.2f}× "
                         f"({w['mean_lag_s']:.1f} s), p95 {w['p95_lag_s']:.0f} s / {t['p95_lag_s']:.0f} s{verdict}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(p5: dict[str, Any]) -> str:
    """Reads / mean lag per class and model, and whether the target is met (the table in the README)."""
    names = list(p5["models"])
    lines = ["| class | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
    for kind in TARGETS:
        cells = []
        for n in names:
            row = p5["models"][n]["by_kind"][kind]
            w = row["watcher"]
            cells.append(f"{w['reads_ratio']:.2f}× / {w['lag_ratio']:.2f}× {'met' if row['pass'] else 'missed'}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.measure.bench.p5 [--operations N] [--seed S]``: the side-by-side table on stdout.

    ``--seed`` replaces every model's own seed: another draw of the same fleets, to see how much of a
    figure is the sample's (docs/schedule.md). Exit code 0 when every target is met, else 1.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tools.measure.bench.p5", description="P5 alone: the schedule's fleet replays")
    parser.add_argument("--operations", type=int, default=OPERATIONS, help=f"operations per model (default {OPERATIONS:,})")
    parser.add_argument("--seed", type=int, default=None, help="replace every model's own seed")
    args = parser.parse_args(argv)
    if args.operations < 1:
        parser.error("--operations must be at least 1")
    result = measure(args.operations, args.seed)
    print(side_by_side(result))
    print("every target met" if result["pass"] else "not every target met")
    return 0 if result["pass"] else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
