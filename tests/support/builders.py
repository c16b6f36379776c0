"""Builders shared by the unit tests: settings, request messages of each source, parse, T0."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.core.poll_state import WatchedRequest
from shared.core.request_parser import RequestParser
from shared.core.settings import Settings, load_settings

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEVCENTER_OP = "fa067167-e49d-41bd-8dd8-de719b9de3b3"


def settings(**overrides: str) -> Settings:
    env = {"STATUS_HOST_ALLOWLIST": "*.devcenter.azure.com"}
    env.update(overrides)
    return load_settings(env, require_storage=False)


def apim(**extra: Any) -> dict[str, Any]:
    return {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "op-1", **extra}


def devcenter(**extra: Any) -> dict[str, Any]:
    return {
        "source": "devcenter",
        "endpoint": "https://tenant-dc.westus.devcenter.azure.com",
        "projectName": "myProject",
        "operationId": DEVCENTER_OP,
        **extra,
    }


def operationalinsights(**extra: Any) -> dict[str, Any]:
    return {"source": "operationalinsights", "subscriptionId": "sub-1", "location": "West US", "operationId": "op-2", **extra}


def arm(**extra: Any) -> dict[str, Any]:
    url = f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/op-3?api-version=2022-03-01"
    return {"source": "arm", "statusUrl": url, **extra}


def parse(message: dict[str, Any] | str, now: datetime = T0, config: Settings | None = None) -> WatchedRequest:
    text = message if isinstance(message, str) else json.dumps(message)
    return RequestParser(config or settings()).parse(text, now)
