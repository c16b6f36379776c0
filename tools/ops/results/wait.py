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

With ``--event-id`` (one per possible outcome: :func:`outcome_event_ids`), a result must also
carry one of those eventIds: two operations handed over with one correlationId (two steps of
a job that both keep the Action's default) each get their own outcome, never the other's.

Each pass also **peeks the poison queue** (``{OPERATIONS_QUEUE}-poison``): a request the
watcher rejected never gets an outcome, so an entry whose ``correlationId`` is ID (or whose
``messageId`` is ``--message-id``, the id ``tools.enqueue`` printed) ends the wait at once
with exit code 4 and the entry's reason. The poison queue is only peeked (its first 32
entries); when it holds more, it is read by receiving, like the results queue, each entry
hidden for ``--lease-seconds`` and made visible again at once.

Exit codes: 0 Succeeded, 10 Failed, 11 Canceled, 12 TimedOut, 13 PollingFailed,
4 the request was rejected (it is on the poison queue), 3 no outcome within ``--timeout``,
1 the queue could not be read, 2 bad flags or settings, 130 / 143 interrupted (SIGINT / SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from tools.ops._cli import PEEK_LIMIT, lease_pages, release, sleep_until
from tools.ops.hints import plain

if TYPE_CHECKING:  # pragma: no cover
    from shared.core.poll_state import WatchedRequest

__all__ = ["OUTCOME_EXIT_CODES", "EXIT_NO_OUTCOME", "EXIT_REJECTED", "wait_for", "Rejection", "outcome_event_ids"]

#: The exit code of each outcome (contract §3); any other outcome text exits 14.
OUTCOME_EXIT_CODES = {"Succeeded": 0, "Failed": 10, "Canceled": 11, "TimedOut": 12, "PollingFailed": 13}
EXIT_OTHER_OUTCOME = 14
EXIT_NO_OUTCOME = 3
#: The request is on the poison queue: it was rejected and will never have an outcome.
EXIT_REJECTED = 4


@dataclass(frozen=True)
class Rejection:
    """A poison entry that holds the awaited request."""

    entry_id: str  # the poison entry's own message id
    reason: str
    rejected_at: str | None
    message_id: str | None  # the rejected message's id, when the entry records it

    def line(self, queue_name: str) -> str:
        when = f" at {self.rejected_at}" if self.rejected_at else ""
        return (f"rejected{when}: the request is on {queue_name} (entry {self.entry_id}) and will get no outcome: "
                f"{self.reason} (python -m tools.poison --id {self.entry_id} shows it; fix and --replay)")


def _result_of(message: Any) -> dict[str, Any] | None:
    content = message.content
    text = content if isinstance(content, str) else bytes(content or b"").decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def outcome_event_ids(request: WatchedRequest) -> list[str]:
    """The eventId each possible outcome of ``request`` would have (contract §3): what tells its outcome from
    another operation's handed over with the same correlationId (two steps of one job, the same default)."""
    from shared.core.result import OUTCOMES, event_id

    return [event_id(request, outcome) for outcome in OUTCOMES]


def _matches(correlation_id: str, event_ids: Collection[str] | None) -> Callable[[Any], bool]:
    def matches(message: Any) -> bool:
        result = _result_of(message) or {}
        return result.get("correlationId") == correlation_id and (not event_ids or result.get("eventId") in event_ids)

    return matches


class _Waiter:
    def __init__(self, queue: Any, args: argparse.Namespace, err: IO[str]) -> None:
        self.queue, self.args, self.err = queue, args, err
        self.event_ids = frozenset(getattr(args, "event_id", None) or ())
        self.matches = _matches(args.correlation_id, self.event_ids)
        self.warned = self.noted_other = self.noted_missing = False

    def peek(self) -> tuple[Any | None, bool]:
        """(the matching message or None, whether the peek was full); with --wait, a results queue that does not
        exist yet is an empty one (the watcher, or the Bicep, creates it), said once."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            page = list(self.queue.peek_messages(max_messages=PEEK_LIMIT))
        except ResourceNotFoundError:
            if not self.args.wait:
                raise
            if not self.noted_missing:
                self.noted_missing = True
                where = getattr(self.queue, "queue_name", "the results queue")
                print(f"note: {where} does not exist yet (nothing has been published to it); waiting for it", file=self.err, flush=True)
            return None, False
        found = next((m for m in page if self.matches(m)), None)
        if found is None and self.event_ids and not self.noted_other and any(
                (_result_of(m) or {}).get("correlationId") == self.args.correlation_id for m in page):
            self.noted_other = True
            print(f"note: an outcome with correlationId {self.args.correlation_id} but another eventId is on the queue: "
                  "another operation was handed over with the same correlationId; still waiting for this one's",
                  file=self.err, flush=True)
        return found, len(page) == PEEK_LIMIT

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


def _rejection(message: Any, correlation_id: str, message_id: str | None) -> Rejection | None:
    """The poison message as a Rejection if it holds the awaited request (by correlationId or message id)."""
    from tools.ops.poison import entry_correlation_id, entry_wrapper

    wrapper = entry_wrapper(message)
    recorded = wrapper.get("messageId") if wrapper else None
    if entry_correlation_id(message) != correlation_id and (message_id is None or recorded != message_id):
        return None
    if wrapper is None:
        reason = "the host poisoned it after host.json's maxDequeueCount failed deliveries (see the function's logs)"
        return Rejection(message.id, reason, None, None)
    return Rejection(message.id, wrapper["reason"], wrapper["rejectedAt"], recorded)


class _PoisonWatch:
    """Looks for the awaited request on the poison queue: a peek, or a leased scan past 32 entries."""

    def __init__(self, queue: Any, args: argparse.Namespace, err: IO[str]) -> None:
        self.queue, self.args, self.err = queue, args, err
        self.message_id = getattr(args, "message_id", None)

    def find(self) -> Rejection | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            page = list(self.queue.peek_messages(max_messages=PEEK_LIMIT))
        except ResourceNotFoundError:
            return None  # no poison queue yet: nothing was rejected
        found = self._first(page)
        if found is not None or len(page) < PEEK_LIMIT:
            return found
        held: list[Any] = []
        try:
            for leased in lease_pages(self.queue, self.args.lease_seconds):
                held += leased
                if (found := self._first(leased)) is not None:
                    break
        finally:
            release(self.queue, held, self.err)
        return found

    def _first(self, messages: list[Any]) -> Rejection | None:
        return next((r for m in messages if (r := _rejection(m, self.args.correlation_id, self.message_id))), None)


def wait_for(
    queue: Any, args: argparse.Namespace, show: Callable[[Any], None], err: IO[str] | None = None,
    poison: Any | None = None, rejected: Callable[[Rejection], None] | None = None,
) -> int:
    """Poll until the outcome with ``args.correlation_id`` arrives; print it with ``show``; its exit code.

    With ``poison`` (the poison queue's client) each pass also looks there: the entry that holds the
    request is passed to ``rejected`` and the wait ends with :data:`EXIT_REJECTED`.
    """
    err = err or sys.stderr
    waiter = _Waiter(queue, args, err)
    watch = _PoisonWatch(poison, args, err) if poison is not None else None
    deadline = time.monotonic() + args.timeout if args.timeout is not None else None
    announced = False
    while True:
        if watch is not None and (rejection := watch.find()) is not None:
            if rejected is not None:
                rejected(rejection)
            return EXIT_REJECTED
        found, full = waiter.peek()
        if (found is not None and args.consume) or (found is None and full):
            scanned = waiter.scan(past_peek=found is None)
            if scanned is not None or args.consume:
                found = scanned
        if found is not None:
            show(found)
            outcome = (_result_of(found) or {}).get("outcome")
            return OUTCOME_EXIT_CODES.get(outcome, EXIT_OTHER_OUTCOME) if isinstance(outcome, str) else EXIT_OTHER_OUTCOME
        if not args.wait:
            return EXIT_NO_OUTCOME
        if not announced:
            announced = True
            where = getattr(queue, "queue_name", "the results queue")
            also = f" and {getattr(poison, 'queue_name', 'the poison queue')}" if poison is not None else ""
            limit = f" for up to {plain(args.timeout)}s" if args.timeout is not None else " (Ctrl-C stops)"
            print(f"waiting for correlationId {args.correlation_id} on {where}{also}{limit}", file=err, flush=True)
        if not sleep_until(deadline, args.interval):
            return EXIT_NO_OUTCOME
