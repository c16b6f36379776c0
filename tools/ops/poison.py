"""Inspect the poison queue and replay the requests that are valid now.

::

    python -m tools.poison                         # table: why each entry is there, and which request it held
    python -m tools.poison --json                  # the same for scripts
    python -m tools.poison --all                   # past the first 32 entries (see "Reading" below)
    python -m tools.poison --replay [--dry-run] [--id MESSAGE_ID ...] [--reset-deadline]
    python -m tools.poison --discard --id MESSAGE_ID [--dry-run]     # drop entries that will never be valid

``{OPERATIONS_QUEUE}-poison`` holds two kinds of entry:

* **wrapped** — the watcher rejected the request: ``{"reason", "original", "rejectedAt"}``, with
  ``messageId`` (the rejected message's id, which its log line names) and ``correlationId``
  beside them when there was room;
* **raw** — the message text itself: either the host gave up on it after host.json's
  ``maxDequeueCount`` failed deliveries (the function raised each time: a queue or Event
  Grid write failed), or the watcher rejected a request too large to wrap.

Every original is validated again with the function's own :class:`~shared.core.request_parser.RequestParser`
and settings (the environment: ``ARM_ENDPOINT``, ``STATUS_HOST_ALLOWLIST``, ...), so after
fixing a setting the table shows which entries would now be accepted.

``--replay`` sends each entry that is valid now back to the operations queue and deletes
the poison entry only after that send succeeded (a crash in between leaves both: the
request is polled twice at worst, and its outcome keeps the same eventId). Invalid entries
stay where they are and are reported. A replayed copy keeps its ``poll`` bookkeeping by
default — its deadline still counts from when the watcher first saw it, so a request
past its deadline ends ``TimedOut`` at its next read unless the operation has finished;
``--reset-deadline`` drops ``poll`` so the deadline (and the failure count) start afresh.

Reading: Storage's peek returns at most the first 32 messages and changes nothing, which
is what the listing uses. ``--all``, ``--replay`` and ``--discard`` receive the entries
instead (deleting needs a receipt), 32 at a time, each hidden for ``--lease-seconds``;
every entry not deleted is made visible again when the tool is done (a crash leaves
them hidden until the lease ends, never lost).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tools.ops._cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PEEK_LIMIT,
    CliError,
    add_storage_arguments,
    approximate_count,
    lease_pages,
    queue_service,
    release,
    settings_origin,
    table,
    timestamp,
    tool_main,
    tool_settings,
)
from tools.ops.hints import SettingsOrigin, host_refusal

__all__ = ["PoisonEntry", "read_entry", "replay_text", "entry_correlation_id", "entry_wrapper", "main"]

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"
_WRAPPER_KEYS = {"reason", "original", "rejectedAt"}
#: Keys the watcher adds beside the contract's three, so the entry can be found by the ids the logs name.
_ID_KEYS = {"messageId", "correlationId"}


@dataclass
class PoisonEntry:
    """One poison message, explained."""

    messageId: str  # this poison entry's own id (what --replay and --discard act on)
    insertedOn: str
    kind: str  # "wrapped" or "raw"
    reason: str
    rejectedAt: str  # the wrapper's; for raw entries, when the entry was written
    source: Any
    operationId: Any
    correlationId: Any
    valid: bool  # the original passes validation now
    problem: str | None  # why not, if not
    deadlinePassed: bool  # valid, but its deadline (from its poll bookkeeping) has passed
    original: str
    action: str | None = None  # --replay: what happened to it
    originalMessageId: str | None = None  # the rejected message's id (the one its log line names), if recorded


def _wrapper(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if (isinstance(value, dict) and _WRAPPER_KEYS <= set(value) <= _WRAPPER_KEYS | _ID_KEYS
            and all(isinstance(v, str) for v in value.values())):
        return value
    return None


def _ids(original: str) -> tuple[Any, Any, Any, dict[str, Any] | None]:
    """source, operation id, correlation id of a request text, as far as it can be read."""
    from shared.core.errors import InvalidRequest
    from shared.core.message_text import decode_message_text

    try:
        body = decode_message_text(original)
    except InvalidRequest:
        return None, None, None, None
    operation = body.get("operationId")
    if operation is None and isinstance(body.get("statusUrl"), str):
        operation = body["statusUrl"].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None
    return body.get("source"), operation, body.get("correlationId"), body


def _too_large_to_wrap(original: str, reason: str) -> bool:
    from shared.core import jsonio
    from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES

    entry = {"reason": reason, "original": original, "rejectedAt": "2000-01-01T00:00:00.000Z"}
    return len(jsonio.dumps(entry).encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES


def _raw_reason(valid: bool, problem: str | None, original: str, max_dequeue: int | None) -> str:
    if not valid and problem is not None and _too_large_to_wrap(original, problem):
        return f"rejected by the watcher, too large to wrap: {problem}"
    if valid:
        count = f"{max_dequeue} dequeues" if max_dequeue else "maxDequeueCount dequeues"
        return f"poisoned by the host after {count} (the function failed each time: see its logs)"
    return "unknown (raw text the watcher did not wrap)"


def read_entry(message: Any, parser: Any, now: datetime, max_dequeue: int | None,
               origin: SettingsOrigin | None = None) -> PoisonEntry:
    """Explain one poison message (``parser``: a RequestParser with the function's settings; ``origin``: where
    they came from, so that a refused host names the setting that decides it)."""
    from shared.core.errors import InvalidRequest

    text = _text(message)
    wrapper = _wrapper(text)
    original = wrapper["original"] if wrapper else text
    source, operation, correlation, _ = _ids(original)
    valid, problem, late = True, None, False
    try:
        request = parser.parse(original, now)
        late = request.deadline <= now
    except InvalidRequest as error:
        hint = host_refusal(error, source, origin) if origin is not None else ""
        valid, problem = False, f"{error.reason} {hint}" if hint else error.reason
    inserted = timestamp(message.inserted_on)
    return PoisonEntry(
        messageId=message.id,
        insertedOn=inserted,
        kind="wrapped" if wrapper else "raw",
        reason=wrapper["reason"] if wrapper else _raw_reason(valid, problem, original, max_dequeue),
        rejectedAt=wrapper["rejectedAt"] if wrapper else inserted,
        source=source,
        operationId=operation,
        correlationId=wrapper.get("correlationId", correlation) if wrapper else correlation,
        valid=valid,
        problem=problem,
        deadlinePassed=late,
        original=original,
        originalMessageId=wrapper.get("messageId") if wrapper else None,
    )


def _text(message: Any) -> str:
    return message.content if isinstance(message.content, str) else bytes(message.content).decode("utf-8", "replace")


def entry_wrapper(message: Any) -> dict[str, Any] | None:
    """A wrapped poison message's ``{"reason", "original", "rejectedAt", ...}``, or None for a raw one."""
    return _wrapper(_text(message))


def _recorded_message_id(message: Any) -> str | None:
    """The rejected message's id a wrapped entry records (the watcher's ``messageId``), else None."""
    wrapper = entry_wrapper(message)
    return wrapper.get("messageId") if wrapper else None


def entry_correlation_id(message: Any) -> Any:
    """The correlationId of a poison message: the wrapper's, else the original request's (as far as it reads)."""
    text = _text(message)
    wrapper = _wrapper(text)
    if wrapper and "correlationId" in wrapper:
        return wrapper["correlationId"]
    return _ids(wrapper["original"] if wrapper else text)[2]


def replay_text(entry: PoisonEntry, reset_deadline: bool) -> str:
    """What goes back on the operations queue: the original as it was, or without ``poll``."""
    if not reset_deadline:
        return entry.original
    _, _, _, body = _ids(entry.original)
    if body is None or "poll" not in body:
        return entry.original
    from shared.core import jsonio

    return jsonio.dumps({k: v for k, v in body.items() if k != "poll"})


def _max_dequeue_count(path: Path) -> int | None:
    from tools.dev.run_local import QueueOptions, RunLocalError

    if not path.exists():
        return None
    try:
        return QueueOptions.load(path).max_dequeue_count
    except RunLocalError:
        return None


def _status(entry: PoisonEntry, reset_deadline: bool) -> str:
    if not entry.valid:
        return "invalid"
    return "late" if entry.deadlinePassed and not reset_deadline else "ok"


def _print(entries: Sequence[PoisonEntry], args: argparse.Namespace, out: IO[str]) -> None:
    if args.json:
        print(json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False), file=out)
        return
    if not entries:
        print("no poison entries", file=out)
        return
    acting = args.replay or args.discard
    last = "ACTION" if acting else "REASON"
    rows = [
        [e.messageId, e.rejectedAt, e.kind, e.source, e.operationId, e.correlationId, _status(e, args.reset_deadline),
         e.action if acting else e.reason]
        for e in entries
    ]
    table(["MESSAGE ID", "REJECTED AT", "KIND", "SOURCE", "OPERATION ID", "CORRELATION ID", "NOW", last], rows, out)
    if acting:
        return
    for e in entries:
        if e.valid and e.deadlinePassed and not args.reset_deadline:
            print(f"note: {e.messageId} is past its deadline: replayed as is it ends TimedOut unless finished "
                  "(--reset-deadline starts the deadline afresh)", file=out)
        elif not e.valid and e.problem != e.reason:
            print(f"note: {e.messageId} is invalid now: {e.problem}", file=out)


def _replay_page(page: Sequence[Any], entries: Sequence[PoisonEntry], poison: Any, operations: Any,
                 args: argparse.Namespace, kept: list[Any]) -> bool:
    """Replay one received page; returns False if any send or delete failed."""
    from azure.core.exceptions import AzureError

    from shared.edges.queues import NEVER_EXPIRES

    ok = True
    for message, entry in zip(page, entries):
        if not entry.valid:
            entry.action = f"kept: {entry.problem}"
            kept.append(message)
            continue
        try:
            sent = operations.send_message(replay_text(entry, args.reset_deadline), time_to_live=NEVER_EXPIRES)
        except AzureError as error:
            entry.action, ok = f"kept: sending to {operations.queue_name} failed: {type(error).__name__}", False
            kept.append(message)
            continue
        try:
            poison.delete_message(message.id, message.pop_receipt)
            entry.action = f"replayed as message {sent.id}"
        except AzureError as error:
            entry.action, ok = f"replayed as message {sent.id}, but the poison entry stays ({type(error).__name__})", False
    return ok


def _discard_page(page: Sequence[Any], entries: Sequence[PoisonEntry], poison: Any, kept: list[Any]) -> bool:
    from azure.core.exceptions import AzureError

    ok = True
    for message, entry in zip(page, entries):
        try:
            poison.delete_message(message.id, message.pop_receipt)
            entry.action = "discarded"
        except AzureError as error:
            entry.action, ok = f"kept: deleting failed ({type(error).__name__})", False
            kept.append(message)
    return ok


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.poison",
        description="List the poison queue's entries (why, when, which request) and replay the ones valid now.",
        epilog="NOW column: ok (valid now), late (valid, past its deadline), invalid. "
        "Exit codes: 0 done, 1 a queue read, send or delete failed, 2 bad flags or settings, "
        "130 / 143 interrupted by SIGINT / SIGTERM (one line says what was changed).",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.add_argument("--all", action="store_true",
                        help=f"read past the first {PEEK_LIMIT} entries (receives them; see --lease-seconds)")
    parser.add_argument("--max", type=int, default=1000, metavar="N", help="read at most N entries (default 1000)")
    parser.add_argument("--replay", action="store_true",
                        help="move the entries that are valid now back to the operations queue")
    parser.add_argument("--id", action="append", dest="ids", metavar="MESSAGE_ID",
                        help="only this entry (repeatable): its id or the rejected message's id (the messageId its log "
                        "line names); a unique prefix will do, e.g. 9632c9e1")
    parser.add_argument("--correlation-id", metavar="ID",
                        help="only the entries whose request has this correlationId (exact)")
    parser.add_argument("--reset-deadline", action="store_true",
                        help="replay without the 'poll' bookkeeping: the deadline and failure count start afresh")
    parser.add_argument("--discard", action="store_true",
                        help="delete the entries chosen with --id (requests that will never be valid)")
    parser.add_argument("--dry-run", action="store_true", help="with --replay or --discard: show what would happen, change nothing")
    parser.add_argument("--lease-seconds", type=int, default=60, metavar="S",
                        help="how long a received entry stays hidden while this runs (default 60)")
    parser.add_argument("--host-json", type=Path, default=HOST_JSON, help="for maxDequeueCount (default: the project's)")
    add_storage_arguments(parser, "--operations-queue", "OPERATIONS_QUEUE")
    parser.set_defaults(interrupted_note=_interrupted_note)
    return parser


def _interrupted_note(args: argparse.Namespace) -> str:
    if (args.replay or args.discard) and not args.dry_run:
        done = "replayed" if args.replay else "discarded"
        return (f"stopped; only the entries {done} before the signal left the poison queue, every other entry stays "
                "(visible again at once, or when its lease ends)")
    return "stopped; nothing was changed"


class _Session:
    """One run of the tool: the function's settings and parser, the poison queue, the entries chosen."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> None:
        from shared.core.request_parser import RequestParser

        self.args, self.out = args, out
        self.settings = tool_settings(args, env)
        self.origin = settings_origin(args, env)
        self.parser = RequestParser(self.settings)
        self.max_dequeue = _max_dequeue_count(args.host_json)
        self.service = queue_service(args, env)
        self.poison = self.service.get_queue_client(self.settings.poison_queue)
        self.now = datetime.now(UTC)
        self.wanted = self._resolve(args.ids) if args.ids else set()

    def _resolve(self, prefixes: Sequence[str]) -> set[str]:
        """Each --id -> the one entry it names; else exit 2.

        An --id is a whole message id or a unique prefix ('…' allowed), either of the poison
        entry itself or of the rejected message it holds (the ``messageId`` its log line names).
        """
        names = self._all_names()
        wanted: set[str] = set()
        for given in prefixes:
            prefix = given.strip().rstrip("…").rstrip(".").strip().lower()
            matches = sorted({entry for name, entry in names if name.lower().startswith(prefix)}) if prefix else []
            queue = self.settings.poison_queue
            if not matches:
                raise CliError(f"--id {given}: no entry on {queue} has an id (its own, or the rejected message's) "
                               f"starting with {prefix!r}", EXIT_USAGE)
            if len(matches) > 1:
                shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
                raise CliError(f"--id {given}: {len(matches)} entries on {queue} have ids starting with {prefix!r} "
                               f"({shown}); give more of the id", EXIT_USAGE)
            wanted.add(matches[0])
        return wanted

    def _all_names(self) -> list[tuple[str, str]]:
        """(an id, the entry's id) for every entry: its own id and the rejected message's id it records.

        One peek when the queue holds fewer than 32 entries, else a leased read released at once.
        """
        peeked = self.poison.peek_messages(max_messages=PEEK_LIMIT)
        messages = peeked if len(peeked) < PEEK_LIMIT else self._leased_all()
        names = [(m.id, m.id) for m in messages]
        names += [(original, m.id) for m in messages if (original := _recorded_message_id(m))]
        return names

    def _leased_all(self) -> list[Any]:
        """Every entry (up to --max), received under a short lease and released again at once."""
        received: list[Any] = []
        try:
            for page in lease_pages(self.poison, self.args.lease_seconds, self.args.max):
                received.extend(page)
        finally:
            release(self.poison, received, sys.stderr)
        return received

    def chosen(self, messages: Sequence[Any]) -> list[Any]:
        """The entries --id and --correlation-id choose (all of them without either)."""
        picked = [m for m in messages if not self.wanted or m.id in self.wanted]
        if self.args.correlation_id is None:
            return picked
        return [m for m in picked if entry_correlation_id(m) == self.args.correlation_id]

    def explain(self, messages: Sequence[Any]) -> list[PoisonEntry]:
        return [read_entry(m, self.parser, self.now, self.max_dequeue, self.origin) for m in messages]

    def _each_page(self, handle: Any) -> tuple[list[PoisonEntry], bool]:
        """Receive page by page and ``handle(chosen, entries, kept)`` each; release what was kept at the end."""
        entries: list[PoisonEntry] = []
        kept: list[Any] = []
        ok = True
        try:
            for page in lease_pages(self.poison, self.args.lease_seconds, self.args.max):
                chosen = self.chosen(page)
                ids = {m.id for m in chosen}
                kept.extend(m for m in page if m.id not in ids)
                page_entries = self.explain(chosen)
                ok = handle(chosen, page_entries, kept) and ok
                entries.extend(page_entries)
        finally:
            release(self.poison, kept, sys.stderr)
        return entries, ok

    def replay(self) -> int:
        """Send each valid entry on, then delete it; invalid ones stay."""
        operations = self.service.get_queue_client(self.settings.operations_queue)
        entries, ok = self._each_page(
            lambda page, page_entries, kept: _replay_page(page, page_entries, self.poison, operations, self.args, kept)
        )
        _print(entries, self.args, self.out)
        return EXIT_OK if ok else EXIT_FAILED

    def discard(self) -> int:
        """Delete the chosen entries (--id): for requests that will never be valid."""
        entries, ok = self._each_page(lambda page, page_entries, kept: _discard_page(page, page_entries, self.poison, kept))
        _print(entries, self.args, self.out)
        return EXIT_OK if ok else EXIT_FAILED

    def list(self) -> int:
        """Peek (the first 32), or with --all (and --replay --dry-run) receive every entry and release it."""
        if self.args.all or self.args.replay or self.args.discard:
            messages = self._leased_all()
        else:
            messages = self.poison.peek_messages(max_messages=min(PEEK_LIMIT, self.args.max))
        entries = self.explain(self.chosen(messages))
        for entry in entries:
            if self.args.replay:
                entry.action = "would replay" if entry.valid else f"kept: {entry.problem}"
            elif self.args.discard:
                entry.action = "would discard"
        _print(entries, self.args, self.out)
        if len(messages) == PEEK_LIMIT and not (self.args.all or self.args.replay or self.args.discard or self.args.json):
            count = approximate_count(self.poison)
            if count is not None and count > PEEK_LIMIT:
                print(f"note: showing the first {PEEK_LIMIT} of about {count} entries; --all reads them all", file=self.out)
        return EXIT_OK


def _operate(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    if args.discard and (args.replay or not (args.ids or args.correlation_id is not None)):
        raise CliError("--discard needs --id MESSAGE_ID (one or more) or --correlation-id ID, and goes without --replay",
                       EXIT_USAGE)
    for flag, value in (("--max", args.max), ("--lease-seconds", args.lease_seconds)):
        if value < 1:
            raise CliError(f"{flag} must be at least 1, got {value}", EXIT_USAGE)
    if not args.host_json.is_file():
        raise CliError(f"--host-json {args.host_json}: no such file", EXIT_USAGE)
    session = _Session(args, env, out)
    if args.dry_run:
        return session.list()
    return session.replay() if args.replay else session.discard() if args.discard else session.list()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    return tool_main(_parser(), _operate, argv, environ, out)


if __name__ == "__main__":
    sys.exit(main())
