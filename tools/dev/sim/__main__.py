"""Loopback fakes of every Azure endpoint lro-watcher talks to, speaking the real wire formats.

One ThreadingHTTPServer (stdlib only) plays:

* ARM status reads: ``GET /subscriptions/{sub}/providers/{namespace}/locations/{location}/operationStatuses/{id}``
  (Microsoft.ApiManagement -> apim body, Microsoft.OperationalInsights -> operationalinsights body) and any other
  ``/subscriptions/...`` path whose last segment is a scripted operation id (generic ``arm`` body).
  Bearer token for the ARM audience (``https://management.azure.com`` or the simulator's own base URL).
* devcenter: ``GET /projects/{project}/operationstatuses/{id}``, audience ``https://devcenter.azure.com``,
  errors carry ``x-ms-error-code``.
* a generic Azure.Core data plane (Operation-Location): ``GET /{any/path}/operations/{id}``, audience
  ``https://cognitiveservices.azure.com``, body ``{id, status, error?, ...}``, errors carry ``x-ms-error-code``.
* Location polling (any of the status routes above): script ``{"http": 202}`` while running (``"headers":
  {"Location": URL}`` moves it; a relative URL is fine), then ``{"http": 204}``, ``{"http": 200, "body": {...}}``
  or ``{"http": 400, "error": {...}}``; script the operation with ``"style": "location"`` so that injected
  faults are Location-shaped (a 202, slow or not) instead of broken status bodies.
* ARM resources and deployments (``tools/sim/resources.py``), scripted by id (any case): each GET answers the
  next step (``{"state": S}`` -> 200 with ``properties.provisioningState``; ``{"http": 404}`` before creation or
  after deletion), and PUT / PATCH / POST / DELETE answer as scripted (``"answers": {"PUT": {"style": "aao" |
  "location" | "none", "http": N, "state": S, "operationSteps": [...]}}``: an Azure-AsyncOperation or Location
  header naming a scripted operation, a 201 with only a provisioningState, a synchronous 200, or a 409 error).
* Managed identity, App Service flavour: ``GET /msi/token?api-version=2019-08-01&resource=...`` with
  ``X-IDENTITY-HEADER`` (what azure-identity uses when IDENTITY_ENDPOINT/IDENTITY_HEADER are set).
* Event Grid topic: ``POST /eventgrid/api/events?api-version=2018-01-01``, CloudEvents 1.0 batch,
  ``aeg-sas-key`` (when the simulator has a key) or a bearer token for ``https://eventgrid.azure.net``.
* Azure DevOps (an agentless job's plan, ``tools/sim/azdo.py``): ``POST /{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/events``
  (TaskCompleted) and ``.../timelines/{timeline}/records/{job}/feed`` (live log lines), Basic auth; ``sim.plan_url()``
  is a ``PlanUrl``; ``sim.azdo`` records what arrived (never the token) and can answer 401 or 500 next.
* Control plane ``/_sim/...``: script operations, inspect requests/events, inject faults, reset.

Python::

    with Simulator() as sim:
        sim.script("op-1", [{"status": "InProgress", "times": 2}, {"status": "Succeeded"}])
        ...
        sim.polls("op-1"); sim.requests(); sim.events()

CLI: ``python -m tools.simulator [--host H] [--port P] [--eventgrid-key K]`` prints one JSON line
``{"baseUrl", "identityEndpoint", "identityHeader", "eventgridEndpoint"}`` and serves until SIGINT/SIGTERM
(then exits 130/143 with one line saying so, as every long-running tool).

Steps (one consumed per status read; ``"times": N`` repeats a step; the last step repeats forever):

* ``{"status": S, "percentComplete", "retryAfter", "retryAfterMs", "error", "properties", "resourceId",
  "startTime", "endTime", "extra": {field: value-or-None}, "headers": {...}}`` -> 200 with the route's body
* ``{"http": N, "error": {...}, "body": <any JSON>, "retryAfter", "headers"}`` -> N with the route's error body
  (or exactly ``body``); 2xx/3xx without ``body`` answer an empty body; 200 needs a ``body``
* ``{"fault": "reset" | "slow" (+"seconds") | "malformed" | "nostatus"}``
* ``{"redirect": URL}`` -> 302 with Location
* ``{"runFor": S, "progress": bool, "startedAgo": S0, "status": "InProgress", "retryAfter"}`` -> 200 with
  ``status``, a ``startTime`` and (with ``progress``) ``percentComplete`` growing linearly, until S
  seconds of wall clock after the operation was scripted (minus S0); then the next step
* any step may add the hostile lane's keys (``tools/dev/sim/hostile.py``): ``"raw": {field: "<JSON text>"}``
  (``1e999``, ``NaN``, 100,000 nested arrays: what json.dumps cannot write), ``"echo": true`` (``{{authorization}}``,
  ``{{authorization.url}}``, ``{{token}}``, ``{{token.prefix}}`` in the body become the request's credentials) and
  ``"drip": S`` (the body trickled over S seconds)

Python API (all thread-safe): ``start() / stop()`` (or ``with``), ``base_url``, ``port``, ``identity_endpoint``,
``identity_header``, ``eventgrid_endpoint``, ``info()``; ``script(id, steps)``, ``script_many([{operationId, steps}])``;
``requests(operation_id=None, route=None, since=None)``, ``events()``, ``polls(id)``, ``operation(id)``;
``set_faults(rate, kinds, seed=0)``, ``eventgrid_fail_next(n, status=503)``, ``reset()``, ``revoke_tokens()``,
``issue_token(audience, client_id=None)``, ``wait_for_events(n, timeout)``, ``wait_for_polls(id, n, timeout)``.
``script_resource(id, steps, answers)``, ``script_resources([...])``, ``resource(id)`` (reads, writes, lastState).
HTTP control plane: ``POST /_sim/resources`` (object or list of ``{resourceId, steps, answers}``),
``GET /_sim/resources?resourceId=``, ``POST /_sim/operations`` (object or list of ``{operationId, steps, style?, faults?}``;
``"faults": false`` keeps injected faults off that operation), ``GET /_sim/operations/{id}``,
``GET /_sim/requests[?operationId=&route=&since=]``, ``GET /_sim/events``, ``POST /_sim/faults``,
``POST /_sim/eventgrid/fail``, ``GET /_sim/azdo[?planId=&kind=]``, ``POST /_sim/azdo/answers`` (``{planId, statuses, refuse?}`` or a list of them),
``POST /_sim/eventgrid/echo`` (correlationIds whose first publish is refused with a body quoting the key or token),
``POST /_sim/reset``, ``POST /_sim/tokens/revoke``, ``GET /_sim/tokens`` (every token issued: for leak scans), ``GET /_sim/info``.

Each request record: ``method, path`` (raw, as received), ``query`` (dict), ``rawQuery, host, audience``
(from the token; for /msi/token the resource asked for), ``authMode`` ("bearer", "key", "identity-header" or None),
``status`` (None while unanswered or when the connection was reset), ``operationId``, ``route`` ("apim",
"operationalinsights", "arm", "devcenter", "dataplane", "msi", "eventgrid", "unknown"), ``fault``, ``seq``. No secrets.
Events are the accepted CloudEvents with an added ``authMode`` key; a batch that is not strict JSON
(``NaN``, ``Infinity``, ``1e999``) is refused with 400, as Event Grid does. ``reset()`` keeps issued tokens valid.

``set_faults(rate, kinds, seed)`` injects faults ("429", "500", "503", "slow", "reset", "malformed",
"nostatus", "404early") into status reads of scripted operations without consuming steps; the choice is a
pure function of (seed, operation id, read number), so it does not depend on thread timing.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from tools.dev.sim import (
    ARM_AUDIENCE,
    DATAPLANE_AUDIENCE,
    DEVCENTER_AUDIENCE,
    EVENTGRID_AUDIENCE,
    EVENTGRID_CONTENT_TYPE,
    INJECTABLE_FAULTS,
    MSI_API_VERSION,
    SCRIPT_FAULTS,
    ScriptError,
    Simulator,
)
from tools.ops._cli import interrupted_line

__all__ = [
    "Simulator", "ScriptError", "INJECTABLE_FAULTS", "SCRIPT_FAULTS", "EVENTGRID_CONTENT_TYPE", "MSI_API_VERSION",
    "ARM_AUDIENCE", "DEVCENTER_AUDIENCE", "DATAPLANE_AUDIENCE", "EVENTGRID_AUDIENCE", "main",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.simulator",
                                     description="Serve loopback fakes of ARM, devcenter, MSI and Event Grid.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--eventgrid-key", default=None, help="require this aeg-sas-key (else Entra bearer tokens)")
    parser.add_argument("--identity-header", default="sim-identity-header")
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=None, help="keep only the newest N request records")
    args = parser.parse_args(argv)
    if not 0 <= args.port < 65536:
        parser.error(f"--port must be 0 to 65535, got {args.port}")

    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    sim = Simulator(args.host, args.port, eventgrid_key=args.eventgrid_key,
                    identity_header=args.identity_header, slow_seconds=args.slow_seconds,
                    max_requests=args.max_requests)
    try:
        sim.start()
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(sim.info()), flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
    if signals:  # stopped as it is meant to be, but by a signal: never 0, as every long-running tool
        print(interrupted_line(signals[0], "the simulator is stopped (its scripts and records were in memory only)"),
              file=sys.stderr, flush=True)
        return 128 + signals[0]
    return 0


if __name__ == "__main__":
    sys.exit(main())
