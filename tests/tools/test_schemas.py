"""schemas/*.schema.json: generated from the models, never drifting, and true of what the watcher produces.

The result objects checked here come from the real decision core (``shared.core.decide``
and ``build_result``) and the sinks' trimming (``fit_result``), one per outcome and
per error shape. They are checked against the model (pydantic) and, where the
``jsonschema`` package is installed, against the committed schema file itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.core.decide import Publish, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.core.request_model import REQUEST_ADAPTER
from shared.core.result_model import RESULT_ADAPTER
from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES, TRIM_STEPS, encode_json, fit_result
from tests.support.builders import T0, apim, arm, devcenter, operationalinsights, parse, settings
from tools.dev import schemas

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = PROJECT_ROOT / "schemas"
CONFIG = settings(POLL_MAX_FAILURES="2")


def committed(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def read(body: Any = None, status: int | None = 200, **headers: str) -> StatusAnswer:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return StatusAnswer(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw, None if status else "timeout")


def later(seconds: float):
    return T0 + timedelta(seconds=seconds)


# -- drift -------------------------------------------------------------------------------------


def test_committed_schemas_match_the_models() -> None:
    assert schemas.drifted(SCHEMA_DIR) == [], "schemas/ drifted from the models: run `python -m tools.schemas`"


def test_request_schema_is_the_request_adapters() -> None:
    schema = committed("request.schema.json")
    generated = REQUEST_ADAPTER.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {k: v for k, v in schema.items() if not k.startswith("$schema") and k not in ("title", "description")} == generated
    assert set(schema["discriminator"]["mapping"]) == {"apim", "operationalinsights", "devcenter", "arm", "dataplane"}


def test_result_schema_lists_the_contract_fields_plus_trimmed() -> None:
    schema = committed("result.schema.json")
    contract = [
        "eventId", "outcome", "status", "source", "operationId", "statusUrl", "correlationId", "context",
        "percentComplete", "startTime", "endTime", "error", "operation", "polls", "enqueuedAt", "completedAt",
    ]
    assert schema["required"] == contract
    assert list(schema["properties"]) == [*contract, "trimmed"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["outcome"]["enum"] == ["Succeeded", "Failed", "Canceled", "TimedOut", "PollingFailed"]
    assert schema["properties"]["trimmed"]["items"]["enum"] == list(TRIM_STEPS)


def test_check_exits_1_on_drift_and_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--dir", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 0
    stale = json.loads((tmp_path / "result.schema.json").read_text())
    stale["properties"]["polls"]["minimum"] = 1
    (tmp_path / "result.schema.json").write_text(json.dumps(stale))
    capsys.readouterr()
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "result.schema.json" in capsys.readouterr().err
    (tmp_path / "request.schema.json").unlink()
    assert set(schemas.drifted(tmp_path)) == {"request.schema.json", "result.schema.json"}


def test_python_m_tools_schemas_check_passes_on_the_committed_files() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.schemas", "--check"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_function_does_not_import_the_result_model() -> None:
    code = "import function_app, shared.watcher, shared.runtime, shared.edges.eventgrid, sys; print('shared.core.result_model' in sys.modules)"
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "OPERATIONS_QUEUE": "operations"}
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, env={**env, "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# -- what the watcher really produces ----------------------------------------------------------

_PROVIDER_ERROR = {
    "code": "Conflict", "message": "Busy.", "target": "name",
    "details": [{"code": "Inner", "message": "Deeper.", "details": [{"code": "Deepest"}]}],
    "innererror": {"code": "X", "innererror": {"code": "Y"}}, "additionalInfo": [{"type": "T", "info": {"a": 1}}],
}


def _published(request: Any, status_read: StatusAnswer, at: float = 1) -> dict[str, Any]:
    decision = decide(request, status_read, later(at), CONFIG)
    assert isinstance(decision, Publish), decision
    return decision.result


DATAPLANE = {"source": "dataplane", "statusUrl": "https://t-dc.westus.devcenter.azure.com/projects/p/operationstatuses/o?api-version=1"}


RESOURCE = {"source": "arm", "apiVersion": "2024-03-01",
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/main"}


def produced_results() -> dict[str, dict[str, Any]]:
    full_body = {"status": "Succeeded", "percentComplete": 100, "startTime": "2026-01-01T00:00:00Z",
                 "endTime": "2026-01-01T00:10:00Z", "properties": {"x": [1, 2]}}
    results = {
        "succeeded-apim": _published(parse(apim(correlationId="c", context={"k": {"v": 1}})), read(full_body)),
        "failed-apim-full-error": _published(parse(apim()), read({"status": "Failed", "error": _PROVIDER_ERROR})),
        "failed-oi-error-response": _published(parse(operationalinsights()), read({"status": "Failed", "error": {"error": {"code": "E", "message": "m"}}})),
        "canceled-devcenter": _published(parse(devcenter()), read({"status": "Canceled", "percentComplete": 12.5})),
        "succeeded-arm": _published(parse(arm()), read({"status": "Succeeded"})),
        "timed-out-running": _published(parse(apim(timeoutSeconds=10)), read({"status": "Running"}), at=11),
        "timed-out-after-failed-read": _published(parse(apim(timeoutSeconds=10)), read(status=503), at=11),
        "polling-failed-403": _published(parse(apim()), read({"error": {"code": "AuthorizationFailed", "message": "no"}}, 403)),
        "polling-failed-redirect": _published(parse(apim()), read(status=302, location="https://elsewhere.example")),
        "polling-failed-404-late": _published(parse(apim()), read(status=404, x_ms_error_code="NotFound"), at=400),
        "succeeded-location-204": _published(parse(arm(statusHeader="Location")), read(status=204)),
        "succeeded-location-200-body": _published(parse(arm(statusHeader="Location")), read({"value": [1]}, 200)),
        "failed-location-409": _published(parse(arm(statusHeader="Location")), read({"error": _PROVIDER_ERROR}, 409)),
        "polling-failed-location-refused": _published(
            parse(arm(statusHeader="location")), read(status=202, location="https://elsewhere.example/operations/1")
        ),
        "succeeded-dataplane": _published(parse(DATAPLANE), read({"id": "o", "status": "Succeeded", "result": {"a": 1}})),
        "succeeded-resource": _published(parse(RESOURCE), read({"properties": {"provisioningState": "Succeeded"}})),
        "failed-deployment": _published(parse(RESOURCE), read({"properties": {"provisioningState": "Failed", "error": _PROVIDER_ERROR}})),
        "deleted-resource": _published(parse({**RESOURCE, "waitFor": "deleted"}), read(status=404)),
    }
    request = parse(apim())
    first = decide(request, read(status=None), later(1), CONFIG)
    second = decide(parse(json.loads(request.message_text(first.poll))), read(status=None), later(2), CONFIG)
    assert isinstance(second, Publish) and second.result["error"]["code"] == "TooManyFailures"
    results["polling-failed-too-many-failures"] = second.result
    big = _published(parse(apim(context={"blob": "c" * 2000})), read({"status": "Failed", "error": {
        **_PROVIDER_ERROR, "message": "m" * 3000, "details": [{"code": "D", "message": "d" * 1000}] * 5}}))
    for size in (MAX_QUEUE_MESSAGE_BYTES, 6_000, 3_000, 2_000):
        fitted, _ = fit_result(big, encode_json, size)
        results[f"trimmed-to-{size}"] = dict(fitted)
    assert results["trimmed-to-2000"]["trimmed"] == list(TRIM_STEPS)
    return results


RESULTS = produced_results()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_produced_results_validate_against_the_model(name: str) -> None:
    RESULT_ADAPTER.validate_python(RESULTS[name])
    RESULT_ADAPTER.validate_json(encode_json(RESULTS[name]))  # as a consumer reads it off the queue


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_produced_results_validate_against_the_committed_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = committed("result.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        json.loads(encode_json(RESULTS[name]))
    )


@pytest.mark.parametrize(
    "change",
    [{"outcome": "Done"}, {"polls": -1}, {"extra": 1}, {"trimmed": None}, {"trimmed": ["everything"]},
     {"error": {"code": "X", "unexpected": 1}}, {"percentComplete": True}, {"source": "s3"}],
)
def test_the_model_and_the_schema_reject_what_the_contract_does_not_allow(change: dict[str, Any]) -> None:
    bad = {**RESULTS["succeeded-apim"], **change}
    with pytest.raises(ValueError):
        RESULT_ADAPTER.validate_python(bad)
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, committed("result.schema.json"))


def test_missing_fields_are_rejected_but_absent_error_keys_are_fine() -> None:
    result = dict(RESULTS["polling-failed-403"])
    assert set(result["error"]) == {"code", "message", "httpStatus"}
    RESULT_ADAPTER.validate_python(result)
    del result["operation"]
    with pytest.raises(ValueError):
        RESULT_ADAPTER.validate_python(result)


@pytest.mark.parametrize(
    "request_body",
    [apim(), operationalinsights(), devcenter(), arm(), apim(correlationId="c", context={}, timeoutSeconds=5, apiVersion="2025-01-01"),
     arm(statusHeader="Location"), arm(statusHeader="LOCATION"), {**DATAPLANE, "statusHeader": "operation-location"}, DATAPLANE,
     RESOURCE, {**RESOURCE, "waitFor": "deleted"}],
)
def test_valid_requests_validate_against_the_committed_request_schema(request_body: dict[str, Any]) -> None:
    parse(request_body)  # the watcher accepts it
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(request_body, committed("request.schema.json"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**request_body, "operationID": "typo"}, committed("request.schema.json"))


@pytest.mark.parametrize(
    "request_body",
    [{**RESOURCE, "statusUrl": arm()["statusUrl"]}, {"source": "arm"}, {**arm(), "waitFor": "deleted"},
     {**RESOURCE, "statusHeader": "Location"}, {**RESOURCE, "waitFor": "gone"}],
)
def test_the_request_schema_refuses_what_the_parser_refuses(request_body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        parse(request_body)
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(request_body, committed("request.schema.json"))
