"""The app's HTTP-triggered functions on a loopback port, called the way the Python worker calls them.

``func start`` serves ``http://localhost:7071/api/{route}``; run_local's ``--http-port`` does
the same on 127.0.0.1. The route, the methods and the argument name come from the app's own
``httpTrigger`` binding (``app.get_functions()``). The request is handed over as the worker
does it: the host's typed data (``method``, ``url``, ``headers``, ``query``, ``params``,
``body``) goes through azure-functions' own ``HttpRequestConverter.decode`` to make the
``func.HttpRequest``, and the returned ``func.HttpResponse`` through ``HttpResponseConverter.encode``
to make the answer. Like Core Tools locally, the auth level is not enforced (a ``code``
query parameter is accepted and ignored). A method the binding does not list, or a path no
function serves, is a 404, as on the host; an exception in the function is a bodiless 500,
logged with its type only.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.dev.run_local.common import RunLocalError, log

__all__ = ["HttpFunction", "find_http_functions", "HttpFront"]

#: The host's default route prefix (host.json ``extensions.http.routePrefix``).
ROUTE_PREFIX = "api"
#: Azure Functions' request body limit is far larger; a local front door needs no more than this.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HttpFunction:
    """One HTTP-triggered function: where it is served and how it is called."""

    name: str
    route: str
    methods: tuple[str, ...]
    arg_name: str
    user_function: Callable[..., Any]

    @property
    def path(self) -> str:
        return f"/{ROUTE_PREFIX}/{self.route.strip('/')}"


def find_http_functions(app: Any) -> list[HttpFunction]:
    """Every ``httpTrigger`` function of a ``FunctionApp`` (route defaults to the function name)."""
    from tools.dev.run_local.app import functions_of

    found = []
    for function in functions_of(app):
        trigger = function.get_trigger()
        if trigger is None or getattr(trigger, "type", None) != "httpTrigger":
            continue
        methods = tuple(str(getattr(m, "value", m)).upper() for m in (trigger.methods or ())) or (
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
        user_function = function.get_user_function()
        extra = [p.name for p in inspect.signature(user_function).parameters.values()
                 if p.name not in (trigger.name, "context") and p.default is inspect.Parameter.empty]
        if extra:
            raise RunLocalError(f"function {function.get_function_name()}: parameter {extra[0]!r} has no binding "
                                "tools.run_local supports (HTTP trigger and HTTP return only)")
        found.append(HttpFunction(function.get_function_name(), trigger.route or function.get_function_name(),
                                  methods, trigger.name, user_function))
    return found


def _request_argument(method: str, url: str, headers: dict[str, str], body: bytes) -> Any:
    """``func.HttpRequest`` from azure-functions' httpTrigger converter, as the worker makes it."""
    from azure.functions.http import HttpRequestConverter
    from azure.functions.meta import Datum

    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    value = {
        "method": Datum(method, "string"),
        "url": Datum(url, "string"),
        "headers": {name: Datum(text, "string") for name, text in headers.items()},
        "query": {name: Datum(text, "string") for name, text in query.items()},
        "params": {},
        "body": Datum(body, "bytes"),
    }
    return HttpRequestConverter.decode(Datum(value, "http"), trigger_metadata=None)


def _answer(returned: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of what the function returned, through the worker's own converter."""
    from azure.functions.http import HttpResponseConverter

    datum = HttpResponseConverter.encode(returned, expected_type=None)
    if datum.type == "string":
        return 200, {"content-type": "text/plain; charset=utf-8"}, str(datum.value).encode("utf-8")
    value = datum.value
    headers = {name: str(h.value) for name, h in value["headers"].items()}
    return int(value["status_code"].value), headers, bytes(value["body"].value or b"")


class HttpFront:
    """A ThreadingHTTPServer on ``host:port`` (0: any free port) serving ``functions``."""

    def __init__(self, functions: list[HttpFunction], host: str = "127.0.0.1", port: int = 0) -> None:
        self.functions = {f.path.lower(): f for f in functions}
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; run_local logs itself
                return

            def _any(self) -> None:
                front._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except (OSError, OverflowError) as error:
            why = error.strerror if isinstance(error, OSError) else "not a port number"
            raise RunLocalError(f"--http-port {port}: cannot listen on {host}:{port} ({why})") from None
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def urls(self) -> list[str]:
        return [f"{'|'.join(f.methods)} http://127.0.0.1:{self.port}{f.path} (function {f.name})" for f in self.functions.values()]

    def start(self) -> HttpFront:
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path.rstrip("/").lower()
        function = self.functions.get(path)
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(handler, 413, {"content-type": "text/plain"}, b"request body too large")
            return
        body = handler.rfile.read(length) if length else b""
        if function is None or handler.command not in function.methods:
            self._send(handler, 404, {"content-type": "text/plain"}, b"")
            return
        headers = dict(handler.headers.items())
        url = f"http://{handler.headers.get('Host') or f'127.0.0.1:{self.port}'}{handler.path}"
        try:
            returned = function.user_function(**{function.arg_name: _request_argument(handler.command, url, headers, body)})
            status, answer_headers, data = _answer(returned)
        except Exception as error:  # noqa: BLE001 - the host answers 500; the type only (no request data) is logged
            log.error("function %s failed: %s", function.name, type(error).__name__)
            status, answer_headers, data = 500, {}, b""
        self._send(handler, status, answer_headers, data)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
