"""What the producer and operator tools (enqueue, poison, results) share.

* settings: the function's own :func:`shared.core.settings.load_settings`, read from the
  environment (plus ``./local.settings.json`` when run as a command, or ``--local-settings``,
  and queue-name flags), so a tool validates and names queues exactly as the deployed function does;
* storage: ``--connection-string`` / ``--account-url`` (DefaultAzureCredential) or the
  function's ``AzureWebJobsStorage`` settings, turned into clients by :mod:`shared.edges.storage`;
* output: aligned tables and one-line errors, never a traceback; exit codes 0 (done),
  1 (storage failed, or a bug), 2 (bad input or settings: nothing was sent), 130 / 143
  (interrupted by SIGINT / SIGTERM: one line says so, and what was and was not done).

Azure SDK modules are imported on first use, so ``--help`` and ``--dry-run`` stay quick.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from tools.ops.hints import SettingsOrigin, storage_failure

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "PEEK_LIMIT",
    "Interrupted",
    "interruptible",
    "exit_on_interrupt",
    "interrupted_line",
    "CliError",
    "add_storage_arguments",
    "tool_settings",
    "settings_origin",
    "queue_client",
    "queue_service",
    "run_tool",
    "tool_main",
    "table",
    "Columns",
    "timestamp",
    "lease_pages",
    "release",
    "sleep_until",
    "approximate_count",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: 128 + the signal's number, as a shell reports a process a signal ended.
EXIT_SIGINT = 128 + int(signal.SIGINT)
EXIT_SIGTERM = 128 + int(signal.SIGTERM)
#: Azure Storage returns at most 32 messages per Peek / Get Messages call.
PEEK_LIMIT = 32


class CliError(Exception):
    """A failure to report in one line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived: unwinds the stack like KeyboardInterrupt, so ``finally`` blocks run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def code(self) -> int:
        """The exit code: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def interrupted_line(signum: int, what: str) -> str:
    """``interrupted by SIGTERM: <what>``: the one line a tool prints before exiting 130 or 143."""
    return f"interrupted by {signal.Signals(signum).name}: {what}"


@contextmanager
def interruptible() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread; the old handlers after.

    (A CI runner cancels a step with SIGTERM, whose default action ends the process without
    unwinding; a terminal sends SIGINT. Either way the tool stops in the same place, runs its
    ``finally`` blocks and exits 128 + the signal's number, never 0.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_on_interrupt(body: Callable[[], int], note: str, err: IO[str] | None = None) -> int:
    """``body()`` under :func:`interruptible`: on SIGINT / SIGTERM, after its ``finally`` blocks ran,
    the line ``interrupted by SIG…: {note}`` and 130 / 143. Other exceptions pass through."""
    try:
        with interruptible():
            return body()
    except (KeyboardInterrupt, Interrupted) as stop:
        signum = stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT)
        print(interrupted_line(signum, note), file=err or sys.stderr, flush=True)
        return 128 + signum


def add_storage_arguments(parser: argparse.ArgumentParser, queue_flag: str, queue_setting: str) -> None:
    """Where the queues are: the flags every tool takes."""
    group = parser.add_argument_group("storage (default: the function's AzureWebJobsStorage settings)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--connection-string", metavar="TEXT", help="a storage connection string")
    where.add_argument(
        "--account-url", metavar="URL",
        help="the queue service URL, e.g. https://ACCOUNT.queue.core.windows.net, signed in with DefaultAzureCredential",
    )
    group.add_argument(queue_flag, metavar="NAME", dest="queue_name", help=f"the queue (default: {queue_setting} or its default)")
    group.add_argument(
        "--local-settings", metavar="PATH",
        help="also read the Values of this local.settings.json (environment variables win), as run_local does "
        "(default: ./local.settings.json when it exists)",
    )
    group.add_argument("--no-local-settings", action="store_true", help="read no local.settings.json, only the environment")
    parser.set_defaults(queue_setting=queue_setting)


def _local_settings_path(args: argparse.Namespace) -> str | None:
    """--local-settings (which must exist), else ./local.settings.json as run_local and func start read it
    (command line only); None with --no-local-settings, which goes without --local-settings."""
    given = getattr(args, "local_settings", None)
    if getattr(args, "no_local_settings", False):
        if given:
            raise CliError(f"--local-settings {given} and --no-local-settings contradict each other: give one", EXIT_USAGE)
        return None
    if given:
        if not os.path.isfile(given):
            raise CliError(f"--local-settings {given}: no such file", EXIT_USAGE)
        return str(given)
    if getattr(args, "default_local_settings", False) and os.path.exists("local.settings.json"):
        return "local.settings.json"
    return None


def settings_origin(args: argparse.Namespace, environ: Mapping[str, str]) -> SettingsOrigin:
    """The environment and the local.settings.json this tool reads (environment variables win)."""
    path = _local_settings_path(args)
    if not path:
        return SettingsOrigin(environ)
    from tools.dev.run_local import RunLocalError, read_local_settings

    try:
        return SettingsOrigin(environ, path, read_local_settings(path))
    except RunLocalError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def _environ(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    origin = settings_origin(args, environ)
    env = {**origin.file_values, **environ}
    if getattr(args, "queue_name", None):
        env[args.queue_setting] = args.queue_name
    return env


def tool_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """The function's settings (``shared.core.settings.Settings``) as this tool sees them; storage is read later."""
    from shared.core.errors import SettingsError
    from shared.core.settings import load_settings

    try:
        return load_settings(_environ(args, environ), require_storage=False)
    except SettingsError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def _refuse_http_account_url(url: str | None) -> None:
    """An http --account-url (Azurite's) cannot carry a token: say what works instead of the SDK's ValueError."""
    if url and url.lower().startswith("http://"):
        raise CliError(f"--account-url {url} is http, and DefaultAzureCredential's tokens go over https only: "
                       "for Azurite pass --connection-string (the stack prints its AzureWebJobsStorage), or leave "
                       "--account-url out to use the stack's settings in local.settings.json", EXIT_USAGE)


def queue_service(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """The ``QueueServiceClient`` of the account the flags or settings name (one credential per call)."""
    from shared.core.errors import SettingsError
    from shared.core.storage_connection import CONNECTION_SETTING, storage_connection_from_environ
    from shared.edges.storage import queue_service_client

    env = _environ(args, environ)
    _refuse_http_account_url(args.account_url)
    if args.connection_string:
        env[CONNECTION_SETTING] = args.connection_string
    elif args.account_url:
        env = {key: value for key, value in env.items() if not key.startswith(CONNECTION_SETTING)}
        env[f"{CONNECTION_SETTING}__queueServiceUri"] = args.account_url
    try:
        return queue_service_client(storage_connection_from_environ(env))
    except SettingsError as error:
        where = "--connection-string" if args.connection_string else "--account-url" if args.account_url else None
        hint = f" (given with {where})" if where else " (or pass --connection-string or --account-url)"
        raise CliError(f"{error}{hint}", EXIT_USAGE) from None


def queue_client(args: argparse.Namespace, environ: Mapping[str, str], queue: str) -> Any:
    """A ``QueueClient`` for ``queue`` in the account the flags or settings name."""
    return queue_service(args, environ).get_queue_client(queue)


def tool_main(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace, Mapping[str, str], IO[str]], int],
    argv: list[str] | None,
    environ: Mapping[str, str] | None,
    out: IO[str] | None,
) -> int:
    """A tool's ``main``: parse ``argv``, then ``body(args, environ, out)`` under :func:`run_tool`."""
    args = parser.parse_args(argv)
    # Run as a command (no environ given), a tool reads ./local.settings.json like run_local; called
    # in-process with an explicit environ, it sees exactly that environ (and --local-settings).
    args.default_local_settings = environ is None
    env = os.environ if environ is None else environ
    note = getattr(args, "interrupted_note", None)
    return run_tool(lambda: body(args, env, out or sys.stdout), interrupted=(lambda: note(args)) if note else "stopped")


def run_tool(body: Callable[[], int], err: IO[str] | None = None, interrupted: str | Callable[[], str] = "stopped") -> int:
    """Run a tool's body: one line on stderr and the exit code for the failures it expects.

    SIGINT and SIGTERM end it with 130 and 143 and the line ``interrupted by SIG…: {interrupted}``
    (say there what was and was not done, e.g. "nothing was taken from the queue"; a callable is
    asked when the signal came, so the line can depend on how far the tool got).
    """
    err = err or sys.stderr
    try:
        with interruptible():
            return body()
    except CliError as error:
        print(f"error: {error}", file=err)
        return error.code
    except (KeyboardInterrupt, Interrupted) as stop:
        signum = stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT)
        print(interrupted_line(signum, interrupted if isinstance(interrupted, str) else interrupted()), file=err, flush=True)
        return 128 + signum
    except Exception as error:
        # Only a body that talked to Storage can raise an AzureError: its module is loaded by then.
        azure = sys.modules.get("azure.core.exceptions")
        if azure is None or not isinstance(error, azure.AzureError):
            # Not an input error (those are CliErrors): a bug. Still one line, never a traceback.
            print(f"error: unexpected {_brief(error)} (a bug in the tool: please report it)", file=err)
            return EXIT_FAILED
        print(f"error: {storage_failure(error)}", file=err)
        return EXIT_FAILED


def _brief(error: BaseException) -> str:
    from tools.dev.run_local import redact

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return redact(f"{type(error).__name__}: {text}"[:500])


# -- output ------------------------------------------------------------------------------------


def timestamp(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    from shared.core.poll_state import rfc3339

    return rfc3339(moment)


def _cell(value: Any, width: int | None = None) -> str:
    text = "-" if value is None or value == "" else str(value)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: IO[str]) -> None:
    """An aligned table, each column as wide as its widest cell (the last one is never padded)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1], file=out)


class Columns:
    """Fixed-width columns for rows printed as they arrive (``--follow``); long values end in ``…``."""

    def __init__(self, spec: Sequence[tuple[str, int]], out: IO[str]) -> None:
        self.spec = spec
        self.out = out

    def header(self) -> None:
        self.row([name for name, _ in self.spec])

    def row(self, values: Sequence[Any]) -> None:
        parts = [_cell(value, width).ljust(width) for value, (_, width) in zip(values[:-1], self.spec)]
        print("  ".join([*parts, _cell(values[-1], self.spec[-1][1])]), file=self.out, flush=True)


# -- reading a queue past the 32-message peek --------------------------------------------------


def lease_pages(queue: Any, lease_seconds: int, limit: int | None = None) -> Iterator[list[Any]]:
    """Receive every visible message, page by page, each hidden for ``lease_seconds``; nothing is deleted.

    Storage's peek sees only the first 32 messages, so going further means receiving:
    each received message stays invisible (to everyone) until released with
    :func:`release` or its lease runs out, and its dequeue count goes up by one. Pages
    stop when the queue has no visible message left, when a page brings only messages
    already seen (a lease ran out), or at ``limit`` messages.
    """
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        want = PEEK_LIMIT if limit is None else min(PEEK_LIMIT, limit - len(seen))
        page = list(queue.receive_messages(messages_per_page=want, max_messages=want, visibility_timeout=lease_seconds))
        fresh = [message for message in page if message.id not in seen]
        if not fresh:
            return
        seen.update(message.id for message in fresh)
        yield fresh


def release(queue: Any, messages: Sequence[Any], err: IO[str]) -> None:
    """Make received messages visible again at once; a failure only delays them until their lease ends."""
    from azure.core.exceptions import AzureError

    for message in messages:
        try:
            queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)
        except AzureError as error:
            print(f"warning: message {message.id} stays hidden until its lease ends: {_brief(error)}", file=err)


def approximate_count(queue: Any) -> int | None:
    """The queue's approximate message count, or None where the caller's role may not read it.

    (Get Queue Metadata is not among the message roles' data actions: an identity with
    only Storage Queue Data Message Processor may be refused; the count is only ever a hint.)
    """
    from azure.core.exceptions import AzureError

    try:
        return queue.get_queue_properties().approximate_message_count
    except AzureError:
        return None


def sleep_until(deadline: float | None, interval: float) -> bool:
    """Sleep ``interval`` seconds, or less up to ``deadline``; False once the deadline has passed."""
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        interval = min(interval, remaining)
    time.sleep(interval)
    return True
