"""Provider error bodies -> one shape: ``{code, message, target, details, innererror, additionalInfo}``.

apim returns a bare ARM ``ErrorDetail`` in a status body; operationalinsights an
``ErrorResponse`` (``{"error": ErrorDetail}``, one level deeper); devcenter an
``Azure.Core.Foundations.Error`` whose ``innererror`` nests. Keys the provider
did not send are omitted; unknown keys are dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["normalise_error", "error_from_response_body"]

_SCALARS = ("code", "message", "target")


def _unwrap(value: Any) -> Any:
    # ErrorResponse {"error": {...}} -> the inner object, however deep the wrapping goes.
    while isinstance(value, dict) and isinstance(value.get("error"), dict) and not ({"code", "message"} & value.keys()):
        value = value["error"]
    return value


def _inner(value: Any, depth: int = 0) -> dict[str, Any] | None:
    if not isinstance(value, dict) or depth > 32:
        return None
    inner: dict[str, Any] = {key: value[key] for key in value if key != "innererror"}
    nested = _inner(value.get("innererror"), depth + 1)
    if nested is not None:
        inner["innererror"] = nested
    return inner


def normalise_error(value: Any, depth: int = 0) -> dict[str, Any] | None:
    """The normalised error, or None when ``value`` holds none."""
    value = _unwrap(value)
    if isinstance(value, str) and value:
        return {"message": value}
    if not isinstance(value, dict) or depth > 32:
        return None
    error: dict[str, Any] = {}
    for key in _SCALARS:
        if value.get(key) is not None:
            error[key] = value[key] if isinstance(value[key], str) else str(value[key])
    details = value.get("details")
    if isinstance(details, list):
        error["details"] = [d for d in (normalise_error(item, depth + 1) for item in details) if d is not None]
    inner = _inner(value.get("innererror"))
    if inner is not None:
        error["innererror"] = inner
    info = value.get("additionalInfo")
    if isinstance(info, list):
        error["additionalInfo"] = info
    return error or None


def error_from_response_body(body: Any, error_code_header: str | None) -> dict[str, Any] | None:
    """The provider's error from a non-200 response (``ErrorResponse``), using ``x-ms-error-code`` as a fallback code."""
    error = normalise_error(body.get("error") if isinstance(body, dict) else None)
    if error_code_header:
        error = error or {}
        error.setdefault("code", error_code_header)
    return error
