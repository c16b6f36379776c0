"""Print the outcomes on the results queue as they arrive, without taking them unless asked.

::

    python -m tools.results                    # what is on the queue now (first 32), one line per outcome
    python -m tools.results --follow           # and then each new one as it arrives (Ctrl-C stops)
    python -m tools.results --follow --max 1 --max-seconds 900 --json   # the next outcome, any pipeline's
    python -m tools.results --correlation-id ID --wait --timeout 900    # one pipeline's own (tools.ops.results.wait)
    python -m tools.results --consume          # take them: delete each message once printed

By default the queue is only *peeked*: nothing is deleted, hidden or counted as a
delivery, so a consumer of the results queue is never disturbed. Storage's peek sees
the first 32 visible messages only: while more than 32 results wait, newer ones are
not visible to this tool until a consumer takes the older ones (it says so when that
happens). Results a consumer has received but not deleted yet are invisible to peek
too. Each message is printed once (tracked by message id); a copy of an outcome
printed before (the same eventId: delivery is at least once) is shown with its copy
number.

``--consume`` makes this tool the consumer: it receives the messages (32 at a time)
and deletes each after printing it. Use it where nothing else reads the queue.

``--json`` prints one JSON object per line: ``{"messageId", "insertedOn", "copy",
"result"}`` (``result`` is the message's JSON, or ``null`` with ``text`` when it is not JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from tools.ops._cli import (
    EXIT_OK,
    EXIT_USAGE,
    PEEK_LIMIT,
    CliError,
    Columns,
    add_storage_arguments,
    approximate_count,
    queue_client,
    sleep_until,
    timestamp,
    tool_main,
    tool_settings,
)
from tools.ops.hints import plain

__all__ = ["COLUMNS", "EXIT_MAX_SECONDS", "main"]

#: A --follow --max N that ran out of --max-seconds first.
EXIT_MAX_SECONDS = 3
COLUMNS = (
    ("INSERTED", 24), ("OUTCOME", 13), ("SOURCE", 19), ("OPERATION ID", 36), ("CORRELATION ID", 24),
    ("EVENT ID", 36), ("POLLS", 5), ("COPY", 4), ("ERROR", 60),
)
#: What --help says of the COPY column.
COPY_HELP = ("COPY numbers the copies of one outcome (the same eventId) this run has printed: 1 for the first; "
             "2 or more is a duplicate delivery (delivery is at least once), which consumers drop by eventId.")


def error_cell(result: dict[str, Any]) -> str | None:
    """``code: message`` of a result's ``error`` (one line; the column cuts it), or None when it has none."""
    error = result.get("error")
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), error.get("message")
    return ": ".join(str(part) for part in (code, message) if part not in (None, "")) or None


class _Printer:
    """Prints each message once, numbering the copies of one eventId; the table's header once a read succeeded."""

    def __init__(self, json_lines: bool, out: IO[str]) -> None:
        self.json_lines = json_lines
        self.out = out
        self.columns = Columns(COLUMNS, out)
        self.seen: set[str] = set()
        self.copies: dict[str, int] = {}
        self.printed = 0
        self.headed = json_lines  # JSON lines have no header

    def header(self) -> None:
        """The column names, once: before the first row, or after a first read that found nothing."""
        if not self.headed:
            self.headed = True
            self.columns.header()

    def is_new(self, message: Any) -> bool:
        return message.id not in self.seen

    def show(self, message: Any) -> None:
        self.header()
        self.seen.add(message.id)
        self.printed += 1
        text = message.content if isinstance(message.content, str) else bytes(message.content).decode("utf-8", "replace")
        try:
            result = json.loads(text)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            result = None
        event = result.get("eventId") if result else None
        copy = None
        if isinstance(event, str):
            copy = self.copies[event] = self.copies.get(event, 0) + 1
        inserted = timestamp(message.inserted_on)
        if self.json_lines:
            line: dict[str, Any] = {"messageId": message.id, "insertedOn": inserted, "copy": copy, "result": result}
            if result is None:
                line["text"] = text
            print(json.dumps(line, ensure_ascii=False), file=self.out, flush=True)
            return
        if result is None:
            self.columns.row([inserted, "?", "-", "-", "-", f"(not a result: {text[:60]!r})", "-", "-", "-"])
            return
        self.columns.row([
            inserted, result.get("outcome"), result.get("source"), result.get("operationId"),
            result.get("correlationId"), event, result.get("polls"), copy, error_cell(result),
        ])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.results",
        description="Print the outcomes on the results queue; peeks (takes nothing) unless --consume.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Columns: ERROR is the result's error code and message, cut to fit. {COPY_HELP}\n\n"
        f"Exit codes: 0 done, 1 the queue could not be read, 2 bad flags or settings, "
        f"{EXIT_MAX_SECONDS} --max not reached within --max-seconds (or, with --correlation-id, no outcome within --timeout), "
        "130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (nothing taken unless --consume); "
        "with --correlation-id the outcome's code: 0 Succeeded, 10 Failed, 11 Canceled, 12 TimedOut, 13 PollingFailed, "
        "and 4 rejected (the request is on the poison queue: it will get no outcome).",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new outcomes until Ctrl-C")
    parser.add_argument("--consume", action="store_true", help="delete each message after printing it")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--max", type=int, metavar="N", help="stop after N outcomes")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="with --follow: seconds between reads")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="with --follow: stop after S seconds")
    mine = parser.add_argument_group(
        "one pipeline's outcome",
        "exit codes: 0 Succeeded, 10 Failed, 11 Canceled, 12 TimedOut, 13 PollingFailed, 4 rejected "
        "(on the poison queue, which every pass looks at too), 3 none within --timeout",
    )
    mine.add_argument("--correlation-id", metavar="ID", help="only the outcome whose correlationId is ID")
    mine.add_argument("--message-id", metavar="ID",
                      help="also: the message id tools.enqueue printed; a poison entry for it ends the wait (exit 4)")
    mine.add_argument("--event-id", action="append", metavar="ID",
                      help="also: only an outcome whose eventId is ID (repeatable: one per possible outcome); tells "
                      "apart operations handed over with the same correlationId")
    mine.add_argument("--wait", action="store_true", help="with --correlation-id: wait until that outcome arrives")
    mine.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up after S seconds (exit 3)")
    mine.add_argument("--lease-seconds", type=int, default=5, metavar="S",
                      help="when more than 32 results wait: how long a scanned result stays hidden (default 5)")
    add_storage_arguments(parser, "--results-queue", "RESULTS_QUEUE")
    parser.set_defaults(interrupted_note=_interrupted_note)
    return parser


def _interrupted_note(args: argparse.Namespace) -> str:
    """What an interrupted run did: with --consume only what it printed was taken; else nothing."""
    stopped = f"stopped waiting for correlationId {args.correlation_id}; " if args.correlation_id is not None else ""
    if args.consume:
        return f"{stopped}only the results printed above were taken off the queue (--consume), nothing else"
    return f"{stopped}nothing was taken from the queue"


def _read(queue: Any, printer: _Printer, args: argparse.Namespace) -> tuple[int, int]:
    """One pass: print what is new. Returns (messages seen in the pass, messages printed)."""
    room = None if args.max is None else args.max - printer.printed
    if args.consume:
        want = PEEK_LIMIT if room is None else min(PEEK_LIMIT, room)
        page = list(queue.receive_messages(messages_per_page=want, max_messages=want, visibility_timeout=30))
        for message in page:
            printer.show(message)
            queue.delete_message(message.id, message.pop_receipt)
        return len(page), len(page)
    page = queue.peek_messages(max_messages=PEEK_LIMIT)
    fresh = [m for m in page if printer.is_new(m)][:room]
    for message in fresh:
        printer.show(message)
    return len(page), len(fresh)


def _run(queue: Any, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    printer = _Printer(args.json, out)
    deadline = time.monotonic() + args.max_seconds if args.max_seconds is not None else None
    warned = following = False
    while args.max is None or printer.printed < args.max:
        seen, printed = _read(queue, printer, args)
        printer.header()
        if not args.consume and seen == PEEK_LIMIT and not warned:
            count = approximate_count(queue)
            if count is not None and count > PEEK_LIMIT:
                print(f"note: about {count} results wait; peek sees the first {PEEK_LIMIT} only "
                      "(newer ones show once a consumer takes older ones, or use --consume)", file=err)
                warned = True
        if args.consume and printed:
            continue  # more may be waiting right now
        if not args.follow:
            break
        if not following:
            following = True
            print(f"following {getattr(queue, 'queue_name', 'the results queue')} (Ctrl-C stops)", file=err, flush=True)
        if not sleep_until(deadline, args.interval):
            return EXIT_MAX_SECONDS if args.max is not None else EXIT_OK
    return EXIT_OK


def _tail(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    _check_flags(args)
    settings = tool_settings(args, env)
    queue = queue_client(args, env, settings.results_queue)
    if args.correlation_id is not None:
        from tools.ops.results.wait import wait_for

        poison = queue_client(args, env, settings.poison_queue)
        return wait_for(queue, args, _Printer(args.json, out).show, poison=poison,
                        rejected=lambda rejection: _rejected(rejection, settings.poison_queue, args, out))
    return _run(queue, args, out, sys.stderr)


def _rejected(rejection: Any, queue_name: str, args: argparse.Namespace, out: IO[str]) -> None:
    print(rejection.line(queue_name), file=sys.stderr, flush=True)
    if args.json:
        line = {"rejected": {"poisonQueue": queue_name, "entryId": rejection.entry_id, "reason": rejection.reason,
                             "rejectedAt": rejection.rejected_at, "messageId": rejection.message_id}}
        print(json.dumps(line, ensure_ascii=False), file=out, flush=True)


def _check_flags(args: argparse.Namespace) -> None:
    if (args.wait or args.timeout is not None or args.message_id is not None or args.event_id) and args.correlation_id is None:
        raise CliError("--wait, --timeout, --message-id and --event-id need --correlation-id ID (the outcome to wait for)",
                       EXIT_USAGE)
    if args.correlation_id is not None and (args.follow or args.max is not None or args.max_seconds is not None):
        raise CliError("--correlation-id goes with --wait [--timeout S], not with --follow, --max or --max-seconds", EXIT_USAGE)
    for flag, seconds in (("--timeout", args.timeout), ("--max-seconds", args.max_seconds), ("--interval", args.interval)):
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise CliError(f"{flag} must be more than 0 seconds, got {plain(seconds)}", EXIT_USAGE)
    if args.lease_seconds < 1:
        raise CliError(f"--lease-seconds must be at least 1, got {args.lease_seconds}", EXIT_USAGE)
    if args.max is not None and args.max < 1:
        raise CliError(f"--max must be at least 1, got {args.max}", EXIT_USAGE)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    return tool_main(_parser(), _tail, argv, environ, out)


if __name__ == "__main__":
    sys.exit(main())
