"""CLI of the soak: ``python -m tools.soak [--ops N] [--workers W] ...``; see tools/measure/soak/__init__.py."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tools.ops._cli import exit_on_interrupt
from tools.ops.hints import plain

from .procs import PROJECT_ROOT
from .report import failed, summary
from .run import SoakConfig, run_soak


def default_report(ops: int) -> Path:
    """One file per size, so a 2,000-operation run never overwrites the 10,000-operation figures."""
    return PROJECT_ROOT / "soak" / f"{ops}.json"


def _bad_flag(args: argparse.Namespace) -> str | None:
    """The first flag whose value cannot work, in one line; None when all can."""
    for flag, value in (("--ops", args.ops), ("--workers", args.workers), ("--window", args.window)):
        if value < 1:
            return f"{flag} must be at least 1, got {value}"
    if not 0 <= args.fault_rate <= 1:  # also refuses nan
        return f"--fault-rate must be a share from 0 to 1, got {plain(args.fault_rate)}"
    if not 0 <= args.hostile_share <= 1:
        return f"--hostile-share must be a share from 0 to 1, got {plain(args.hostile_share)}"
    if args.max_seconds is not None and not (math.isfinite(args.max_seconds) and args.max_seconds > 0):
        return f"--max-seconds must be more than 0 seconds, got {plain(args.max_seconds)}"
    return None


def main(argv: list[str] | None = None) -> int:
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description="Fault-injection soak of lro-watcher.")
    parser.add_argument("--ops", type=int, default=defaults.ops, help=f"operations (default {defaults.ops})")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="run_local processes (default 2)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate, help="share of reads faulted (0.2)")
    parser.add_argument("--hostile-share", type=float, default=defaults.hostile_share,
                        help=f"share of operations from the hostile lane (default {defaults.hostile_share}; 0 turns it off)")
    parser.add_argument("--sink", choices=("queue", "both"), default=defaults.sink,
                        help="RESULT_SINK of the workers (default both: the results queue and the simulator's Event Grid)")
    parser.add_argument("--window", type=int, default=defaults.window, help="most operations unfinished at once")
    parser.add_argument("--max-seconds", type=float, help="give up after this long (default 180 + 0.2 s per operation)")
    parser.add_argument("--workdir", type=Path, default=defaults.workdir, help="Azurite's files and the logs")
    parser.add_argument("--report", type=Path, help="where to write the report (default: soak/OPS.json, e.g. soak/2000.json)")
    args = parser.parse_args(argv)
    problem = _bad_flag(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.report is None:
        args.report = default_report(args.ops)
    config = SoakConfig(ops=args.ops, workers=args.workers, seed=args.seed, fault_rate=args.fault_rate,
                        window=args.window, max_seconds=args.max_seconds, workdir=args.workdir.resolve(),
                        hostile_share=args.hostile_share, sink=args.sink)
    holder: list[dict] = []
    code = exit_on_interrupt(lambda: holder.append(run_soak(config)) or 0,
                             f"stopped the workers, Azurite and the simulator; no report written to {args.report}")
    if not holder:
        return code
    report = holder[0]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(summary(report))
    print(f"report: {args.report}")
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
