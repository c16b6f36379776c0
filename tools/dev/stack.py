"""The local stack in one command: Azurite (queue and blob) and the Azure simulator, until Ctrl-C.

::

    python -m tools.stack --write-local-settings     # start; write local.settings.json for run_local / func start
    python -m tools.stack script OP-ID '[{"status": "InProgress"}, {"status": "Succeeded"}]'   # script an operation
    python -m tools.stack resource /subscriptions/.../deployments/main '[{"http": 404}, {"state": "Succeeded"}]'  # a resource

``up`` (the default) starts:

* Azurite's queue service (the watcher's queues) and blob service (the Functions host's
  locks, which ``func start`` needs), on ``--queue-port`` 10001 and ``--blob-port`` 10000
  (Azurite's defaults; 0 picks free ports), with ``--skipApiVersionCheck`` (the Storage SDK
  speaks a newer API version than Azurite knows), ``--loose``, telemetry off, and every
  file Azurite writes (its database, ``AzuriteConfig``) under ``--location`` (``.azurite/``,
  ignored by git);
* the simulator (``tools.simulator``): loopback ARM, Dev Center, a data-plane service, the
  managed-identity endpoint and an Event Grid topic, on ``--sim-port`` 10090 (fixed, so a
  restarted stack is where ``local.settings.json`` says it is; 0 picks a free port);
* the watcher's three queues (operations, results, poison), as the Bicep creates them in Azure,
  so a request enqueued before ``run_local`` starts waits on its queue.

It prints the settings that point the function at them (as ``export`` lines, or PowerShell
``$env:`` lines with ``--shell powershell``), and with ``--write-local-settings`` writes them
into ``local.settings.json``: a new file is ``local.settings.example.json`` with them filled
in; in an existing file only the stack's own keys (those it prints) are rewritten and
every other value of the user's is kept (``--force`` starts again from the example). It says
what to run next, and records where everything listens in ``{location}/stack.json`` for
``python -m tools.stack script`` and ``events`` (a stack that fails to start leaves a running
stack's file alone). A line ``stack ready`` on stdout tells scripts it is up. Ctrl-C (or
SIGTERM) stops all of it.

Exit codes: 130 / 143 stopped by SIGINT (Ctrl-C) / SIGTERM, as it is meant to be stopped (a
shell's convention for a process a signal ended), 1 something could not start or died, 2 bad flags.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from tools.dev.azurite import Azurite, AzuriteError, connection_string_for
from tools.ops._cli import interrupted_line

__all__ = ["stack_settings", "local_settings_document", "main"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "local.settings.example.json"
STATE_FILE = "stack.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The simulator's default port: fixed, like Azurite's, so a restart keeps every URL the settings hold.
SIM_PORT = 10090
#: The data-plane service the simulator plays, with its token scope (the stack's DATAPLANE_HOSTS).
DATAPLANE_SCOPE = "https://cognitiveservices.azure.com/.default"


def stack_settings(queue_port: int, blob_port: int, sim: Any) -> dict[str, str]:
    """The app settings that point the function (and the tools) at this stack."""
    return {
        "AzureWebJobsStorage": connection_string_for(queue_port, blob_port=blob_port),
        "OPERATIONS_QUEUE": "operations",
        "RESULTS_QUEUE": "operation-results",
        # ARM and Dev Center are the simulator; ARM_SCOPE follows ARM_ENDPOINT.
        "ARM_ENDPOINT": sim.base_url,
        "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
        # azure-identity's ManagedIdentityCredential asks the simulator's identity endpoint for tokens.
        "IDENTITY_ENDPOINT": sim.identity_endpoint,
        "IDENTITY_HEADER": sim.identity_header,
        "POLL_MIN_DELAY_SECONDS": "1",
        "POLL_MAX_DELAY_SECONDS": "5",
        # dataplane requests may name the simulator's host (its generic data-plane routes).
        "DATAPLANE_HOSTS": f"127.0.0.1:{sim.port}={DATAPLANE_SCOPE}",
        # Outcomes to the results queue and, as CloudEvents, to the simulator's Event Grid topic.
        "RESULT_SINK": "both",
        "EVENTGRID_TOPIC_ENDPOINT": sim.eventgrid_endpoint,
    }


def local_settings_document(settings: Mapping[str, str], example: Path = EXAMPLE) -> dict[str, Any]:
    """local.settings.example.json with the stack's settings filled in."""
    document = json.loads(example.read_text(encoding="utf-8"))
    document["Values"] = {**document.get("Values", {}), **settings}
    return document


def export_lines(settings: Mapping[str, str], shell: str) -> list[str]:
    if shell == "powershell":
        return [f"$env:{name} = '{value.replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()]
    if shell == "cmd":
        return [f'set "{name}={value}"' for name, value in settings.items()]
    return [f"export {name}='{value}'" for name, value in settings.items()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("up", help="start Azurite and the simulator (the default)")
    script = sub.add_parser("script", help="script an operation on the running stack's simulator")
    script.add_argument("operation_id", metavar="OPERATION_ID")
    script.add_argument("steps", metavar="STEPS_JSON", help='a JSON list of steps, e.g. \'[{"status": "Succeeded"}]\'')
    events = sub.add_parser("events", help="the CloudEvents the running stack's Event Grid topic received, one a line")
    events.add_argument("--json", action="store_true", help="print them as a JSON array")
    resource = sub.add_parser("resource", help="script an ARM resource or deployment on the running stack's simulator")
    resource.add_argument("resource_id", metavar="RESOURCE_ID")
    resource.add_argument("steps", metavar="STEPS_JSON",
                          help='a JSON list of GET answers, e.g. \'[{"http": 404}, {"state": "Running"}, {"state": "Succeeded"}]\'')
    for each in (parser, up, script, resource, events):
        each.add_argument("--location", default=".azurite", help="Azurite's files and stack.json (default: .azurite)")
    for each in (parser, up):
        each.add_argument("--queue-port", type=int, default=10001, help="Azurite queue port (default 10001; 0: a free one)")
        each.add_argument("--blob-port", type=int, default=10000, help="Azurite blob port (default 10000; 0: a free one)")
        each.add_argument("--sim-port", type=int, default=SIM_PORT,
                          help=f"simulator port (default {SIM_PORT}, fixed so a restart keeps local.settings.json's URLs; 0: a free one)")
        each.add_argument("--write-local-settings", nargs="?", const="local.settings.json", metavar="PATH",
                          help="write the settings into PATH (default local.settings.json) from local.settings.example.json")
        each.add_argument("--force", action="store_true",
                          help="with --write-local-settings: write the file afresh from the example (default: rewrite "
                          "only the stack's keys in an existing file, keeping the others)")
        each.add_argument("--shell", choices=("posix", "powershell", "cmd"),
                          default="powershell" if os.name == "nt" else "posix", help="how to print the settings")
    return parser


def _state(args: argparse.Namespace) -> dict[str, Any] | None:
    """The running stack's stack.json, or None (with one line on stderr) when there is none."""
    state_path = Path(args.location) / STATE_FILE
    try:
        return json.loads(state_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        print(f"error: {state_path} not found: is `python -m tools.stack` running in this directory?", file=sys.stderr)
    except ValueError as error:
        print(f"error: {state_path} is not JSON ({error}): restart the stack", file=sys.stderr)
    return None


def _events(args: argparse.Namespace, out: IO[str]) -> int:
    state = _state(args)
    if state is None:
        return EXIT_USAGE
    try:
        with urllib.request.urlopen(f"{state['simulator']}/_sim/events", timeout=10) as response:  # noqa: S310 - loopback
            events = json.loads(response.read())
    except (OSError, ValueError) as error:
        print(f"error: the simulator at {state['simulator']} did not answer ({error}): is the stack running?", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(events, indent=2), file=out)
        return EXIT_OK
    if not events:
        print("no events yet (the stack sends outcomes to Event Grid with RESULT_SINK=both)", file=out)
    for event in events:
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        print(f"{event.get('type')}  {event.get('subject')}  outcome={data.get('outcome', '-')} "
              f"correlationId={data.get('correlationId') or '-'}  id={event.get('id')}", file=out)
    return EXIT_OK


def _script(args: argparse.Namespace, out: IO[str]) -> int:
    state = _state(args)
    if state is None:
        return EXIT_USAGE
    try:
        steps = json.loads(args.steps)
    except ValueError as error:
        print(f"error: STEPS_JSON is not JSON ({error})", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "resource":
        name, route = args.resource_id, "resources"
        body = json.dumps({"resourceId": args.resource_id, "steps": steps}).encode("utf-8")
    else:
        name, route = args.operation_id, "operations"
        body = json.dumps({"operationId": args.operation_id, "steps": steps}).encode("utf-8")
    request = urllib.request.Request(f"{state['simulator']}/_sim/{route}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback simulator only
            response.read()
    except urllib.error.HTTPError as error:
        print(f"error: the simulator refused the script: {error.read().decode('utf-8', 'replace')[:300]}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: the simulator at {state['simulator']} did not answer ({error}): is the stack running?", file=sys.stderr)
        return EXIT_FAILED
    print(f"scripted {name}: {len(steps) if isinstance(steps, list) else 1} step(s)", file=out)
    return EXIT_OK


def write_local_settings(path: Path, settings: Mapping[str, str], force: bool) -> str:
    """Write the stack's settings into ``path``; an existing file keeps every value that is not the stack's."""
    if not path.exists() or force:
        path.write_text(json.dumps(local_settings_document(settings), indent=2) + "\n", encoding="utf-8")
        return f"wrote {path} (local.settings.example.json with the settings above)"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("Values", {}), dict):
            raise ValueError("its Values is not an object")
    except ValueError as error:
        return f"warning: {path} was left as it is: it is not a local.settings.json ({error}); --force writes it afresh"
    values = document.setdefault("Values", {})
    changed = sorted(key for key, value in settings.items() if values.get(key) != value)
    kept = [key for key in values if key not in settings]
    values.update(settings)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    what = f"rewrote the stack's settings in {path}" + (f" ({', '.join(changed)} changed)" if changed else " (unchanged)")
    return what + (f"; kept your other {len(kept)} value(s)" if kept else "")


def _announce(out: IO[str], settings: Mapping[str, str], parts: dict[str, Any], args: argparse.Namespace, note: str) -> None:
    queue, blob, sim, location = parts["queue"], parts["blob"], parts["sim"], parts["location"]
    activate = r".venv\Scripts\activate" if os.name == "nt" else "source .venv/bin/activate"
    lines = [
        "lro-watcher local stack (Ctrl-C stops all of it):",
        f"  Azurite queue  {queue.queue_endpoint}",
        f"  Azurite blob   http://{blob.host}:{blob.port}/devstoreaccount1   (files in {location})",
        f"  simulator      {sim.base_url}   (script operations: python -m tools.stack script OP-ID STEPS_JSON)",
        "",
        "settings (for a shell that runs the function or the tools):",
        *(f"  {line}" for line in export_lines(settings, args.shell)),
        "",
        *([note, ""] if note else []),
        f"next, in another terminal ({activate} first):",
        "  python -m tools.run_local      # the function, with host.json's queue semantics (reads local.settings.json)",
        "  func start                     # or Azure Functions Core Tools, where installed (reads local.settings.json)",
        "stack ready",
    ]
    print("\n".join(lines), file=out, flush=True)


def _one_line(error: BaseException, args: argparse.Namespace, part: str) -> str:
    text = str(error)
    in_use = "EADDRINUSE" in text or (isinstance(error, OSError) and error.errno == errno.EADDRINUSE)
    if in_use and part == "simulator":
        return (f"the simulator's port {args.sim_port} is in use (another stack? it keeps running); stop it, "
                "or pass --sim-port 0 for a free port")
    if in_use:
        port = next((p for p in (args.queue_port, args.blob_port) if f":{p}" in text), None)
        which = f"port {port} is" if port is not None else "a port is"
        return (f"{which} in use (another stack or Azurite? it keeps running); stop it, or pass "
                "--queue-port 0 --blob-port 0 for free ports")
    return text.splitlines()[0] if text else type(error).__name__


def _create_queues(settings: Mapping[str, str]) -> None:
    """The operations, results and poison queues, created before ``stack ready`` as the Bicep does in Azure:
    a request enqueued at once finds its queue, whether run_local has started yet or not."""
    from shared.core.settings import load_settings
    from shared.core.storage_connection import storage_connection_from_environ
    from shared.edges.queues import ensure_queues, queue_names
    from shared.edges.storage import queue_service_client

    try:
        service = queue_service_client(storage_connection_from_environ(settings))
        ensure_queues(service, queue_names(load_settings(settings)))
    except Exception as error:  # noqa: BLE001 - any storage error: one line, the stack stops
        raise OSError(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None


def _up(args: argparse.Namespace, out: IO[str]) -> int:
    from tools.dev.sim import Simulator

    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    location = Path(args.location).resolve()
    queue = Azurite(location=location, port=args.queue_port)
    blob = Azurite(location=location, port=args.blob_port, service="blob")
    sim = Simulator(port=args.sim_port)
    started: list[Any] = []
    starting = "Azurite"
    wrote_state = False  # only the stack that wrote stack.json removes it: a failed second start leaves the first's
    try:
        for name, part in (("Azurite", queue), ("Azurite", blob), ("simulator", sim)):
            starting = name
            part.start()
            started.append(part)
        settings = stack_settings(queue.port, blob.port, sim)
        starting = "the queues"
        _create_queues(settings)
        (location / STATE_FILE).write_text(json.dumps({"simulator": sim.base_url, "settings": settings}, indent=2) + "\n",
                                           encoding="utf-8")
        wrote_state = True
        note = write_local_settings(Path(args.write_local_settings), settings, args.force) if args.write_local_settings else ""
        _announce(out, settings, {"queue": queue, "blob": blob, "sim": sim, "location": location}, args, note)
        while not stop.wait(0.5):
            dead = [name for name, part in (("Azurite queue", queue), ("Azurite blob", blob)) if not part.running]
            if dead:
                print(f"error: {', '.join(dead)} exited:\n{queue.output_tail() or blob.output_tail()}", file=sys.stderr)
                return EXIT_FAILED
        return 128 + signals[0] if signals else EXIT_OK
    except (AzuriteError, OSError) as error:
        print(f"error: the stack could not start: {_one_line(error, args, starting)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        for part in reversed(started):
            part.stop()
        if wrote_state:
            (location / STATE_FILE).unlink(missing_ok=True)
        print("stopped Azurite (queue, blob) and the simulator", file=out, flush=True)
        if signals:
            print(interrupted_line(signals[0], "the stack is stopped; its queues' data stays in " + str(location)),
                  file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, out: IO[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    if args.command in ("script", "resource"):
        return _script(args, out)
    if args.command == "events":
        return _events(args, out)
    for name in ("queue_port", "blob_port", "sim_port"):
        if not 0 <= getattr(args, name) < 65536:
            print(f"error: --{name.replace('_', '-')} must be a port number (0 to 65535)", file=sys.stderr)
            return EXIT_USAGE
    return _up(args, out)


if __name__ == "__main__":
    sys.exit(main())
