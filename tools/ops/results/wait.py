"""``tools.results --correlation-id ID --wait``: wait for one pipeline's outcome, and only that one.

Storage queues have no server-side filter, so finding one result among many means reading
them. Each pass:

1. **peek** the first 32 messages (hides nothing, changes nothing): if the outcome is there,
   it is printed; with ``--consume`` it is then taken (step 2 finds it to delete it);
2. only when the peek came back full (more than 32 results may wait) and held no match, or
   to delete a match with ``--consume``: **receive** page by page, each message hidden for
   ``--lease-seconds`` (5 s), until the match turns up; the match is printed (and deleted
   with ``--consume``), and every other message received is made visible again as soon as
   the scan ends (an *update message*; without the ``messages/write`` data action they
   reappear when the short lease ends).

Other pipelines' results are never deleted. The receive step does touch them: while it runs
they are hidden for a few seconds and their dequeue count goes up by one, which a consumer
that is a Functions queue trigger counts towards ``maxDequeueCount``. So the step runs only
while more than 32 results wait (a consumer is behind or absent) or to take the match.

Exit codes: 0 Succeeded, 10 Failed, 11 Canceled, 12 TimedOut, 13 PollingFailed,
3 no outcome within ``--timeout``, 1 the queue could not be read, 2 bad flags or settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from tools.ops._cli import PEEK_LIMIT, lease_pages, release, sleep_until

__all__ = ["OUTCOME_EXIT_CODES", "EXIT_NO_OUTCOME", "wait_for"]

#: The exit code of each outcome (contract §3); any other outcome text exits 14.
OUTCOME_EXIT_CODES = {"Succeeded": 0, "Failed": 10, "Canceled": 11, "TimedOut": 12, "PollingFailed": 13}
EXIT_OTHER_OUTCOME = 14
EXIT_NO_OUTCOME = 3


def _result_of(message: Any) -> dict[str, Any] | None:
    content = message.content
    text = content if isinstance(content, str) else bytes(content or b"").decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _matches(correlation_id: str) -> Callable[[Any], bool]:
    return lambda message: (_result_of(message) or {}).get("correlationId") == correlation_id


class _Waiter:
    def __init__(self, queue: Any, args: argparse.Namespace, err: IO[str]) -> None:
        self.queue, self.args, self.err = queue, args, err
        self.matches = _matches(args.correlation_id)
        self.warned = False

    def peek(self) -> tuple[Any | None, bool]:
        """(the matching message or None, whether the peek was full)."""
        page = list(self.queue.peek_messages(max_messages=PEEK_LIMIT))
        return next((m for m in page if self.matches(m)), None), len(page) == PEEK_LIMIT

    def scan(self, past_peek: bool) -> Any | None:
        """Receive past the peek: the match (deleted with --consume, else released), others released at once."""
        if past_peek and not self.warned:
            print(f"note: {PEEK_LIMIT} or more results wait, more than a peek sees: scanning by receiving; other results "
                  f"are hidden for up to {self.args.lease_seconds}s and their dequeue count goes up by one", file=self.err)
            self.warned = True
        found = None
        held: list[Any] = []  # released together at the end: released mid-scan, the next page would bring them back
        try:
            for page in lease_pages(self.queue, self.args.lease_seconds):
                mine = [m for m in page if self.matches(m)]
                held += [m for m in page if not self.matches(m)]
                if not mine:
                    continue
                found = mine[0]
                if self.args.consume:
                    for message in mine:  # the outcome and any copy of it (delivery is at least once)
                        self.queue.delete_message(message.id, message.pop_receipt)
                else:
                    held += mine
                break
        finally:
            release(self.queue, held, self.err)
        return found


def wait_for(queue: Any, args: argparse.Namespace, show: Callable[[Any], None], err: IO[str] | None = None) -> int:
    """Poll until the outcome with ``args.correlation_id`` arrives; print it with ``show``; its exit code."""
    waiter = _Waiter(queue, args, err or sys.stderr)
    deadline = time.monotonic() + args.timeout if args.timeout is not None else None
    while True:
        found, full = waiter.peek()
        if (found is not None and args.consume) or (found is None and full):
            scanned = waiter.scan(past_peek=found is None)
            if scanned is not None or args.consume:
                found = scanned
        if found is not None:
            show(found)
            outcome = (_result_of(found) or {}).get("outcome")
            return OUTCOME_EXIT_CODES.get(outcome, EXIT_OTHER_OUTCOME) if isinstance(outcome, str) else EXIT_OTHER_OUTCOME
        if not args.wait or not sleep_until(deadline, args.interval):
            return EXIT_NO_OUTCOME
