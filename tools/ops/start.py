"""Start an Azure operation and enqueue the watch request its answer calls for: the starter for pipelines.

::

    python -m tools.start --method PUT --url "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Resources/deployments/main?api-version=2024-03-01" \\
        --body @deployment.json --correlation-id "$BUILD_ID" [--expected-seconds 600] [--wait]
    python -m tools.start --method POST --url "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Web/sites/APP/restart?api-version=2023-12-01"
    python -m tools.start --method DELETE --url "/subscriptions/SUB/resourceGroups/old-rg?api-version=2021-04-01" --wait

The request goes to ``ARM_ENDPOINT`` (``--url`` a path, or a URL on its host) or to a
``DATAPLANE_HOSTS`` host, with a token from azure-identity's ``DefaultAzureCredential``
for that host's scope (the pipeline's own login: ``az login``, workload identity, a
managed identity) and the watcher's URL rules: https only (http on loopback), the host
must be ARM's or a data-plane pattern's, no user information, no dot segments, no
redirect followed. The answer decides what is enqueued:

* ``Azure-AsyncOperation``, ``Operation-Location`` or ``Location`` (preferred in that
  order): a ``statusUrl`` request with that ``statusHeader`` (``arm`` on ARM's host,
  ``dataplane`` on a data-plane host);
* a PUT or PATCH answered without any of them (201 or 202, or a 200 whose
  ``provisioningState`` is not terminal): a ``resourceId`` request for the URL's path
  (what ``az … wait`` reads); a DELETE answered 202 without one: a ``resourceId``
  request with ``waitFor: deleted``;
* a synchronous answer (200/201/204 with a terminal ``provisioningState``, or none; a POST
  or DELETE answered 200/204): nothing; one line names the state (exit 0; 1 when the state
  is ``Failed`` or ``Canceled``);
* a refusal (4xx, 5xx): one line ``error: CODE: message`` from ARM's error body, exit 1,
  nothing enqueued.

It prints the enqueued request's ``correlationId`` (a new one when ``--correlation-id`` is
not given) and, with ``--wait``, waits for the outcome as ``tools.results --wait`` does (and
exits with its code). The token is never printed.
"""

from __future__ import annotations

import argparse
import math
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from tools.ops._cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    _local_settings_path,
    add_storage_arguments,
    queue_client,
    settings_origin,
    tool_main,
    tool_settings,
)
from tools.ops.hints import SettingsOrigin, plain, token_hosts

__all__ = ["METHODS", "STATUS_HEADERS_PREFERRED", "Target", "main"]

METHODS = ("PUT", "PATCH", "POST", "DELETE")
#: The async headers an answer may carry, in the order they are preferred.
STATUS_HEADERS_PREFERRED = ("Azure-AsyncOperation", "Operation-Location", "Location")
TERMINAL_STATES = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "canceled": EXIT_FAILED}
MAX_BODY_BYTES = 4 * 1024 * 1024
#: The whole start request's read limit (an ARM PUT answers in seconds; the work goes on asynchronously).
START_TIMEOUT_SECONDS = 60.0
#: What an error line may show of a provider's message.
MAX_ERROR_CHARS = 400


class Target:
    """Where ``--url`` points: its canonical URL, ``arm`` or ``dataplane``, and the token scope."""

    def __init__(self, url: str, source: str, scope: str) -> None:
        self.url = url
        self.source = source
        self.scope = scope

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def api_version(self) -> str | None:
        for part in urlsplit(self.url).query.split("&"):
            name, _, value = part.partition("=")
            if name.lower() == "api-version" and value:
                return value
        return None


def _target(raw: str, api_version: str | None, settings: Any, origin: SettingsOrigin) -> Target:
    """The URL to send to, checked by the watcher's rules (a path is relative to ARM_ENDPOINT)."""
    from shared.core.errors import InvalidRequest
    from shared.core.status_urls import with_api_version
    from shared.core.urls import HostAllowlist, checked_url, default_port

    url = settings.arm_endpoint + raw if raw.startswith("/") and not raw.startswith("//") else raw
    try:
        url = with_api_version(url, api_version, "url")
    except InvalidRequest:
        raise CliError("--url has no api-version query parameter: add '?api-version=…' or --api-version", EXIT_USAGE) from None
    arm = HostAllowlist.for_base_url(settings.arm_endpoint)
    try:
        return Target(checked_url(url, field="url", allowed=arm), "arm", settings.arm_scope)
    except InvalidRequest as arm_error:
        dataplane = settings.dataplane_hosts
        try:
            canonical = checked_url(url, field="url", allowed=dataplane.allowlist)
        except InvalidRequest:
            reason = arm_error.reason.removeprefix("Field 'url' ")
            raise CliError(f"--url {reason} A token goes only to ARM_ENDPOINT's host or a DATAPLANE_HOSTS host: "
                           f"{token_hosts(origin)}.", EXIT_USAGE) from None
        parts = urlsplit(canonical)
        port = parts.port if parts.port is not None else default_port(parts.scheme)
        return Target(canonical, "dataplane", dataplane.scope_for((parts.hostname or "").lower(), port))


def _body(value: str | None) -> bytes | None:
    """``--body``: JSON text, or ``@file`` holding it; sent as it is once it parses as JSON."""
    from shared.core import jsonio

    if value is None:
        return None
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_bytes()
        except OSError as error:
            raise CliError(f"--body {value}: cannot read the file ({error.strerror})", EXIT_USAGE) from None
    else:
        text = value.encode("utf-8", "surrogateescape")
    try:
        jsonio.loads_lenient(text)
    except ValueError as error:
        raise CliError(f"--body is not JSON ({str(error)[:200]})", EXIT_USAGE) from None
    return text


def _token(scope: str, environ: Mapping[str, str]) -> str:
    """A token from DefaultAzureCredential (the environment the pipeline signed in with)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import DefaultAzureCredential

    try:
        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        return str(credential.get_token(scope).token)
    except ClientAuthenticationError as error:
        first = (str(error).strip().splitlines() or ["no credential could sign in"])[0]
        raise CliError(f"could not get a token for {scope} with DefaultAzureCredential: {first[:300]} "
                       "(sign in first: az login, azure/login, or a managed identity)", EXIT_FAILED) from None


def _one_line(text: str, token: str) -> str:
    line = " ".join(text.split())
    if token:
        line = line.replace(token, "***")
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def _refusal(status: int, headers: Mapping[str, str], body: bytes, token: str) -> str:
    """``CODE: message`` from an error answer (ARM's ErrorResponse, or x-ms-error-code)."""
    from shared.core import jsonio
    from shared.core.provider_errors import error_from_response_body

    try:
        parsed = jsonio.loads_lenient(body) if body.strip() else None
    except ValueError:
        parsed = None
    error = error_from_response_body(parsed, headers.get("x-ms-error-code")) or {}
    code = error.get("code") or f"Http{status}"
    message = error.get("message") or f"the request was refused with HTTP {status}"
    return _one_line(f"{code}: {message}", token)


def _state(body: bytes) -> str | None:
    from shared.core import jsonio

    try:
        parsed = jsonio.loads_lenient(body) if body.strip() else None
    except ValueError:
        return None
    properties = parsed.get("properties") if isinstance(parsed, dict) else None
    state = properties.get("provisioningState") if isinstance(properties, dict) else None
    return state if isinstance(state, str) and state else None


def _watch_request(method: str, target: Target, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | str:
    """The request to enqueue, or the one line saying why there is nothing to watch."""
    for name in STATUS_HEADERS_PREFERRED:
        value = headers.get(name.lower()) or headers.get(name)
        if value:
            return {"source": target.source, "statusUrl": urljoin(target.url, value.strip()), "statusHeader": name}
    state = _state(body)
    what = f"{method} answered {status} without an async header"
    if target.source == "arm" and method in ("PUT", "PATCH") and status in (200, 201, 202):
        if state is not None and state.lower() in TERMINAL_STATES:
            return f"{what}: provisioningState {state}, nothing to watch"
        if state is None and status != 202:
            return f"{what} and no provisioningState: done, nothing to watch"
        return {"source": "arm", "resourceId": target.path, "apiVersion": target.api_version}
    if target.source == "arm" and method == "DELETE" and status == 202:
        return {"source": "arm", "resourceId": target.path, "apiVersion": target.api_version, "waitFor": "deleted"}
    if status == 202:
        raise CliError(f"{what}: the operation was accepted but names nothing to watch", EXIT_FAILED)
    return f"{what}: done" + (f" (provisioningState {state})" if state else "") + ", nothing to watch"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.start",
        description="Send one PUT/PATCH/POST/DELETE to ARM (or a DATAPLANE_HOSTS host) with DefaultAzureCredential "
        "and enqueue the watch request its answer calls for.",
        epilog="Exit codes: 0 enqueued (or finished synchronously with Succeeded), 1 the start was refused (one line "
        "CODE: message), no answer, no token, or it finished Failed/Canceled synchronously, 2 bad flags, settings or "
        "request (nothing sent or enqueued); with --wait the outcome's code as tools.results --wait gives it "
        "(0 Succeeded, 10 Failed, 11 Canceled, 12 TimedOut, 13 PollingFailed, 4 rejected, 3 no outcome in time); "
        "130 / 143 interrupted by SIGINT / SIGTERM (one line says how far it got: nothing sent, maybe started, or enqueued).",
    )
    parser.add_argument("--method", required=True, type=str.upper, choices=METHODS, help="the HTTP method")
    parser.add_argument("--url", required=True, metavar="PATH_OR_URL",
                        help="an ARM path (/subscriptions/…?api-version=…) or a URL on ARM's or a DATAPLANE_HOSTS host")
    parser.add_argument("--body", metavar="@FILE|JSON", help="the JSON body: the text, or @file.json")
    request = parser.add_argument_group("the watch request (as tools.enqueue)")
    request.add_argument("--api-version", metavar="VERSION", help="the api-version, if --url has none")
    request.add_argument("--correlation-id", metavar="TEXT", help="echoed in the result (default: a new id, printed)")
    request.add_argument("--context", metavar="JSON", help="a JSON object, echoed in the result")
    request.add_argument("--timeout", type=int, metavar="SECONDS", help="seconds until the outcome is TimedOut")
    request.add_argument("--expected-seconds", type=int, metavar="SECONDS", help="your estimate of the duration (a hint)")
    wait = parser.add_argument_group("waiting")
    wait.add_argument("--wait", action="store_true", help="wait for the outcome, as tools.results --wait does")
    wait.add_argument("--wait-timeout", type=float, metavar="S", help="with --wait: give up after S seconds (exit 3)")
    wait.add_argument("--dry-run", action="store_true", help="print the request that would be sent and send nothing")
    add_storage_arguments(parser, "--operations-queue", "OPERATIONS_QUEUE")
    parser.set_defaults(interrupted_note=lambda args: args.progress, progress="stopped; nothing was sent or enqueued")
    return parser


def _extras(args: argparse.Namespace) -> dict[str, Any]:
    from shared.core import jsonio
    from shared.core.errors import InvalidRequest

    extra: dict[str, Any] = {"correlationId": args.correlation_id or f"start-{uuid.uuid4()}"}
    if args.context is not None:
        try:
            extra["context"] = jsonio.loads(args.context)
        except ValueError as error:
            raise _invalid(InvalidRequest("context", f"Field 'context' must be a JSON object; --context is not JSON ({error}).")) from None
    if args.timeout is not None:
        extra["timeoutSeconds"] = args.timeout
    if args.expected_seconds is not None:
        extra["expectedSeconds"] = args.expected_seconds
    return extra


_FLAG_OF = {"correlationId": "--correlation-id", "context": "--context", "timeoutSeconds": "--timeout",
            "expectedSeconds": "--expected-seconds", "apiVersion": "--api-version", "resourceId": "--url"}


def _invalid(error: Any) -> CliError:
    flag = _FLAG_OF.get(error.field)
    return CliError(f"invalid request: {error.reason}" + (f" (flag {flag})" if flag else ""), EXIT_USAGE)


def _check_wait_timeout(seconds: float | None) -> None:
    """Before anything is started: a --wait-timeout that cannot work would only fail once the operation runs."""
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise CliError(f"--wait-timeout must be more than 0 seconds, got {plain(seconds)}", EXIT_USAGE)


def _start(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from shared.core.errors import InvalidRequest
    from shared.core.request_parser import RequestParser

    _check_wait_timeout(args.wait_timeout)
    settings = tool_settings(args, env)
    target = _target(args.url, args.api_version, settings, settings_origin(args, env))
    body = _body(args.body)
    extras = _extras(args)
    parser = RequestParser(settings)
    if args.dry_run:
        print(f"would send {args.method} {target.url} with a token for {target.scope}", file=out)
        return EXIT_OK
    queue = queue_client(args, env, settings.operations_queue)
    queue.get_queue_properties()  # before starting anything: an operation nobody can watch is worse than none
    token = _token(target.scope, env)
    args.progress = (f"stopped while {args.method} {target.path} was being sent: the operation may have started, "
                     "and nothing was enqueued to watch it")
    answer = _send(args.method, target, body, token)
    status = answer.status
    lowered = {k.lower(): v for k, v in answer.headers.items()}
    if 300 <= status < 400:
        raise CliError(f"{args.method} {target.path} answered {status}: redirects are never followed", EXIT_FAILED)
    if status >= 400:
        raise CliError(_refusal(status, lowered, answer.body, token), EXIT_FAILED)
    watch = _watch_request(args.method, target, status, lowered, answer.body)
    if isinstance(watch, str):
        print(_one_line(watch, token), file=out)
        state = _state(answer.body)
        return TERMINAL_STATES.get(state.lower(), EXIT_OK) if state else EXIT_OK
    request = {key: value for key, value in {**watch, **extras}.items() if value is not None}
    from shared.core import jsonio

    text = jsonio.dumps(request)
    try:
        watched = parser.parse(text, datetime.now(UTC))
    except InvalidRequest as error:
        raise CliError(f"{args.method} {target.path} answered {status} and started, but its answer cannot be watched: "
                       f"{_one_line(error.reason, token)}", EXIT_FAILED) from None
    from shared.edges.queues import NEVER_EXPIRES

    sent = queue.send_message(text, time_to_live=NEVER_EXPIRES)
    args.progress = f"the operation started and its watch request is enqueued (message {sent.id}); stopped before waiting"
    how = f"with {watch['statusHeader']}" if "statusHeader" in watch else (
        "without an async header: watching the resource" + (" until it is deleted" if "waitFor" in watch else ""))
    print(f"started: {args.method} answered {status} {how}; enqueued message {sent.id} on queue {settings.operations_queue}",
          file=out)
    print(f"correlationId: {request['correlationId']}", file=out)
    print(text, file=out, flush=True)
    return _wait(args, env, out, sent.id, watched) if args.wait else EXIT_OK


def _send(method: str, target: Target, body: bytes | None, token: str) -> Any:
    """The start request itself (``shared.edges.http.HttpResponse``): no redirect followed, the token in no error."""
    from shared.edges.http import HttpxTransport, TransportError

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "lro-watcher-start"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    transport = HttpxTransport(timeout_seconds=START_TIMEOUT_SECONDS)
    try:
        return transport.request(method, target.url, headers, body, max_body=MAX_BODY_BYTES)
    except TransportError as error:
        raise CliError(f"{method} {target.path}: no answer ({_one_line(str(error), token)})", EXIT_FAILED) from None
    finally:
        transport.close()


def _wait(args: argparse.Namespace, env: Mapping[str, str], out: IO[str], message_id: str, watched: Any) -> int:
    """``--wait``: ``tools.results --wait`` for this request's outcome (its correlationId and its eventIds) or rejection."""
    from tools.ops import results
    from tools.ops.results.wait import outcome_event_ids

    argv = ["--correlation-id", str(watched.correlation_id), "--wait", "--message-id", message_id]
    argv += [flag for event_id in outcome_event_ids(watched) for flag in ("--event-id", event_id)]  # this request's only
    if args.wait_timeout is not None:
        argv += ["--timeout", str(args.wait_timeout)]
    for flag in ("connection_string", "account_url"):
        if getattr(args, flag, None):
            argv += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    local_settings = _local_settings_path(args)
    argv += ["--local-settings", local_settings] if local_settings else ["--no-local-settings"]
    return results.main(argv, environ=env, out=out)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    return tool_main(_parser(), _start, argv, environ, out)


if __name__ == "__main__":
    sys.exit(main())
