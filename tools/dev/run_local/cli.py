"""Entry points: run() (in-process), main() (``python -m tools.run_local``), logging setup, signals."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from tools.dev.run_local.common import DEFAULT_LEASE_SECONDS, EXIT_CONFIG, EXIT_ERROR, RunLocalError, log
from tools.dev.run_local.host import LocalHost
from tools.dev.run_local.options import QueueOptions
from tools.dev.run_local.settings import resolve_settings
from tools.ops._cli import interrupted_line
from tools.ops.hints import plain

__all__ = ["configure_logging", "main", "run"]


def run(
    app_module: str = "function_app",
    environ: Mapping[str, str] | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    host_json: str | os.PathLike[str] | None = None,
    local_settings: str | os.PathLike[str] | None = None,
    function_name: str | None = None,
    drain: bool = True,
    max_seconds: float | None = None,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    export_environ: bool = True,
    http_port: int | None = None,
) -> int:
    """Load settings, host.json and the app as ``python -m tools.run_local`` does, run, return the exit code.

    ``environ`` defaults to ``os.environ``; ``project_dir`` (default: the current
    directory) is where host.json and local.settings.json are looked up.
    """
    project = Path(project_dir or os.getcwd())
    try:
        settings = resolve_settings(environ, local_settings=local_settings, project_dir=project)
        options = QueueOptions.load(host_json or project / "host.json")
        host = LocalHost.from_app(
            app_module, settings, options, function_name=function_name, project_dir=project,
            drain=drain, max_seconds=max_seconds, lease_seconds=lease_seconds, export_environ=export_environ,
            http_port=http_port,
        )
    except RunLocalError as error:
        log.error("%s", error)
        return EXIT_CONFIG
    try:
        return host.run()
    except BaseException:  # Ctrl-C, or the caller's SIGTERM handler: stop receiving, then let the caller see it
        host.stop()
        raise


class _NoAuthLevelNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Auth level is not applied" not in record.getMessage()


def configure_logging(verbose: bool = False) -> None:
    """Clean stderr logging: ``12:00:00.123 INFO run_local: ...``, redacted; libraries (httpx, azure) only on warnings.

    The app's own start-up (``shared.runtime``) applies its ``LOG_LEVEL`` to the same handler later.
    """
    from shared.edges import logs

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(_NoAuthLevelNoise())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logs.configure_logging(None)  # the redacting filter on this handler; httpx, httpcore, azure, msal at WARNING
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def _bad_flag(args: argparse.Namespace) -> str | None:
    """The first flag whose value cannot work, said in one line; None when all can.

    A path given on the command line must exist (only the defaults may be missing: no
    local.settings.json, or host.json's defaults when there is no host.json).
    """
    if args.max_seconds is not None and not (math.isfinite(args.max_seconds) and args.max_seconds > 0):
        return f"--max-seconds must be more than 0 seconds, got {plain(args.max_seconds)}"
    if args.lease_seconds < 1:
        return f"--lease-seconds must be at least 1, got {args.lease_seconds}"
    if args.http_port is not None and not 0 <= args.http_port < 65536:
        return f"--http-port must be a port number (0 to 65535), got {args.http_port}"
    if args.local_settings is not None and args.no_local_settings:
        return f"--local-settings {args.local_settings} and --no-local-settings contradict each other: give one"
    if not Path(args.project_dir).is_dir():
        return f"--project-dir {args.project_dir}: no such directory"
    for flag, path in (("--host-json", args.host_json), ("--local-settings", args.local_settings)):
        if path is not None and not Path(path).is_file():
            return f"{flag} {path}: no such file"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.run_local",
        description="Run the app's queue-triggered function against AzureWebJobsStorage "
        "with host.json's queue semantics (no Core Tools needed).",
    )
    parser.add_argument("--app", default="function_app", help="app module to import (default: function_app)")
    parser.add_argument("--function", dest="function_name", help="the queue-triggered function, if the app has several")
    parser.add_argument("--project-dir", default=".", help="where host.json and local.settings.json are (default: .)")
    parser.add_argument("--host-json", help="host.json to use (default: PROJECT_DIR/host.json)")
    parser.add_argument("--local-settings", help="local.settings.json to use, which must exist "
                        "(default: PROJECT_DIR/local.settings.json when it exists)")
    parser.add_argument("--no-local-settings", action="store_true", help="read no local.settings.json, only the environment")
    parser.add_argument("--drain", action="store_true",
                        help="exit 0 once the queue holds no message (visible or delayed) and nothing is in flight")
    parser.add_argument("--max-seconds", type=float, help="give up after this many seconds (exit code 3)")
    parser.add_argument("--lease-seconds", type=int, default=DEFAULT_LEASE_SECONDS,
                        help=f"invisibility of a message being processed, renewed at half-time (default {DEFAULT_LEASE_SECONDS})")
    parser.add_argument("--http-port", type=int, metavar="PORT",
                        help="also serve the app's HTTP functions on http://127.0.0.1:PORT/api/{route}, as func start "
                             "does on 7071 (0: any free port, logged)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (one line per invocation)")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    problem = _bad_flag(args)
    if problem is not None:
        log.error("%s", problem)
        return EXIT_CONFIG

    project = Path(args.project_dir).resolve()
    try:
        settings = resolve_settings(os.environ, local_settings=args.local_settings, project_dir=project,
                                    no_local_settings=args.no_local_settings)
        # Like Core Tools: the function's process sees local.settings.json's values as environment.
        os.environ.update(settings)
        options = QueueOptions.load(args.host_json or project / "host.json")
        host = LocalHost.from_app(
            args.app, settings, options, function_name=args.function_name, project_dir=project,
            drain=args.drain, max_seconds=args.max_seconds, lease_seconds=args.lease_seconds,
            http_port=args.http_port,
        )
    except RunLocalError as error:
        log.error("%s", error)
        return EXIT_CONFIG

    signals_seen: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            log.info("%s: stopping (in-flight invocations finish; again to force)", signal.Signals(signum).name)
            host.stop()
        else:
            log.warning("forced exit; leased messages come back after %ds", host.lease_seconds)
            logging.shutdown()
            os._exit(EXIT_ERROR)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = host.run()
    if signals_seen:
        # Stopped by a signal, not finished: never 0, so a cancelled pipeline step cannot pass.
        code = 128 + signals_seen[0]
        log.info("%s", interrupted_line(signals_seen[0], "in-flight invocations finished; the messages not yet taken "
                                        "stay on the queue (a leased one comes back when its lease ends)"))
    if host.in_flight:
        # Stuck invocations would keep the interpreter alive (worker threads are joined at exit).
        logging.shutdown()
        os._exit(code or EXIT_ERROR)
    return code
