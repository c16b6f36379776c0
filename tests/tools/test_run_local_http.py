"""run_local's HTTP front: the app's own httpTrigger binding decides route and methods; the worker's converters
build the ``func.HttpRequest`` and read the ``func.HttpResponse``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import httpx
import pytest

from tools.dev.run_local import RunLocalError
from tools.dev.run_local.http import HttpFront, find_http_functions


def _app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name(name="echo")
    @app.route(route="things/echo", methods=[func.HttpMethod.POST], auth_level=func.AuthLevel.FUNCTION)
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        seen = {"method": req.method, "url": req.url, "planId": req.headers.get("planid"), "code": req.params.get("code"),
                "body": req.get_body().decode(), "type": type(req).__module__ + "." + type(req).__name__}
        return func.HttpResponse(json.dumps(seen), status_code=202, mimetype="application/json", headers={"X-Echo": "1"})

    @app.function_name(name="boom")
    @app.route(route="boom", methods=[func.HttpMethod.GET])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret detail that must not be logged")

    return app


@pytest.fixture
def front() -> Iterator[HttpFront]:
    server = HttpFront(find_http_functions(_app())).start()
    try:
        yield server
    finally:
        server.stop()


def test_route_methods_and_argument_come_from_the_binding() -> None:
    (echo, boom) = find_http_functions(_app())
    assert (echo.name, echo.path, echo.methods, echo.arg_name) == ("echo", "/api/things/echo", ("POST",), "req")
    assert boom.methods == ("GET",)


def test_a_post_reaches_the_function_as_the_worker_builds_it(front: HttpFront) -> None:
    url = f"http://127.0.0.1:{front.port}/api/things/echo"
    response = httpx.post(url, params={"code": "k"}, content=b'{"a": 1}', headers={"PlanId": "p-1"})
    assert response.status_code == 202 and response.headers["x-echo"] == "1"
    assert response.headers["content-type"] == "application/json"
    seen = response.json()
    assert seen["method"] == "POST" and seen["planId"] == "p-1" and seen["code"] == "k" and seen["body"] == '{"a": 1}'
    assert seen["type"] == "azure.functions.http.HttpRequest" and seen["url"].endswith("/api/things/echo?code=k")


def test_a_method_the_binding_does_not_list_or_an_unknown_route_is_404(front: HttpFront) -> None:
    base = f"http://127.0.0.1:{front.port}"
    assert httpx.get(f"{base}/api/things/echo").status_code == 404
    assert httpx.post(f"{base}/api/nothing").status_code == 404


def test_an_exception_is_a_bodiless_500_logged_by_type_only(front: HttpFront, caplog: pytest.LogCaptureFixture) -> None:
    response = httpx.get(f"http://127.0.0.1:{front.port}/api/boom")
    assert response.status_code == 500 and response.content == b""
    assert "RuntimeError" in caplog.text and "secret detail" not in caplog.text


def test_a_bad_port_is_a_config_error() -> None:
    with pytest.raises(RunLocalError, match="--http-port 70000"):
        HttpFront([], port=70000)


def test_the_apps_watch_function_is_post_only_with_a_function_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    from tools.dev.run_local import functions_of, load_app

    app = load_app("function_app")
    (watch,) = find_http_functions(app)
    assert (watch.name, watch.path, watch.methods) == ("watch", "/api/watch", ("POST",))
    (function,) = [f for f in functions_of(app) if f.get_function_name() == "watch"]
    bindings = [json.loads(b) for b in function.get_raw_bindings()]
    assert bindings[0] == {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"],
                           "authLevel": "FUNCTION", "route": "watch"}
    assert [b["type"] for b in bindings[1:]] == ["http"]  # no queue output binding: the gateway enqueues
