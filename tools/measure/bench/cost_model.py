"""The cost model of docs/cost-model.md, computed with the watcher's own decision core.

``python -m tools.measure.bench.cost_model [--min 5] [--max 300] [--durations 60,600,3600,86400] [--progress] [--hint]``
replays one operation of each duration D through :func:`shared.core.decide.decide` (a provider
that answers ``InProgress`` without any ``Retry-After`` until D has passed, then
``Succeeded``; with ``--progress`` its bodies carry ``startTime`` and a ``percentComplete``
growing linearly; with ``--hint`` the request carries ``expectedSeconds`` = D), following the
delays it returns, and prints per operation: status reads, queue transactions, when the
outcome is noticed, and what the reads cost of ARM's read budget.

Queue transactions per operation (Storage bills each REST call as one transaction):

* the producer's send of the request: 1;
* per status read: the receive that delivered it (1 when it arrives alone; one receive is
  shared by up to ``batchSize`` = 16 messages under load), the send of the re-enqueued copy or,
  at the last read, of the result, and the delete: 3;
* the consumer's receive + delete of the result: 2 (not counted: it is the consumer's).

ARM: a status read of an ``apim``, ``operationalinsights`` or ``arm`` request is one ARM
subscription read (``devcenter`` reads go to the Dev Center data plane, not ARM).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.ops.hints import plain

ARM_READ_REFILL_PER_S = 25  # per subscription, per service principal, per region (token bucket, since 2024)
ARM_READ_BUCKET = 250


def _body(elapsed: float, duration_s: float, progress: bool) -> bytes:
    if elapsed >= duration_s:
        return b'{"status":"Succeeded"}'
    if not progress:
        return b'{"status":"InProgress"}'
    percent = int(100 * elapsed / duration_s)
    return json.dumps({"status": "InProgress", "percentComplete": percent, "startTime": "2026-01-01T00:00:00Z"}).encode()


def simulate(duration_s: float, min_delay: float = 5, max_delay: float = 300, timeout_s: int | None = None,
             *, progress: bool = False, hint: bool = False) -> dict[str, Any]:
    """Status reads, delays and detection lag for one operation of ``duration_s`` seconds."""
    from shared.core.decide import Publish, Reenqueue, decide
    from shared.core.interpretation import StatusAnswer
    from shared.core.request_parser import RequestParser
    from shared.core.settings import load_settings

    timeout_s = timeout_s or max(86400, int(duration_s) + 3600)
    settings = load_settings({"POLL_MIN_DELAY_SECONDS": str(min_delay), "POLL_MAX_DELAY_SECONDS": str(max_delay)},
                             require_storage=False)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    message = {"source": "apim", "subscriptionId": "00000000-0000-0000-0000-000000000000",
               "location": "westus", "operationId": "op", "timeoutSeconds": timeout_s}
    if hint:
        message["expectedSeconds"] = max(1, int(duration_s))
    text = json.dumps(message)
    request = RequestParser(settings).parse(text, start)
    now, reads, delays = start, 0, []
    while True:
        answer = StatusAnswer(200, {}, _body((now - start).total_seconds(), duration_s, progress))
        decision = decide(request, answer, now, settings)
        reads += 1
        if isinstance(decision, Publish):
            break
        assert isinstance(decision, Reenqueue)
        delays.append(decision.delay_seconds)
        request = RequestParser(settings).parse(request.message_text(decision.poll), now)
        now += timedelta(seconds=decision.delay_seconds)
    noticed = (now - start).total_seconds()
    spanning = delays[-1] if delays else 0  # the wait that straddled D: the worst-case lag near D
    return {
        "poll_interval_at_d_s": spanning,
        "duration_s": duration_s,
        "status_reads": reads,
        "queue_transactions": 1 + 3 * reads,
        "noticed_after_s": noticed,
        "lag_s": noticed - duration_s,
        "first_delays_s": delays[:14],
        "outcome": decision.outcome,
        "mean_arm_reads_per_s": reads / max(noticed, 1.0),
    }


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def table(durations: list[float], min_delay: float, max_delay: float, *, progress: bool = False, hint: bool = False) -> str:
    lines = [
        "| D | status reads | queue transactions | poll interval at D (worst-case lag) | ARM reads/s per op (mean) | ops of this D in flight per 25 reads/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for duration in durations:
        row = simulate(duration, min_delay, max_delay, progress=progress, hint=hint)
        per_op = row["mean_arm_reads_per_s"]
        lines.append(
            f"| {_human(duration)} | {row['status_reads']} | {row['queue_transactions']} | "
            f"{_human(row['poll_interval_at_d_s'])} | {per_op:.4f} | {ARM_READ_REFILL_PER_S / per_op:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.measure.bench.cost_model")
    parser.add_argument("--min", type=float, default=5, help="POLL_MIN_DELAY_SECONDS (default 5)")
    parser.add_argument("--max", type=float, default=300, help="POLL_MAX_DELAY_SECONDS (default 300)")
    parser.add_argument("--durations", default="60,600,3600,86400", help="operation durations in seconds")
    parser.add_argument("--progress", action="store_true", help="bodies carry startTime and a linear percentComplete")
    parser.add_argument("--hint", action="store_true", help="the request carries expectedSeconds = D")
    args = parser.parse_args(argv)
    from shared.core.errors import SettingsError
    from shared.core.settings import load_settings

    try:
        durations = [float(d) for d in args.durations.split(",") if d.strip()]
    except ValueError:
        print(f"error: --durations takes seconds separated by commas, got {args.durations!r}", file=sys.stderr)
        return 2
    try:
        load_settings({"POLL_MIN_DELAY_SECONDS": str(args.min), "POLL_MAX_DELAY_SECONDS": str(args.max)}, require_storage=False)
    except SettingsError as error:  # names the setting --min or --max stands for
        print(f"error: {error}", file=sys.stderr)
        return 2
    what = ", ".join(["no Retry-After"] + (["percentComplete"] if args.progress else []) + (["expectedSeconds"] if args.hint else []))
    print(f"POLL_MIN_DELAY_SECONDS={plain(args.min)}, POLL_MAX_DELAY_SECONDS={plain(args.max)}, {what}\n")
    print(table(durations, args.min, args.max, progress=args.progress, hint=args.hint))
    print("\nfirst delays (s):", simulate(durations[-1], args.min, args.max, progress=args.progress, hint=args.hint)["first_delays_s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
