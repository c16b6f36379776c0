"""Azure Pipelines' agentless callback (contract §3b), pure: headers in, URLs and bodies out.

An agentless job's ``AzureFunction@1`` task in Callback mode (``waitForCompletion: true``)
calls the ``watch`` HTTP function with eight headers (the task's defaults, from
``Tasks/AzureFunctionV1/task.json``)::

    PlanUrl: $(system.CollectionUri)    ProjectId: $(system.TeamProjectId)   HubName: $(system.HostType)
    PlanId: $(system.PlanId)            JobId: $(system.JobId)               TimelineId: $(system.TimelineId)
    TaskInstanceId: $(system.TaskInstanceId)                                  AuthToken: $(system.AccessToken)

They become the request's ``callback.azureDevOps`` (:func:`callback_from_headers`); the
watcher later reports through the URLs and bodies built here, exactly as §3b writes them:

* a live log line per read: ``POST {planUrl}/{projectId}/_apis/distributedtask/hubs/{hubName}/plans/{planId}/timelines/{timelineId}/records/{jobId}/feed?api-version=4.1``
  with ``{"value": [line], "count": 1}``;
* the outcome, after the sinks: ``POST {planUrl}/{projectId}/_apis/distributedtask/hubs/{hubName}/plans/{planId}/events?api-version=2.0-preview.1``
  with ``{"name": "TaskCompleted", "taskId", "jobId", "result": "succeeded" | "failed"}``;
* both with ``Authorization: Basic base64(":" + authToken)``.

``authToken`` is a secret: :class:`AzureDevOpsCallback` keeps it out of ``repr`` and no
text built here holds it except :meth:`AzureDevOpsCallback.authorization`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.core.errors import InvalidRequest

__all__ = [
    "CALLBACK_HEADERS",
    "MAX_CALLBACK_TIMEOUT_SECONDS",
    "FEED_API_VERSION",
    "EVENTS_API_VERSION",
    "AzureDevOpsCallback",
    "callback_from_headers",
    "task_result",
    "feed_line",
    "outcome_line",
    "feed_body",
    "task_completed_body",
    "is_permanent_refusal",
]

#: HTTP header -> the ``callback.azureDevOps`` key it fills (header names are case-insensitive).
CALLBACK_HEADERS: Mapping[str, str] = {
    "PlanUrl": "planUrl",
    "ProjectId": "projectId",
    "HubName": "hubName",
    "PlanId": "planId",
    "JobId": "jobId",
    "TimelineId": "timelineId",
    "TaskInstanceId": "taskInstanceId",
    "AuthToken": "authToken",
}
#: A request with a callback has a deadline of at most 48 hours: the job token's life.
MAX_CALLBACK_TIMEOUT_SECONDS = 48 * 3600
FEED_API_VERSION = "4.1"
EVENTS_API_VERSION = "2.0-preview.1"


@dataclass(frozen=True)
class AzureDevOpsCallback:
    """A validated ``callback.azureDevOps``; ``auth_token`` never shows in ``repr``."""

    plan_url: str  # canonical, checked against CALLBACK_HOST_ALLOWLIST
    project_id: str
    hub_name: str
    plan_id: str
    job_id: str
    timeline_id: str
    task_instance_id: str
    auth_token: str = field(repr=False)

    def _plan(self) -> str:
        project, hub, plan = (quote(value, safe="") for value in (self.project_id, self.hub_name, self.plan_id))
        return f"{self.plan_url.rstrip('/')}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}"

    @property
    def events_url(self) -> str:
        """Where TaskCompleted goes."""
        return f"{self._plan()}/events?api-version={EVENTS_API_VERSION}"

    @property
    def feed_url(self) -> str:
        """The job's live log feed."""
        timeline, job = quote(self.timeline_id, safe=""), quote(self.job_id, safe="")
        return f"{self._plan()}/timelines/{timeline}/records/{job}/feed?api-version={FEED_API_VERSION}"

    def authorization(self) -> str:
        """``Basic base64(":" + authToken)``: the only text that carries the token."""
        return "Basic " + base64.b64encode((":" + self.auth_token).encode("utf-8")).decode("ascii")


def callback_from_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The ``callback.azureDevOps`` object from Azure Pipelines' headers; None when none is present.

    ``headers`` may be any mapping; names are compared case-insensitively. Some but not all
    of the eight headers (or one that is empty) raise :class:`InvalidRequest` naming the
    missing ones, never a value.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    found = {key: lowered.get(header.lower()) for header, key in CALLBACK_HEADERS.items()}
    present = {key: value for key, value in found.items() if value is not None and value.strip() != ""}
    if not present and all(value is None for value in found.values()):
        return None
    missing = [header for header, key in CALLBACK_HEADERS.items() if key not in present]
    if missing:
        raise InvalidRequest(
            "headers",
            f"Azure Pipelines headers {', '.join(missing)} are missing or empty: send all eight "
            f"({', '.join(CALLBACK_HEADERS)}), as AzureFunction@1's default headers do, or none.",
        )
    return {key: value.strip() for key, value in present.items()}


def task_result(outcome: str) -> str:
    """TaskCompleted's ``result``: ``Succeeded`` -> succeeded, every other outcome -> failed."""
    return "succeeded" if outcome == "Succeeded" else "failed"


def task_completed_body(callback: AzureDevOpsCallback, outcome: str) -> dict[str, Any]:
    return {"name": "TaskCompleted", "taskId": callback.task_instance_id, "jobId": callback.job_id,
            "result": task_result(outcome)}


def feed_body(line: str) -> dict[str, Any]:
    return {"value": [line], "count": 1}


def _percent(value: float | None) -> str:
    if value is None:
        return ""
    return f" {value:g}%"


def feed_line(now: datetime, status: str | None, percent: float | None, next_read_seconds: int, why: str = "running") -> str:
    """``12:01:05 Running 40% (next read in 45 s)``; a failed read says why instead of a status."""
    clock = now.strftime("%H:%M:%S")
    shown = _one_line(status) if status else "status not known yet"
    if why != "running":
        return f"{clock} read failed ({_one_line(why)}); last status {shown} (next read in {next_read_seconds} s)"
    return f"{clock} {shown}{_percent(percent)} (next read in {next_read_seconds} s)"


def outcome_line(now: datetime, result: Mapping[str, Any]) -> str:
    """``12:30:00 Succeeded (status Succeeded, 12 reads)``: the last line of the task's log."""
    clock = now.strftime("%H:%M:%S")
    status = result.get("status")
    error = result.get("error")
    message = error.get("message") if isinstance(error, Mapping) else None
    tail = f": {_one_line(str(message))}" if message else ""
    return (f"{clock} {result['outcome']} (status {_one_line(str(status)) if status else '-'}, "
            f"{result.get('polls')} reads){tail}")


def _one_line(text: str, limit: int = 300) -> str:
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def is_permanent_refusal(http_status: int) -> bool:
    """Azure DevOps will never take this event: 401/403 (token expired, run cancelled), 404 (plan gone), other 4xx.

    408 and 429 are transient, like 5xx: the outcome's message is retried.
    """
    return 400 <= http_status < 500 and http_status not in (408, 429)
