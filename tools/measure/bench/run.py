"""Run P1-P6, print the table, write the JSON (a subset run merges its figures into the file's others)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.measure.bench.common import PROJECT_ROOT, machine
from tools.measure.bench.p5 import OPERATIONS as P5_OPERATIONS
from tools.ops._cli import exit_on_interrupt

DEFAULT_OUT = PROJECT_ROOT / "bench" / "latest.json"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    p1_runs: int = 3
    p1_operations: int = 400
    p1_polls_per_op: int = 5
    p2_runs: int = 5
    p2_watcher_reads: int = 2000
    p2_operations: int = 100
    p2_polls_per_op: int = 10
    p3_runs: int = 7
    p3_first_message: bool = True
    p4_runs: int = 3
    p4_small: int = 100
    p4_large: int = 10_000
    p4_polls: int = 500
    p5_operations: int = P5_OPERATIONS  # why so many: its comment in tools/measure/bench/p5.py
    p6_operations: int = 2000
    only: tuple[str, ...] = ("p1", "p2", "p3", "p4", "p5", "p6")


FULL = BenchConfig()
SMOKE = BenchConfig(
    p1_runs=1, p1_operations=24, p1_polls_per_op=2,
    p2_runs=1, p2_watcher_reads=30, p2_operations=3, p2_polls_per_op=2,
    p3_runs=1, p3_first_message=False,
    p4_runs=1, p4_small=4, p4_large=30, p4_polls=30,
    p5_operations=60, p6_operations=60,
)


def run(config: BenchConfig = FULL, progress: Any = None, azurite: Any = None, checkpoint: Any = None) -> dict[str, Any]:
    """Measure what ``config.only`` names; the result dict is what ``bench/latest.json`` holds.

    ``azurite``: a running :class:`tools.dev.azurite.Azurite` to use (default: start one).
    ``checkpoint``: called with the result so far after each figure (to save partial results).
    """
    say = progress or (lambda text: None)

    def guarded(key: str, measure: Any) -> None:
        try:
            result[key] = measure()
        except Exception as error:  # noqa: BLE001 - one broken figure must not lose the others
            result[key] = {"error": f"{type(error).__name__}: {error}"[:2000]}
            say(f"{key.upper()} failed: {result[key]['error']}")
        if checkpoint is not None:
            checkpoint(result)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": dataclasses.asdict(config),
    }
    if "p5" in config.only:
        from tools.measure.bench import p5

        say(f"P5: fleet replays of {config.p5_operations:,} operations per model (schedule vs fixed 30 s timer vs azure-core) ...")
        guarded("p5", lambda: p5.measure(config.p5_operations))
    if "p6" in config.only:
        from tools.measure.bench import p6

        say(f"P6: {config.p6_operations:,} operations on one subscription against ARM's read bucket ...")
        guarded("p6", lambda: p6.measure(config.p6_operations))
    needs_stage = {"p1", "p4"} & set(config.only) or ("p3" in config.only and config.p3_first_message)
    if "p2" in config.only:
        from tools.measure.bench import p2

        say("P2: CPU per status read (watcher vs azure-core LROPoller + ARMPolling) ...")
        guarded("p2", lambda: p2.measure(config.p2_runs, config.p2_watcher_reads, config.p2_operations, config.p2_polls_per_op))
    if "p3" in config.only and not config.p3_first_message:
        from tools.measure.bench import p3

        say("P3: cold start (fresh interpreters) ...")
        guarded("p3", lambda: p3.measure(config.p3_runs))
    if needs_stage:
        from tools.measure.bench.stage import Stage

        with Stage(azurite) as stage:
            if "p1" in config.only:
                from tools.measure.bench import p1

                say("P1: throughput (run_local + function_app vs bare storage loop; Azurite + simulator) ...")
                guarded("p1", lambda: p1.measure(stage, config.p1_runs, config.p1_operations, config.p1_polls_per_op))
            if "p3" in config.only and config.p3_first_message:
                from tools.measure.bench import p3

                say("P3: cold start (fresh interpreters) ...")
                guarded("p3", lambda: p3.measure(config.p3_runs, stage))
            if "p4" in config.only:
                from tools.measure.bench import p4

                say(f"P4: worker RSS, {config.p4_small} vs {config.p4_large} operations in flight ...")
                guarded("p4", lambda: p4.measure(stage, config.p4_runs, config.p4_small, config.p4_large, config.p4_polls))
    result["seconds"] = time.perf_counter() - started
    return result


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    else:
        text = str(value)
    return text + unit


#: key -> figure -> (row label, the watcher's figure, the reference figure) for the table.
_ROWS: dict[str, Callable[[dict[str, Any]], tuple[str, str, str]]] = {
    "p1": lambda f: ("P1 throughput", f"{_fmt(f['watcher_polls_per_s'])} polls/s (run_local+watcher)",
                     f"{_fmt(f['bare_loop_polls_per_s'])} polls/s (bare loop)"),
    "p2": lambda f: ("P2 CPU/status read", f"{_fmt(f['watcher_cpu_us_per_read'])} us (watcher)",
                     f"{_fmt(f['azure_core_cpu_us_per_read'])} us (LROPoller+ARMPolling)"),
    "p3": lambda f: ("P3 cold start", f"{_fmt(f['import_function_app_ms'])} ms (import function_app)",
                     f"{_fmt(f['import_deps_ms'])} ms (import deps)"),
    "p4": lambda f: ("P4 worker RSS", f"{_fmt(f['large_peak_rss_mb'])} MB ({f['large_operations']:,} ops)",
                     f"{_fmt(f['small_peak_rss_mb'])} MB ({f['small_operations']:,} ops)"),
}


def _cpu_verdict(p1: dict[str, Any]) -> str:
    """``1.39x, target <= 1.3x: FAIL``: the worker's CPU per poll against the do-nothing app's (older JSON: '-')."""
    cpu = p1.get("worker_cpu_over_queue_app")
    if not cpu:
        return "-"
    return f"{cpu['ratio']:.2f}x, target <= {cpu['target']:g}x: {'pass' if cpu['pass'] else 'FAIL'}"


def format_table(result: dict[str, Any]) -> str:
    rows = [("", "figure", "reference", "ratio", "target", "result")]
    p1, p2, p3, p4 = (result.get(k) if "error" not in result.get(k, {}) else None for k in ("p1", "p2", "p3", "p4"))
    errors = [f"{k.upper()} failed: {result[k]['error']}" for k in ("p1", "p2", "p3", "p4") if "error" in result.get(k, {})]
    for key, figure in (("p1", p1), ("p2", p2), ("p3", p3), ("p4", p4)):
        if figure:
            label, measured, reference = _ROWS[key](figure)
            target = f"{'>=' if key == 'p1' else '<='} {figure['target']:g}"
            rows.append((label, measured, reference, f"{figure['ratio']:.3f}", target, "pass" if figure["pass"] else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(rows) == 1:
        lines = []  # P5/P6 only: their lines below
    notes = []
    if p1:
        cpu = p1["cpu_ms_per_poll"]
        notes.append(
            f"P1: run_local + queue-only function {_fmt(p1['queue_only_app_polls_per_s'])} polls/s; worker CPU/poll "
            f"watcher {cpu['watcher']['worker']:.2f} ms, queue-only app {cpu['queue-app']['worker']:.2f} ms, bare {cpu['bare']['worker']:.2f} ms "
            f"(watcher/queue-only {_cpu_verdict(p1)}); "
            f"Azurite {cpu['watcher']['azurite']:.2f} ms, simulator {cpu['watcher']['simulator']:.2f} ms per watcher poll; "
            f"concurrency {p1['concurrency']}; paired ratios {', '.join(f'{r:.2f}' for r in p1['paired_ratios'])}"
        )
    if p2:
        stacks = ", ".join(f"{name} {us:.0f}" for name, us in p2["http_stack_cpu_us_per_get"].items())
        notes.append(f"P2: {p2['azure_core_polling']}; auth: {p2['azure_core_auth']}")
        notes.append(f"P2: CPU us per GET by HTTP layer: {stacks}")
        others = ", ".join(f"{name} {alt['cpu_us_per_read']:.0f} us = {alt['ratio']:.2f}x"
                           for name, alt in p2["watcher_over_other_transports"].items())
        notes.append(f"P2: the watcher's read over other HTTP stacks: {others} azure-core")
    if p3:
        text = (f"P3: function_app + the modules the first message imports {_fmt(p3['import_app_and_first_message_modules_ms'])} ms "
                f"= {p3['app_and_first_message_imports_ratio']:.2f}x the deps")
        if "first_handled_message_ms" in p3:
            text += f"; first handled message (fresh interpreter, end to end) {_fmt(p3['first_handled_message_ms'])} ms"
        notes.append(text)
    if p4:
        notes.append(f"P4: {p4['polls_per_run']:,} polls per run for both sizes; peak RSS, median of {p4['runs']}; "
                     f"{p4['small_polls_per_s']:.0f} polls/s with {p4['small_operations']:,} queued, "
                     f"{p4['large_polls_per_s']:.0f} polls/s with {p4['large_operations']:,} (Azurite slows with queue depth)")
    notes += _schedule_notes(result)
    return "\n".join(lines + [""] + notes + errors)


def _schedule_notes(result: dict[str, Any]) -> list[str]:
    """P5 and P6: their own lines (each is a set of figures against several references)."""
    notes = []
    p5, p6 = result.get("p5"), result.get("p6")
    if p5 and "error" not in p5:
        for name, model in p5["models"].items():
            for kind, row in model["by_kind"].items():
                w, t, c = row["watcher"], row["fixed_30s_timer"], row["azure_core"]
                if not w["operations"]:
                    continue
                verdict = "" if "pass" not in row else (
                    " (target: reads <= {reads_ratio_max:g}x, lag <= {lag_ratio_max:g}x): ".format(**row["target"])
                    + ("pass" if row["pass"] else "FAIL"))
                notes.append(f"P5 {name} {kind} ({w['operations']:,} ops): reads/op watcher {w['reads_per_op']:.1f} = "
                             f"{w['reads_ratio']:.2f}x timer {t['reads_per_op']:.1f}, azure-core {c['reads_per_op']:.1f}; "
                             f"mean lag {w['mean_lag_s']:.1f} s = {w['lag_ratio']:.2f}x timer {t['mean_lag_s']:.1f} s, "
                             f"azure-core {c['mean_lag_s']:.1f} s; p95 {w['p95_lag_s']:.0f} / {t['p95_lag_s']:.0f} / "
                             f"{c['p95_lag_s']:.0f} s{verdict}")
    if p6 and "error" not in p6:
        on, off = p6["budget_on"], p6["budget_off"]
        scaled = next(v for k, v in p6.items() if k.startswith("budget_on_"))
        notes.append(f"P6 {p6['operations']:,} ops, one subscription: 429s with the budget logic {on['throttled_429']:,} "
                     f"({scaled['throttled_429']:,} of {scaled['reads']:,} reads with {scaled['instances']} instances), "
                     f"without {off['throttled_429']:,}; mean lag {on['mean_lag_s']:.1f} s ({scaled['mean_lag_s']:.1f} s = "
                     f"{p6['lag_ratio_instances']:.2f}x) vs {off['mean_lag_s']:.0f} s; "
                     f"reads/op {on['reads_per_op']:.1f} vs {off['reads_per_op']:.1f}; put off unread per op "
                     f"{on['deferred_unread'] / p6['operations']:.1f} (target {p6['target']}: {'pass' if p6['pass'] else 'FAIL'})")
    return notes


FIGURES = ("p1", "p2", "p3", "p4", "p5", "p6")


def write(result: dict[str, Any], path: str | Path = DEFAULT_OUT, *, merge: bool = False) -> Path:
    """Write ``result``; with ``merge``, only its figures replace those of the file (the others are kept)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if merge and out.exists():
        merged = json.loads(out.read_text(encoding="utf-8"))
        for key in FIGURES:
            if key in result:
                merged[key] = result[key]
        merged.setdefault("partial_runs", []).append(
            {"only": list(result["config"]["only"]), "started": result["started"], "machine": result["machine"]}
        )
        result = merged
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return out


def _bad_flag(args: argparse.Namespace) -> str | None:
    """The first flag whose value cannot work, in one line; None when all can."""
    unknown = [name for name in (p.strip() for p in args.only.split(",")) if name and name not in FIGURES]
    if unknown or not args.only.strip(", "):
        return f"--only takes figures from {', '.join(FIGURES)}, comma-separated; got {args.only!r}"
    if args.runs is not None and args.runs < 1:
        return f"--runs must be at least 1, got {args.runs}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description="lro-watcher benchmarks P1-P6")
    parser.add_argument("--only", default=",".join(FIGURES),
                        help="comma-separated subset of p1..p6; a subset's figures are merged into --out, the others kept")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves the harness works, figures mean nothing")
    parser.add_argument("--runs", type=int, help="runs per figure (overrides every P*'s default)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON output (default {DEFAULT_OUT.relative_to(PROJECT_ROOT)})")
    args = parser.parse_args(argv)
    problem = _bad_flag(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    config = SMOKE if args.smoke else FULL
    config = dataclasses.replace(config, only=tuple(p.strip() for p in args.only.split(",") if p.strip()))
    if args.runs:
        config = dataclasses.replace(config, p1_runs=args.runs, p2_runs=args.runs, p3_runs=args.runs, p4_runs=args.runs)
    # SIGTERM (a CI timeout, kill PID) unwinds like Ctrl-C, so Azurite and the helpers are stopped: exit 143 (130).
    merge = set(config.only) != set(FIGURES)
    holder: list[dict] = []
    code = exit_on_interrupt(
        lambda: holder.append(run(config, progress=lambda text: print(text, file=sys.stderr, flush=True),
                                  checkpoint=None if merge else (lambda partial: write(partial, args.out)))) or 0,
        f"stopped the benchmark and its helpers; {args.out} holds only the figures finished before",
    )
    if not holder:
        return code
    result = holder[0]
    out = write(result, args.out, merge=merge)
    print(format_table(result))
    print(f"\n{out} written ({result['seconds']:.0f} s)")
    return 0
