"""The one CI step behind ``action.yml`` (GitHub) and ``pipelines/watch.yml`` (Azure Pipelines).

``python -m tools.ops.pipeline_step --ci github|azure-pipelines`` reads its inputs from
``LRO_*`` environment variables (the action and the template map their inputs there, so
no input is ever pasted into a script), then

1. hands the operation to the watcher — exactly one of: ``LRO_RESOURCE_ID`` (a resource or
   deployment, ``tools.enqueue --resource-id``), ``LRO_STATUS_URL`` (a status URL or header
   line, ``tools.enqueue --status-url``), ``LRO_START_METHOD`` + ``LRO_START_URL`` [+
   ``LRO_START_BODY``] (``tools.start``: send the request, enqueue what its answer calls for);
2. with ``LRO_WAIT=true``, waits for the outcome (``tools.results --wait``, up to
   ``LRO_TIMEOUT`` seconds plus a margin) and fails unless it is ``Succeeded``; the outcome is
   found by its correlationId **and** the eventIds this request's outcome can have, so two steps
   keeping the default correlation-id (one per run attempt) never take each other's;
3. sets the outputs ``correlation-id``, ``outcome``, ``event-id`` (GitHub: ``$GITHUB_OUTPUT``;
   Azure Pipelines: ``correlationId``, ``outcome``, ``eventId`` output variables).

Other inputs: ``LRO_API_VERSION``, ``LRO_WAIT_FOR``, ``LRO_CORRELATION_ID``, ``LRO_CONTEXT``,
``LRO_TIMEOUT``, ``LRO_EXPECTED_SECONDS``, ``LRO_ACCOUNT_URL``, ``LRO_QUEUE`` (empty means not
given). The watcher's settings (``ARM_ENDPOINT``, ``DATAPLANE_HOSTS``, …) come from the job's
environment as for every tool. Exit codes are the tools': 0 done, 1 refused or failed, 2 bad
inputs; waiting, those of ``tools.results --wait`` (10 Failed, 11 Canceled, 12 TimedOut, 13
PollingFailed, 4 rejected, 3 no outcome in time).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO

__all__ = ["main", "INPUTS", "WAIT_MARGIN_SECONDS"]

#: Input name (as action.yml spells it) -> environment variable.
INPUTS = {
    "resource-id": "LRO_RESOURCE_ID", "status-url": "LRO_STATUS_URL", "start-method": "LRO_START_METHOD",
    "start-url": "LRO_START_URL", "start-body": "LRO_START_BODY", "api-version": "LRO_API_VERSION",
    "wait-for": "LRO_WAIT_FOR", "correlation-id": "LRO_CORRELATION_ID", "context": "LRO_CONTEXT",
    "timeout": "LRO_TIMEOUT", "expected-seconds": "LRO_EXPECTED_SECONDS", "account-url": "LRO_ACCOUNT_URL",
    "queue": "LRO_QUEUE", "wait": "LRO_WAIT",
}
#: How much longer than the operation's own timeout the step waits for its TimedOut outcome.
WAIT_MARGIN_SECONDS = 600
EXIT_USAGE = 2


class _Tee(io.StringIO):
    """Captures what a tool prints and shows it on the step's log as it comes."""

    def __init__(self, out: IO[str]) -> None:
        super().__init__()
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(text)
        self._out.flush()
        return super().write(text)


class _Ci:
    """How one CI system takes errors and outputs."""

    def __init__(self, name: str, environ: Mapping[str, str], out: IO[str]) -> None:
        self.name = name
        self.environ = environ
        self.out = out

    def error(self, message: str) -> None:
        line = " ".join(message.split())
        if self.name == "github":
            print(f"::error title=lro-watcher::{line}", file=self.out, flush=True)
        else:
            print(f"##vso[task.logissue type=error]{line}", file=self.out, flush=True)

    def outputs(self, values: Mapping[str, str]) -> None:
        if self.name == "github":
            path = self.environ.get("GITHUB_OUTPUT")
            if not path:
                return
            with open(path, "a", encoding="utf-8") as file:
                for name, value in values.items():
                    file.write(f"{name}={' '.join(value.split())}\n")
            return
        names = {"correlation-id": "correlationId", "outcome": "outcome", "event-id": "eventId"}
        for name, value in values.items():
            print(f"##vso[task.setvariable variable={names[name]};isoutput=true]{' '.join(value.split())}", file=self.out, flush=True)


def _value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(INPUTS[name], "").strip()
    return value or None


def _storage_flags(environ: Mapping[str, str], queue_flag: str) -> list[str]:
    flags = ["--no-local-settings"]
    if (account := _value(environ, "account-url")) is not None:
        flags += ["--account-url", account]
    if (queue := _value(environ, "queue")) is not None and queue_flag:
        flags += [queue_flag, queue]
    return flags


def _hand_over(environ: Mapping[str, str], ci: _Ci) -> tuple[list[str], Callable[..., int]] | None:
    """The tool and argv that give the operation to the watcher, or None (the error is reported)."""
    from tools.ops import enqueue, start

    modes = [name for name in ("resource-id", "status-url", "start-method") if _value(environ, name) is not None]
    if len(modes) != 1:
        ci.error("give exactly one of resource-id, status-url or start-method (with start-url)"
                 + (f"; got {', '.join(modes)}" if modes else ""))
        return None
    common: list[str] = []
    for name, flag in (("api-version", "--api-version"), ("correlation-id", "--correlation-id"), ("context", "--context"),
                       ("timeout", "--timeout"), ("expected-seconds", "--expected-seconds")):
        if (value := _value(environ, name)) is not None:
            common += [flag, value]
    storage = _storage_flags(environ, "--operations-queue")
    if modes[0] == "start-method":
        url = _value(environ, "start-url")
        if url is None:
            ci.error("start-method needs start-url (an ARM path such as /subscriptions/…?api-version=…)")
            return None
        argv = ["--method", str(_value(environ, "start-method")), "--url", url]
        if (body := _value(environ, "start-body")) is not None:
            argv += ["--body", body]
        if _value(environ, "wait-for") is not None:
            ci.error("wait-for goes with resource-id (tools.start picks it from the answer)")
            return None
        return argv + common + storage, start.main
    if modes[0] == "resource-id":
        argv = ["--resource-id", str(_value(environ, "resource-id"))]
        if (wait_for := _value(environ, "wait-for")) is not None:
            argv += ["--wait-for", wait_for]
    else:
        argv = ["--status-url", str(_value(environ, "status-url"))]
    return argv + common + storage, enqueue.main


def _event_ids(printed: str, environ: Mapping[str, str]) -> list[str]:
    """The eventIds the handed-over request's outcome can have; the request is the last JSON line the tool printed.

    They tell this step's outcome from another step's handed over with the same correlation-id
    (the default is one per run attempt, the same for every step of a job).
    """
    from datetime import UTC, datetime

    from shared.core.errors import WatcherError
    from shared.core.request_parser import RequestParser
    from shared.core.settings import load_settings
    from tools.ops.results.wait import outcome_event_ids

    requests = [line for line in printed.splitlines() if line.startswith("{")]
    try:
        return outcome_event_ids(RequestParser(load_settings(environ, require_storage=False)).parse(requests[-1], datetime.now(UTC)))
    except (IndexError, WatcherError):  # the tool validated this very text with these settings: not expected
        return []


def _wait(environ: Mapping[str, str], correlation_id: str, event_ids: list[str], out: IO[str]) -> tuple[int, dict[str, str]]:
    from tools.ops import results

    timeout = _value(environ, "timeout")
    limit = (int(timeout) if timeout and timeout.isdigit() else 86_400) + WAIT_MARGIN_SECONDS
    captured = io.StringIO()
    mine = [flag for event_id in event_ids for flag in ("--event-id", event_id)]
    code = results.main(["--correlation-id", correlation_id, *mine, "--wait", "--json", "--timeout", str(limit),
                         *_storage_flags(environ, "")], environ=environ, out=captured)
    found: dict[str, str] = {}
    for line in captured.getvalue().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        result = item.get("result") if isinstance(item, dict) else None
        if isinstance(result, dict):
            found = {"outcome": str(result.get("outcome")), "event-id": str(result.get("eventId"))}
            error = result.get("error") if isinstance(result.get("error"), dict) else {}
            detail = f" ({error.get('code')}: {error.get('message')})" if error else ""
            print(f"outcome {found['outcome']} after {result.get('polls')} polls, eventId {found['event-id']}{detail}",
                  file=out, flush=True)
        elif isinstance(item, dict) and isinstance(item.get("rejected"), dict):
            found = {"outcome": "Rejected", "event-id": ""}
            print(f"rejected: {item['rejected'].get('reason')}", file=out, flush=True)
    return code, found


def run(ci_name: str, environ: Mapping[str, str], out: IO[str]) -> int:
    ci = _Ci(ci_name, environ, out)
    plan = _hand_over(environ, ci)
    if plan is None:
        return EXIT_USAGE
    argv, tool = plan
    if "--correlation-id" not in argv:  # tools.start would make one up; this step must know it to wait
        argv += ["--correlation-id", f"lro-{os.urandom(8).hex()}"]
    correlation_id = argv[argv.index("--correlation-id") + 1]
    captured = _Tee(out)
    code = tool(argv, environ=environ, out=captured)
    outputs = {"correlation-id": correlation_id, "outcome": "", "event-id": ""}
    enqueued = "enqueued message" in captured.getvalue()
    if code != 0:
        ci.outputs(outputs)
        ci.error(f"the operation was not handed to lro-watcher (exit {code}); see the line above")
        return code
    if not enqueued:  # tools.start: finished synchronously, nothing to watch
        outputs["outcome"] = "Succeeded"
        ci.outputs(outputs)
        return 0
    wait = (_value(environ, "wait") or "true").lower()
    if wait not in ("true", "false"):
        ci.outputs(outputs)
        ci.error(f"wait must be true or false, got {wait!r}")
        return EXIT_USAGE
    if wait == "false":
        ci.outputs(outputs)
        return 0
    code, found = _wait(environ, correlation_id, _event_ids(captured.getvalue(), environ), out)
    outputs.update(found)
    ci.outputs(outputs)
    if code != 0:
        ci.error(f"lro-watcher's outcome for {correlation_id} is {found.get('outcome') or 'not there'} (exit {code})")
    return code


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ops.pipeline_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", choices=("github", "azure-pipelines"), required=True, help="where the step runs")
    args = parser.parse_args(argv)
    return run(args.ci, os.environ if environ is None else environ, out or sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
