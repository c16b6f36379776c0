"""Wire shapes of the three status APIs (plus generic ARM) and their error bodies."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_ERROR_CODES = {
    400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "AuthorizationFailed", 404: "NotFound",
    405: "MethodNotAllowed", 408: "RequestTimeout", 409: "Conflict", 410: "Gone", 412: "PreconditionFailed",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 429: "TooManyRequests",
    500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout",
}

# Deliberately not JSON: what a proxy glitch or a truncated response looks like.
MALFORMED_BODY = b'{"status": "InProgress", "percentComplete": 4'


@dataclass(frozen=True)
class StatusRoute:
    kind: str               # "apim" | "operationalinsights" | "arm" | "devcenter" | "dataplane"
    operation_id: str       # decoded last path segment, as requested
    path: str               # decoded path (no query)
    subscription: str = ""
    namespace: str = ""
    region: str = ""
    project: str = ""


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_running_status(route: StatusRoute) -> str:
    return "Running" if route.kind in ("devcenter", "dataplane") else "InProgress"


def error_detail(status_code: int, error: dict | None) -> dict:
    detail = {
        "code": DEFAULT_ERROR_CODES.get(status_code, f"Http{status_code}"),
        "message": f"Simulated HTTP {status_code}.",
    }
    if error:
        detail.update(error)
    return detail


def error_response(status_code: int, error: dict | None = None) -> dict:
    """ARM ErrorResponse and Azure.Core.Foundations.ErrorResponse share this outer shape."""
    return {"error": error_detail(status_code, error)}


# Bodies share nested objects with the step: they are serialised at once and never mutated.
def status_body(route: StatusRoute, name: str, status: str | None, step: dict,
                start_time: str | None, end_time: str | None) -> dict:
    """200 body for ``route``; ``status`` None leaves the field out (the 'nostatus' fault)."""
    if route.kind == "apim":
        body: dict = {"id": (f"/subscriptions/{route.subscription}/providers/{route.namespace}"
                             f"/locations/{route.region}/operationStatuses/{name}"), "name": name}
    elif route.kind == "operationalinsights":
        loc = route.region.replace(" ", "").lower()
        body = {"id": f"/subscriptions/{route.subscription}/locations/{loc}/operationStatuses/{name}", "name": name}
    elif route.kind == "devcenter":
        body = {"id": f"/projects/{route.project}/operationStatuses/{name}", "name": name}
    elif route.kind == "dataplane":
        body = {"id": name}  # Azure.Core ResourceOperationStatus: {id, status, error?, result?}
    else:
        body = {"id": route.path, "name": name}
    if status is not None:
        body["status"] = status
    if "percentComplete" in step:
        body["percentComplete"] = step["percentComplete"]
    if start_time is not None:
        body["startTime"] = start_time
    if end_time is not None:
        body["endTime"] = end_time
    if "resourceId" in step:
        body["resourceId"] = step["resourceId"]
    if "properties" in step:
        body["properties"] = step["properties"]
    if "error" in step:
        err = step["error"]
        # operationalinsights nests an ErrorResponse; apim/arm carry a bare ErrorDetail; devcenter a Foundations Error.
        body["error"] = {"error": err} if route.kind == "operationalinsights" else err
    for key, value in step.get("extra", {}).items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body
