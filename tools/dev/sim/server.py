"""One loopback ThreadingHTTPServer playing ARM, devcenter, managed identity and Event Grid."""
from __future__ import annotations

import hmac
import json
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from . import shapes
from .azdo import AzureDevOpsFake
from .hostile import EventGridEcho, hostile_answer, strict_loads
from .httpd import JSON_TYPE, Server, Server6
from .httpd import Resp as _Resp
from .httpd import json_response as _json
from .resources import RESOURCE_METHODS, Resource, validate_resource
from .script import (
    Operation,
    ScriptError,
    is_terminal,
    pick_fault,
    validate_faults,
    validate_operation,
)
from .tokens import (
    ARM_AUDIENCE,
    ARM_LEGACY_AUDIENCE,
    DATAPLANE_AUDIENCE,
    DEVCENTER_AUDIENCE,
    EVENTGRID_AUDIENCE,
    SYSTEM_ASSIGNED_CLIENT_ID,
    TokenError,
    TokenIssuer,
    is_own_loopback_audience,
    normalise_audience,
)

MSI_API_VERSION = "2019-08-01"
EVENTGRID_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
EVENTGRID_MAX_BATCH_BYTES = 1024 * 1024


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))



#: What every ARM answer says of the read budget (ARM sends these on every response; a script's
#: step ``headers`` override them): a full bucket, and the region that served the read.
ARM_BUDGET_HEADERS = {
    "x-ms-ratelimit-remaining-subscription-reads": "249",
    "x-ms-ratelimit-remaining-subscription-global-reads": "3749",
    "x-ms-routing-request-id": "WESTUS:20260101T000000Z:00000000-0000-0000-0000-000000000000",
}


def _with_arm_budget(resp: _Resp) -> _Resp:
    present = {name.lower() for name in resp.headers}
    for name, value in ARM_BUDGET_HEADERS.items():
        if name not in present:
            resp.headers[name] = value
    return resp


class Simulator:
    """Loopback fake of every Azure endpoint lro-watcher talks to. Thread-safe; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, eventgrid_key: str | None = None,
                 identity_header: str = "sim-identity-header", slow_seconds: float = 3.0,
                 token_lifetime_seconds: int = 3600, max_requests: int | None = None) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._eventgrid_key = eventgrid_key
        self._identity_header = identity_header
        self._slow_seconds = float(slow_seconds)
        self._tokens = TokenIssuer("sim-msi", token_lifetime_seconds)
        self._cond = threading.Condition(threading.RLock())
        self._ops: dict[str, Operation] = {}
        self._resources: dict[str, Resource] = {}   # lower-cased resource id -> scripted resource
        self._unscripted_polls: Counter[str] = Counter()
        self._requests: deque[dict] = deque(maxlen=max_requests)   # oldest dropped past max_requests
        self._seq = 0
        self._events: list[dict] = []
        self._faults: tuple[float, tuple[str, ...], int] = (0.0, (), 0)
        self._eg_fail: tuple[int, int] = (0, 503)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self.azdo = AzureDevOpsFake()  # Azure Pipelines' plan endpoints (events, feed)
        self.eventgrid_echo = EventGridEcho()  # correlationIds whose first publish is refused quoting the key

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Simulator:
        with self._cond:
            if self._server is not None:
                raise RuntimeError("simulator already started")
            self._stopping.clear()
            server_cls = Server6 if ":" in self._host else Server
            server = server_cls((self._host, self._requested_port), self)
            self._server = server
            self._port = server.server_address[1]
            self._thread = threading.Thread(target=server.serve, name=f"simulator:{self._port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._stopping.set()
            conns = list(self._conns)
        server.close_listener()
        if thread is not None:
            thread.join(timeout=5)
        for conn in conns:      # idle keep-alive connections would otherwise keep being served
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        with self._cond:
            self._server = self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def base_url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self._host, self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        return self.base_url + "/msi/token"

    @property
    def identity_header(self) -> str:
        return self._identity_header

    @property
    def eventgrid_endpoint(self) -> str:
        return self.base_url + "/eventgrid/api/events"

    def plan_url(self, org: str = "contoso") -> str:
        """An Azure Pipelines ``PlanUrl`` ($(System.CollectionUri)) served by :attr:`azdo`: ends with one ``/``."""
        return f"{self.base_url}/{org}/"

    def info(self) -> dict:
        return {"baseUrl": self.base_url, "identityEndpoint": self.identity_endpoint,
                "identityHeader": self.identity_header, "eventgridEndpoint": self.eventgrid_endpoint}

    # ----------------------------------------------------------------- scripting and inspection
    def script(self, operation_id: str, steps: list[dict], style: str = "status") -> None:
        """Script one operation (replacing any earlier script and its counters). Raises ScriptError.

        ``style`` "location" makes injected faults look like a Location URL's (a 202), not a status body's."""
        self._install([validate_operation({"operationId": operation_id, "steps": steps, "style": style})])

    def script_many(self, operations: list[dict]) -> int:
        """Bulk form of script(): a list of {"operationId", "steps"}; all or nothing."""
        if not isinstance(operations, list):
            raise ScriptError("operations must be a list of {operationId, steps} objects")
        items = [validate_operation(item, f"operations[{i}]") for i, item in enumerate(operations)]
        self._install(items)
        return len(items)

    def _install(self, items: list[tuple[str, list[dict], str, bool]]) -> None:
        with self._cond:
            for op_id, steps, style, faults in items:
                key = op_id.lower()
                self._ops[key] = Operation(op_id, steps, style=style, faults=faults)
                self._unscripted_polls.pop(key, None)

    def script_resource(self, resource_id: str, steps: list[dict] | None = None,
                        answers: dict[str, dict] | None = None) -> None:
        """Script one ARM resource or deployment (tools/sim/resources.py): GET steps and write answers."""
        self.script_resources([{"resourceId": resource_id, "steps": steps or [{"state": "Succeeded"}], "answers": answers or {}}])

    def script_resources(self, resources: list[dict]) -> int:
        """Bulk form of script_resource(): a list of {resourceId, steps, answers}; all or nothing."""
        if not isinstance(resources, list):
            raise ScriptError("resources must be a list of {resourceId, steps, answers} objects")
        items = [validate_resource(item, f"resources[{i}]") for i, item in enumerate(resources)]
        with self._cond:
            for resource_id, steps, answers in items:
                self._resources[resource_id.lower()] = Resource(resource_id, steps, answers)
        return len(items)

    def resource(self, resource_id: str) -> dict:
        """A scripted resource's counters: reads (GETs), writes (PUT/PATCH/POST/DELETE), lastState."""
        with self._cond:
            res = self._resources.get(resource_id.lower())
            return res.info() if res is not None else {"resourceId": resource_id, "scripted": False}

    def requests(self, operation_id: str | None = None, route: str | None = None,
                 since: int | None = None) -> list[dict]:
        """Every request received (control plane excluded), in arrival order; optionally filtered by
        operation id (case-insensitive), route, or ``seq >= since`` (an incremental-read cursor)."""
        key = operation_id.lower() if operation_id is not None else None
        with self._cond:
            return [
                {**r, "query": dict(r["query"])} for r in self._requests
                if (key is None or (r["operationId"] or "").lower() == key) and (route is None or r["route"] == route)
                and (since is None or r["seq"] >= since)
            ]

    def events(self) -> list[dict]:
        """Accepted CloudEvents, oldest first, each with an added "authMode" ("key" or "bearer")."""
        with self._cond:
            return json.loads(json.dumps(self._events))

    def polls(self, operation_id: str) -> int:
        """Status requests that arrived for this id (any outcome, auth failures and faults included)."""
        key = operation_id.lower()
        with self._cond:
            op = self._ops.get(key)
            return op.polls if op is not None else self._unscripted_polls.get(key, 0)

    def operation(self, operation_id: str) -> dict:
        key = operation_id.lower()
        with self._cond:
            op = self._ops.get(key)
            if op is not None:
                return op.info()
            return {"operationId": operation_id, "scripted": False, "polls": self._unscripted_polls.get(key, 0)}

    def set_faults(self, rate: float, kinds: list[str], seed: int = 0) -> None:
        faults = validate_faults(rate, kinds, seed)
        with self._cond:
            self._faults = faults

    def eventgrid_fail_next(self, n: int, status: int = 503) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ScriptError("count must be an integer >= 0")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ScriptError("status must be an HTTP error status 400..599")
        with self._cond:
            self._eg_fail = (n, status)

    def reset(self) -> None:
        """Forget scripts, counters, recorded requests, events, faults and Event Grid failures.
        Tokens already issued stay valid (long-lived clients cache them)."""
        with self._cond:
            self._ops.clear()
            self._resources.clear()
            self._unscripted_polls.clear()
            self._requests.clear()
            self._events.clear()
            self._faults = (0.0, (), 0)
            self._eg_fail = (0, 503)
            self._cond.notify_all()
        self.azdo.reset()
        self.eventgrid_echo.clear()

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid (401), to exercise forced token refresh."""
        self._tokens.revoke_all()

    def tokens(self) -> list[dict]:
        """Every token the MSI endpoint (or :meth:`issue_token`) issued, ``{audience, token}``: what a leak scan looks for."""
        return self._tokens.issued()

    def issue_token(self, audience: str, client_id: str | None = None) -> str:
        """A token as the MSI endpoint would issue it (not recorded as a request)."""
        return self._tokens.issue(audience, client_id)[0]

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._events) >= count, timeout):
                raise TimeoutError(f"{len(self._events)} event(s) after {timeout}s, wanted {count}")
        return self.events()

    def wait_for_polls(self, operation_id: str, count: int, timeout: float = 10.0) -> int:
        with self._cond:
            if not self._cond.wait_for(lambda: self.polls(operation_id) >= count, timeout):
                raise TimeoutError(f"{self.polls(operation_id)} poll(s) of {operation_id} after {timeout}s, wanted {count}")
            return self.polls(operation_id)

    # ----------------------------------------------------------------- connection bookkeeping
    def _register(self, conn: socket.socket) -> bool:
        with self._cond:
            if self._stopping.is_set():
                return False
            self._conns.add(conn)
            return True

    def _unregister(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.discard(conn)

    def _new_record(self, method: str, raw_path: str, raw_query: str, query: dict, host: str | None) -> dict:
        rec = {"method": method, "path": raw_path, "query": query, "rawQuery": raw_query, "host": host,
               "audience": None, "authMode": None, "status": None, "operationId": None,
               "route": "unknown", "fault": None, "seq": None}
        with self._cond:
            rec["seq"] = self._seq
            self._seq += 1
            self._requests.append(rec)
        return rec

    def _finish_record(self, rec: dict, status: int | None) -> None:
        with self._cond:
            rec["status"] = status
            self._cond.notify_all()

    # ----------------------------------------------------------------- routing
    def _serve(self, method: str, raw_path: str, query: dict, headers: Any, body: bytes, rec: dict) -> _Resp:
        decoded = [unquote(s) for s in raw_path.split("/")[1:]]
        low = [s.lower() for s in decoded]
        if AzureDevOpsFake.matches(low):
            return self.azdo.serve(method, low, query, headers, body, rec)
        if low == ["msi", "token"]:
            return self._msi(method, query, headers, rec)
        if low == ["eventgrid", "api", "events"]:
            return self._eventgrid(method, query, headers, body, rec)
        resource, action = self._match_resource(method, raw_path)
        if resource is not None:
            answer = self._resource_request(method, resource, action, query, headers, rec)
            return _with_arm_budget(answer) if method == "GET" else answer
        if len(low) >= 3 and low[0] == "subscriptions" and all(decoded[1:]):
            if len(low) == 8 and low[2] == "providers" and low[4] == "locations" and low[6] == "operationstatuses":
                kind = {"microsoft.apimanagement": "apim",
                        "microsoft.operationalinsights": "operationalinsights"}.get(low[3], "arm")
                route = shapes.StatusRoute(kind, decoded[7], "/".join([""] + decoded), subscription=decoded[1],
                                           namespace=decoded[3], region=decoded[5])
            else:
                route = shapes.StatusRoute("arm", decoded[-1], "/".join([""] + decoded))
            return _with_arm_budget(self._status_read(method, route, query, headers, rec))
        if len(low) == 4 and low[0] == "projects" and low[2] == "operationstatuses" and decoded[1] and decoded[3]:
            route = shapes.StatusRoute("devcenter", decoded[3], "/".join([""] + decoded), project=decoded[1])
            return self._status_read(method, route, query, headers, rec)
        if len(low) >= 2 and low[-2] == "operations" and decoded[-1] and low[0] not in ("_sim", "subscriptions", "projects"):
            route = shapes.StatusRoute("dataplane", decoded[-1], "/".join([""] + decoded))
            return self._status_read(method, route, query, headers, rec)
        return _json(404, shapes.error_response(404, {"code": "NotFound",
                                                      "message": f"No simulated endpoint at {raw_path}."}))

    def _check_bearer(self, headers: Any, audience_ok: Callable[[str], bool], rec: dict) -> tuple[str, str] | None:
        """None when the bearer token is ours, live and for the right audience; else (code, message)."""
        auth = headers.get("Authorization")
        if not auth:
            return "InvalidAuthenticationToken", "The request has no Authorization header with a bearer token."
        scheme, _, token = auth.strip().partition(" ")
        rec["authMode"] = scheme.lower() or None
        if scheme.lower() != "bearer" or not token.strip():
            return "InvalidAuthenticationToken", "The Authorization header must be 'Bearer <token>'."
        try:
            claims = self._tokens.verify(token)
        except TokenError as exc:
            return exc.code, exc.message
        rec["audience"] = claims.get("aud")
        if not audience_ok(str(claims.get("aud"))):
            return ("InvalidAuthenticationToken",
                    f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'.")
        return None

    def _arm_audience(self, aud: str) -> bool:
        norm = normalise_audience(aud)
        return norm in (ARM_AUDIENCE, ARM_LEGACY_AUDIENCE) or is_own_loopback_audience(norm, self.port)

    # ----------------------------------------------------------------- status reads
    def _status_read(self, method: str, route: shapes.StatusRoute, query: dict, headers: Any, rec: dict) -> _Resp:
        devcenter = route.kind in ("devcenter", "dataplane")  # Azure.Core data plane: x-ms-error-code on errors
        rec["route"] = route.kind
        rec["operationId"] = route.operation_id

        def error(status: int, err: dict | None = None, extra: dict | None = None, body: Any = None) -> _Resp:
            payload = shapes.error_response(status, err) if body is None else body
            hdrs = dict(extra or {})
            if devcenter and isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                hdrs.setdefault("x-ms-error-code", str(payload["error"].get("code")))
            return _json(status, payload, hdrs)

        if method != "GET":
            return error(405, {"code": "MethodNotAllowed", "message": f"{method} is not supported here."})
        key = route.operation_id.lower()
        with self._cond:
            op = self._ops.get(key)
            if op is not None:
                op.polls += 1
                read_no = op.polls
            else:
                self._unscripted_polls[key] += 1
            self._cond.notify_all()

        own = {"devcenter": DEVCENTER_AUDIENCE, "dataplane": DATAPLANE_AUDIENCE}.get(route.kind)
        audience_ok = (lambda a: normalise_audience(a) == own) if own is not None else self._arm_audience
        failure = self._check_bearer(headers, audience_ok, rec)
        if failure:
            code, message = failure
            challenge = f'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="{message}"'
            return error(401, {"code": code, "message": message}, {"WWW-Authenticate": challenge})
        if not query.get("api-version"):
            return error(400, {"code": "MissingApiVersionParameter",
                               "message": "The api-version query parameter (?api-version=) is required for all requests."})
        if op is None:
            return error(404, {"code": "NotFound", "message": f"The operation '{route.operation_id}' was not found."})

        now = shapes.rfc3339_now()
        with self._cond:
            rate, kinds, seed = self._faults
            fault = pick_fault(rate, kinds, seed, key, read_no) if op.faults else None
            if op.start_time is None:
                op.start_time = now
            previous = op.last_status
            if fault is not None:
                op.faults_injected += 1
                step: dict = {}
            else:
                step = op.next_step()
                if step["kind"] == "status":
                    op.last_status = step["status"]
                    if is_terminal(step["status"]) and op.end_time is None:
                        op.end_time = now
            start_time, end_time = op.start_time, op.end_time
        name = op.operation_id

        def body_for(status: str | None, source: dict) -> dict:
            terminal_end = end_time if is_terminal(status) else None
            return shapes.status_body(route, name, status, source, source.get("startTime", start_time),
                                      source.get("endTime", terminal_end))

        prev_status = previous if previous is not None else shapes.default_running_status(route)
        if fault is not None:
            rec["fault"] = fault
            if fault in ("429", "500", "503"):
                return error(int(fault), None, {"Retry-After": "1"} if fault == "429" else None)
            if fault == "404early":
                return error(404, {"code": "NotFound", "message": f"The operation '{route.operation_id}' was not found."})
            if op.style == "location":  # a Location URL has no status body to break: the glitch is a (slow) 202
                return _Resp(202, b"", {}, delay=self._slow_seconds if fault == "slow" else 0.0)
            return self._fault_response(fault, body_for, prev_status, self._slow_seconds, {})

        return hostile_answer(self._step_answer(step, body_for, error, prev_status, rec), step, headers)

    def _step_answer(self, step: dict, body_for: Callable, error: Callable, prev_status: str, rec: dict) -> _Resp:
        hdrs = step["_headers"]
        kind = step["kind"]
        if kind == "status":
            return _json(200, body_for(step["status"], step), hdrs)
        if kind == "http":
            code = step["http"]
            if "body" in step:
                return error(code, body=step["body"], extra=hdrs)
            if code >= 400:
                return error(code, step.get("error"), hdrs)
            return _Resp(code, b"", dict(hdrs))
        if kind == "redirect":
            return _Resp(302, b"", {**hdrs, "Location": step["redirect"]})
        rec["fault"] = step["fault"]
        return self._fault_response(step["fault"], body_for, prev_status, step.get("seconds", self._slow_seconds), hdrs)

    @staticmethod
    def _fault_response(fault: str, body_for: Callable, prev_status: str, seconds: float, hdrs: dict) -> _Resp:
        if fault == "reset":
            return _Resp(reset=True)
        if fault == "malformed":
            return _Resp(200, shapes.MALFORMED_BODY, dict(hdrs), JSON_TYPE)
        if fault == "nostatus":
            return _json(200, body_for(None, {}), hdrs)
        resp = _json(200, body_for(prev_status, {}), hdrs)   # slow
        resp.delay = float(seconds)
        return resp

    # ----------------------------------------------------------------- resources and deployments
    def _match_resource(self, method: str, raw_path: str) -> tuple[Resource | None, str | None]:
        """The scripted resource at ``raw_path`` (any case), or the one a POST action path is under."""
        key = unquote(raw_path).lower()
        with self._cond:
            if not self._resources:
                return None, None
            found = self._resources.get(key)
            if found is not None:
                return found, None
            if method == "POST":
                head, _, action = key.rpartition("/")
                found = self._resources.get(head)
                if found is not None:
                    return found, action
        return None, None

    def _resource_request(self, method: str, res: Resource, action: str | None, query: dict, headers: Any,
                          rec: dict) -> _Resp:
        rec["route"] = "resource"
        rec["operationId"] = res.name
        failure = self._check_bearer(headers, self._arm_audience, rec)
        if failure:
            code, message = failure
            return _json(401, shapes.error_response(401, {"code": code, "message": message}),
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        api_version = query.get("api-version")
        if not api_version:
            return _json(400, shapes.error_response(400, {"code": "MissingApiVersionParameter",
                                                          "message": "The api-version query parameter (?api-version=) is required for all requests."}))
        if method == "GET" and action is None:
            return self._resource_read(res, rec)
        if method not in RESOURCE_METHODS:
            return _json(405, shapes.error_response(405, {"code": "MethodNotAllowed", "message": f"{method} is not supported here."}))
        with self._cond:
            res.writes += 1
            serial = res.writes
            answer = res.answers.get(method)
        if answer is None:
            return _json(405, shapes.error_response(405, {"code": "NotScripted",
                                                          "message": f"The simulator has no {method} answer scripted for this resource."}))
        code = answer["http"]
        if code >= 400:
            error = answer.get("error") or {"code": "Conflict", "message": f"The {method} was refused."}
            return _json(code, {"error": error})
        hdrs: dict[str, str] = dict(answer.get("headers", {}))
        if "retryAfter" in answer:
            hdrs["Retry-After"] = str(answer["retryAfter"])
        style = answer["style"]
        with_body = method in ("PUT", "PATCH")
        if style in ("aao", "location"):
            op_id = f"{res.name}-{method.lower()}-{serial}"
            kind = "operationStatuses" if style == "aao" else "operationResults"
            url = (f"{self.base_url}/subscriptions/{res.subscription}/providers/{res.namespace}/locations/westus/"
                   f"{kind}/{op_id}?api-version={api_version}")
            self._install([(op_id, answer["operationSteps"], "status" if style == "aao" else "location", True)])
            hdrs["Azure-AsyncOperation" if style == "aao" else "Location"] = url
            if style == "aao" and with_body:
                return _json(code, res.body(answer.get("state", "Accepted")), hdrs)
            return _Resp(code, b"", hdrs)
        if code == 204 or not with_body and "state" not in answer:
            return _Resp(code, b"", hdrs)
        return _json(code, res.body(answer.get("state", "Succeeded")), hdrs)

    def _resource_read(self, res: Resource, rec: dict) -> _Resp:
        key = res.resource_id.lower()
        with self._cond:
            res.reads += 1
            rate, kinds, seed = self._faults
            fault = pick_fault(rate, kinds, seed, key, res.reads)
            step = None if fault is not None else res.next_step()
            state = res.last_state
            self._cond.notify_all()
        if fault is not None:
            rec["fault"] = fault
            if fault in ("429", "500", "503"):
                return _json(int(fault), shapes.error_response(int(fault)), {"Retry-After": "1"} if fault == "429" else None)
            if fault == "404early":
                return _json(404, {"error": {"code": "ResourceNotFound", "message": f"The resource '{res.name}' was not found."}})
            if fault == "reset":
                return _Resp(reset=True)
            if fault == "malformed":
                return _Resp(200, shapes.MALFORMED_BODY, {}, JSON_TYPE)
            resp = _json(200, res.body(None if fault == "nostatus" else state))
            if fault == "slow":
                resp.delay = self._slow_seconds
            return resp
        assert step is not None
        if "http" in step:
            code = step["http"]
            if code >= 400:
                error = step.get("error") or {"code": "ResourceNotFound" if code == 404 else f"Http{code}",
                                              "message": f"The resource '{res.resource_id}' answered {code}."}
                if res.is_deployment and code == 404:
                    error = step.get("error") or {"code": "DeploymentNotFound",
                                                  "message": f"Deployment '{res.name}' could not be found."}
                return _json(code, {"error": error}, step["_headers"])
            return _Resp(code, b"", dict(step["_headers"]))
        return _json(200, res.body(step["state"], step), step["_headers"])

    # ----------------------------------------------------------------- managed identity
    def _msi(self, method: str, query: dict, headers: Any, rec: dict) -> _Resp:
        rec["route"] = "msi"
        resource = query.get("resource")
        rec["audience"] = resource

        def fail(status: int, message: str) -> _Resp:
            return _json(status, {"statusCode": status, "message": message})

        if method != "GET":
            return fail(405, f"{method} is not supported by the identity endpoint.")
        supplied = headers.get("X-IDENTITY-HEADER")
        if supplied is None:
            return fail(400, "The X-IDENTITY-HEADER header is required.")
        if not _same(supplied, self._identity_header):
            return fail(401, "The X-IDENTITY-HEADER header is not valid.")
        rec["authMode"] = "identity-header"
        if query.get("api-version") != MSI_API_VERSION:
            return fail(400, f"api-version must be {MSI_API_VERSION}.")
        if not resource:
            return fail(400, "The resource query parameter is required.")
        client_id = query.get("client_id") or None
        token, expires_on = self._tokens.issue(resource, client_id)
        return _json(200, {"access_token": token, "expires_on": str(expires_on), "resource": resource,
                           "token_type": "Bearer", "client_id": client_id or SYSTEM_ASSIGNED_CLIENT_ID})

    # ----------------------------------------------------------------- event grid
    def _eventgrid(self, method: str, query: dict, headers: Any, body: bytes, rec: dict) -> _Resp:
        rec["route"] = "eventgrid"

        def fail(status: int, code: str | None = None, message: str | None = None) -> _Resp:
            return _json(status, shapes.error_response(status, {"code": code, "message": message} if code else None))

        if method != "POST":
            return fail(405, "MethodNotAllowed", f"{method} is not supported; POST a batch of events.")
        if self._eventgrid_key is not None:
            supplied = headers.get("aeg-sas-key")
            if supplied is not None:
                rec["authMode"] = "key"
                auth_failure = None if _same(supplied, self._eventgrid_key) else "The aeg-sas-key header is not valid."
            else:
                rec["authMode"] = "bearer" if headers.get("Authorization") else None
                auth_failure = "The request must carry the topic key in the aeg-sas-key header."
        else:
            bearer = self._check_bearer(headers, lambda a: normalise_audience(a) == EVENTGRID_AUDIENCE, rec)
            auth_failure = bearer[1] if bearer else None
        with self._cond:
            remaining, fail_status = self._eg_fail
            if remaining > 0:
                self._eg_fail = (remaining - 1, fail_status)
        if remaining > 0:
            rec["fault"] = f"eventgrid-{fail_status}"
            return fail(fail_status)
        if auth_failure:
            return fail(401, "Unauthorized", auth_failure)
        if not query.get("api-version"):
            return fail(400, "BadRequest", "The api-version query parameter is required.")
        content_type = headers.get("Content-Type") or ""
        media, *params = [p.strip() for p in content_type.split(";")]
        param_map = {k.strip().lower(): v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in params)}
        if media.lower() != "application/cloudevents-batch+json" or param_map.get("charset") != "utf-8":
            return fail(415, "UnsupportedMediaType",
                        f"Content-Type must be '{EVENTGRID_CONTENT_TYPE}', got '{content_type}'.")
        if len(body) > EVENTGRID_MAX_BATCH_BYTES:
            return fail(413, "RequestEntityTooLarge", "The batch is larger than 1 MB.")
        try:
            batch = strict_loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return fail(400, "BadRequest", f"The body is not valid UTF-8 JSON ({exc}).")
        if not isinstance(batch, list) or not batch:
            return fail(400, "BadRequest", "The body must be a non-empty JSON array of CloudEvents.")
        for i, event in enumerate(batch):
            if not isinstance(event, dict):
                return fail(400, "BadRequest", f"Event [{i}] is not a JSON object.")
            if event.get("specversion") != "1.0":
                return fail(400, "BadRequest", f"Event [{i}]: specversion must be '1.0'.")
            for attr in ("id", "source", "type"):
                if not isinstance(event.get(attr), str) or not event[attr]:
                    return fail(400, "BadRequest", f"Event [{i}]: required attribute '{attr}' is missing or empty.")
        if self.eventgrid_echo.take(batch):
            rec["fault"] = "eventgrid-echo"
            return self.eventgrid_echo.refusal(headers)
        with self._cond:
            self._events.extend({**event, "authMode": rec["authMode"]} for event in batch)
            self._cond.notify_all()
        return _Resp(200)

    # ----------------------------------------------------------------- control plane (/_sim/...)
    def _hostile_control(self, method: str, parts: list[str], data: Callable[[], Any]) -> _Resp | None:
        """``POST /_sim/eventgrid/echo`` and ``GET /_sim/tokens`` (the soak's hostile lane and leak scan); else None."""
        if parts == ["eventgrid", "echo"] and method == "POST":
            payload = data()
            try:
                n = self.eventgrid_echo.add(payload if isinstance(payload, list) else [payload])
            except ValueError as exc:
                raise ScriptError(str(exc)) from None
            return _json(200, {"scripted": n})
        if parts == ["tokens"] and method == "GET":
            return _json(200, self.tokens())
        return None

    def _control(self, method: str, raw_path: str, query: dict, body: bytes) -> _Resp:
        parts = [unquote(p) for p in raw_path.split("/")[2:]]
        if parts and parts[-1] == "":
            parts.pop()

        def data() -> Any:
            try:
                return json.loads(body.decode("utf-8")) if body else {}
            except (UnicodeDecodeError, ValueError) as exc:
                raise ScriptError(f"body is not valid JSON: {exc}") from None

        try:
            if parts == ["operations"] and method == "POST":
                payload = data()
                n = self.script_many(payload if isinstance(payload, list) else [payload])
                return _json(200, {"scripted": n})
            if len(parts) == 2 and parts[0] == "operations" and method == "GET":
                return _json(200, self.operation(parts[1]))
            if parts == ["resources"] and method == "POST":
                payload = data()
                n = self.script_resources(payload if isinstance(payload, list) else [payload])
                return _json(200, {"scripted": n})
            if parts == ["resources"] and method == "GET":
                return _json(200, self.resource(query.get("resourceId", "")))
            if parts == ["requests"] and method == "GET":
                since = query.get("since")
                if since is not None and not since.isdigit():
                    raise ScriptError("since must be a non-negative integer")
                return _json(200, self.requests(query.get("operationId"), query.get("route"),
                                                int(since) if since is not None else None))
            if parts == ["events"] and method == "GET":
                return _json(200, self.events())
            if parts == ["faults"] and method == "POST":
                payload = data()
                if not isinstance(payload, dict):
                    raise ScriptError("body must be an object {rate, kinds, seed}")
                self.set_faults(payload.get("rate", 0.0), payload.get("kinds", []), payload.get("seed", 0))
                return _json(200, {"rate": payload.get("rate", 0.0), "kinds": payload.get("kinds", []),
                                   "seed": payload.get("seed", 0)})
            if parts == ["eventgrid", "fail"] and method == "POST":
                payload = data()
                if not isinstance(payload, dict):
                    raise ScriptError("body must be an object {count, status}")
                self.eventgrid_fail_next(payload.get("count", 1), payload.get("status", 503))
                return _json(200, {"count": payload.get("count", 1), "status": payload.get("status", 503)})
            hostile = self._hostile_control(method, parts, data)
            if hostile is not None:
                return hostile
            if parts == ["azdo"] and method == "GET":
                return _json(200, self.azdo.received(query.get("planId"), query.get("kind")))
            if parts == ["azdo", "answers"] and method == "POST":
                payload = data()
                items = payload if isinstance(payload, list) else [payload]
                if not all(isinstance(p, dict) and isinstance(p.get("planId"), str) for p in items):
                    raise ScriptError("body must be an object {planId, statuses} or a list of them")
                try:
                    for item in items:
                        self.azdo.answer_next(item["planId"], list(item.get("statuses", [])))
                        if item.get("refuse") is not None:
                            self.azdo.refuse(item["planId"], item["refuse"])
                except (TypeError, ValueError) as exc:
                    raise ScriptError(str(exc)) from None
                return _json(200, {"scripted": len(items)})
            if parts == ["reset"] and method == "POST":
                self.reset()
                return _json(200, {"reset": True})
            if parts == ["tokens", "revoke"] and method == "POST":
                self.revoke_tokens()
                return _json(200, {"revoked": True})
            if parts == ["info"] and method == "GET":
                return _json(200, self.info())
        except ScriptError as exc:
            return _json(400, {"error": {"code": "InvalidSimulatorRequest", "message": str(exc)}})
        return _json(404, {"error": {"code": "NotFound", "message": f"No control endpoint {method} {raw_path}."}})


__all__ = ["Simulator", "ScriptError", "EVENTGRID_CONTENT_TYPE", "MSI_API_VERSION"]
