"""Build a watch request from flags, validate it as the function would, and put it on the operations queue.

::

    python -m tools.enqueue --source apim --subscription-id SUB --location "West US" --operation-id OP
    python -m tools.enqueue --source devcenter --endpoint https://TENANT-DC.REGION.devcenter.azure.com \\
        --project web --operation-id 6a1c...
    python -m tools.enqueue --status-url "Azure-AsyncOperation: https://management.azure.com/..."   # source arm
    python -m tools.enqueue --status-url "Location: https://management.azure.com/.../operationResults/..."  # arm, Location
    python -m tools.enqueue --status-url "Operation-Location: https://SERVICE.cognitiveservices.azure.com/..."  # dataplane
    python -m tools.enqueue --resource-id /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Resources/deployments/main \
        --api-version 2024-03-01 [--wait-for deleted] --expected-seconds 600                    # source arm, a resource
    python -m tools.enqueue ... --correlation-id release-42 --context '{"stage": "prod"}' --timeout 3600 --dry-run

The request is checked by :class:`shared.core.request_parser.RequestParser` with the function's own
settings read from the environment and ``./local.settings.json`` (``ARM_ENDPOINT``, ``STATUS_HOST_ALLOWLIST``, ...), so
what this tool accepts the watcher accepts. An invalid request exits 2 with the sentence
naming the field, and nothing is sent. ``--status-url`` takes the header value or the
whole ``Azure-AsyncOperation: https://...`` line (as ``curl -D`` writes it); a
``Location:`` or ``Operation-Location:`` line sets ``statusHeader`` from the header name
(``--status-header`` sets it explicitly). ``--source`` defaults to ``dataplane`` for an
``Operation-Location`` line and to ``arm`` for any other ``--status-url``.

The message is the compact JSON text (``--base64``: its base64, which the watcher reads
too) and never expires on the queue. ``--dry-run`` prints that text and sends nothing;
otherwise the tool prints the message id and the text it enqueued.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from tools.ops._cli import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_storage_arguments,
    queue_client,
    settings_origin,
    tool_main,
    tool_settings,
)
from tools.ops.hints import SettingsOrigin, host_refusal

__all__ = ["FLAGS", "build_request", "status_url_from", "split_status_header", "main"]

#: Flag -> request field, in the order the JSON lists them.
FLAGS: dict[str, str] = {
    "--subscription-id": "subscriptionId",
    "--location": "location",
    "--endpoint": "endpoint",
    "--project": "projectName",
    "--operation-id": "operationId",
    "--status-url": "statusUrl",
    "--status-header": "statusHeader",
    "--resource-id": "resourceId",
    "--wait-for": "waitFor",
    "--api-version": "apiVersion",
    "--correlation-id": "correlationId",
    "--context": "context",
    "--timeout": "timeoutSeconds",
    "--expected-seconds": "expectedSeconds",
}
_INT_FLAGS = ("--timeout", "--expected-seconds")
_FLAG_OF = {field: flag for flag, field in FLAGS.items()}
# "Azure-AsyncOperation: https://..." as curl writes it, "< ..." as curl -v does, "'Azure-AsyncOperation': '...'" as a log does.
_HEADER_LINE = re.compile(r"^[<\s]*(['\"]?)(?P<name>[A-Za-z][A-Za-z0-9-]*)\1\s*:\s*(?P<value>.*)$")

#: Flag -> (metavar, help).
_HELP = {
    "--subscription-id": ("ID", "apim, operationalinsights: the subscription id"),
    "--location": ("REGION", "apim, operationalinsights: the region, e.g. westus or 'West US'"),
    "--endpoint": ("URI", "devcenter: the Dev Center URI, https://TENANT-DEVCENTER.REGION.devcenter.azure.com"),
    "--project": ("NAME", "devcenter: the project name"),
    "--operation-id": ("ID", "apim, operationalinsights, devcenter: the operation id"),
    "--status-url": ("URL", "arm, dataplane: the status URL, or the whole header line ('Azure-AsyncOperation: URL', "
                     "'Location: URL', 'Operation-Location: URL')"),
    "--status-header": ("NAME", "arm, dataplane: the header the status URL came from (Azure-AsyncOperation, "
                        "Operation-Location or Location); set by a pasted header line"),
    "--resource-id": ("ID", "arm, instead of --status-url: an ARM resource id (a path: /subscriptions/.../deployments/NAME) "
                      "to watch until its provisioningState is terminal; needs --api-version"),
    "--wait-for": ("STATE", "with --resource-id: provisioned (default) or deleted"),
    "--api-version": ("VERSION", "overrides the source's default api-version (the resource type's, with --resource-id)"),
    "--correlation-id": ("TEXT", "echoed in the result (at most 256 characters)"),
    "--context": ("JSON", "a JSON object, echoed in the result"),
    "--timeout": ("SECONDS", "seconds from the first poll until the outcome is TimedOut (1 to 2592000)"),
    "--expected-seconds": ("SECONDS", "your estimate of the whole duration (1 to 2592000): a scheduling hint"),
}


def split_status_header(value: str) -> tuple[str | None, str]:
    """``(header name or None, URL)`` from the URL itself or a header line naming a status header."""
    from shared.core.errors import InvalidRequest
    from shared.core.sources import STATUS_HEADERS, canonical_status_header

    text = value.strip()
    match = _HEADER_LINE.match(text)
    if match is None or match.group("name").lower() in ("http", "https"):
        return None, text
    name = match.group("name")
    if name.lower() not in {header.lower() for header in STATUS_HEADERS}:
        raise InvalidRequest(
            "statusUrl",
            f"Field 'statusUrl' must be a status URL; got a '{name}' header line. "
            f"The watcher polls the URL named by {', '.join(STATUS_HEADERS[:-1])} or {STATUS_HEADERS[-1]}.",
        )
    return canonical_status_header(name), match.group("value").strip().strip("'\"").strip()


def status_url_from(value: str) -> str:
    """The URL in ``value``: the URL itself, or a status header line holding it."""
    return split_status_header(value)[1]


def _require_utf8(field: str, value: str, *, from_json: bool = False) -> None:
    """A value the shell passed as bytes that are not UTF-8 (or JSON holding a lone surrogate) cannot be sent."""
    from shared.core.errors import InvalidRequest

    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        char = value[error.start]
        if not from_json and 0xDC80 <= ord(char) <= 0xDCFF:  # how Python hands over argv bytes that are not UTF-8
            what = f"the argument holds byte 0x{ord(char) - 0xDC00:02x}, which is not UTF-8"
        else:
            what = f"it holds a lone surrogate U+{ord(char):04X}, which no UTF-8 text can carry"
        raise InvalidRequest(field, f"Field '{field}' is not valid text ({what}, at character {error.start}).") from None


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request object the flags describe (not validated yet)."""
    from shared.core import jsonio
    from shared.core.errors import InvalidRequest
    from shared.core.sources import SOURCES

    request: dict[str, Any] = {}
    header, url = split_status_header(args.status_url) if args.status_url is not None else (None, None)
    source = args.source or (("dataplane" if header == "Operation-Location" else "arm") if url is not None else None)
    if source is None and args.resource_id is not None:
        source = "arm"
    if source is not None:
        request["source"] = source
    if header is not None and args.status_header is None and (source not in SOURCES or header != SOURCES[source].status_header):
        args.status_header = header  # the pasted line names the header; the source's default is left implicit
    for flag, field in FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if isinstance(value, str):
            _require_utf8(field, value)
        if field == "statusUrl":
            value = url
        elif field == "context":
            try:
                value = jsonio.loads(value)
            except ValueError as error:
                raise InvalidRequest("context", f"Field 'context' must be a JSON object; --context is not JSON ({error}).") from None
            _require_utf8(field, json.dumps(value, ensure_ascii=False), from_json=True)
        request[field] = value
    return request


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.enqueue",
        description="Validate a watch request exactly as the function does and put it on the operations queue.",
        epilog="Exit codes: 0 enqueued (or printed with --dry-run), 1 the queue could not be written, "
        "2 invalid request or settings (nothing sent), 130 / 143 interrupted by SIGINT / SIGTERM (one line says whether "
        "the request may have been sent).",
    )
    from shared.core.sources import SOURCE_NAMES

    parser.add_argument("--source", choices=SOURCE_NAMES,
                        help="which status API to poll (default: arm with --status-url or --resource-id)")
    for flag in FLAGS:
        metavar, text = _HELP[flag]
        parser.add_argument(flag, type=int if flag in _INT_FLAGS else str, metavar=metavar, help=text)
    parser.add_argument("--base64", action="store_true", help="send the base64 of the JSON (the watcher reads both)")
    parser.add_argument("--dry-run", action="store_true", help="print the message text and send nothing")
    add_storage_arguments(parser, "--operations-queue", "OPERATIONS_QUEUE")
    parser.set_defaults(interrupted_note=lambda args: args.progress, progress="stopped; nothing was enqueued")
    return parser


def _invalid(error: Any, source: object, origin: SettingsOrigin) -> CliError:
    """The request's error, its flag, and for a refused host the setting that decides and how to change it."""
    flag = _FLAG_OF.get(error.field)
    hint = host_refusal(error, source, origin)
    return CliError(f"invalid request: {error.reason}" + (f" (flag {flag})" if flag else "") + (f" {hint}" if hint else ""),
                    EXIT_USAGE)


def _enqueue(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from shared.core import jsonio
    from shared.core.errors import InvalidRequest
    from shared.core.request_parser import RequestParser

    settings = tool_settings(args, env)
    request: dict[str, Any] = {}
    try:
        request = build_request(args)
        text = jsonio.dumps(request)
        content = base64.b64encode(text.encode("utf-8")).decode("ascii") if args.base64 else text
        RequestParser(settings).parse(content, datetime.now(UTC))  # exactly what will be sent
    except InvalidRequest as error:
        raise _invalid(error, request.get("source"), settings_origin(args, env)) from None
    if args.dry_run:
        print(content, file=out)
        return EXIT_OK
    from shared.edges.queues import NEVER_EXPIRES

    queue = queue_client(args, env, settings.operations_queue)
    args.progress = (f"stopped while the request was being sent: it may or may not be on {settings.operations_queue} "
                     "(no 'enqueued message' line was printed)")
    sent = queue.send_message(content, time_to_live=NEVER_EXPIRES)
    print(f"enqueued message {sent.id} on queue {settings.operations_queue}" + (" (base64)" if args.base64 else ""), file=out)
    print(text, file=out)
    return EXIT_OK


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    return tool_main(build_parser(), _enqueue, argv, environ, out)


if __name__ == "__main__":
    sys.exit(main())
