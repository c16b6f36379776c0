"""The simulator's Azure DevOps: an agentless job's plan endpoints (contract §3b), recording what they receive.

Routes (``{org}`` is optional, as for ``https://contoso.visualstudio.com/``)::

    POST /{org}/{projectId}/_apis/distributedtask/hubs/{hub}/plans/{planId}/events?api-version=2.0-preview.1
    POST /{org}/{projectId}/_apis/distributedtask/hubs/{hub}/plans/{planId}/timelines/{timelineId}/records/{jobId}/feed?api-version=4.1

Both need ``Authorization: Basic base64(":" + token)``; when a plan was registered with
:meth:`AzureDevOpsFake.expect_token`, the token must be that one (401 otherwise, as for an
expired job token), and :meth:`AzureDevOpsFake.refuse` makes every TaskCompleted of a plan a 401.
The events route takes ``{"name": "TaskCompleted", "taskId", "jobId",
"result": "succeeded" | "failed"}``; the feed ``{"value": [line, ...], "count": n}``. Scripted
answers (:meth:`AzureDevOpsFake.answer_next`, e.g. ``[500, 200]`` or ``[401]``) come first.

Every request is recorded without its token: ``{"kind": "event" | "feed", "planId", "jobId",
"status", "body", "auth": "ok" | "missing" | "wrong"}``. :meth:`completed` lists the
TaskCompleted events that were answered 2xx: what Azure Pipelines would have counted.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections import deque
from typing import Any

from .httpd import Resp, json_response

__all__ = ["AzureDevOpsFake", "EVENTS_API_VERSION", "FEED_API_VERSION"]

EVENTS_API_VERSION = "2.0-preview.1"
FEED_API_VERSION = "4.1"
_RESULTS = ("succeeded", "failed", "canceled", "skipped", "abandoned", "succeededWithIssues")


def _route(low: list[str]) -> tuple[str, dict[str, str]] | None:
    """("event" | "feed", the path's ids) for a plan endpoint, else None. ``low`` is the lower-cased, decoded path."""
    if "_apis" not in low[:3]:
        return None
    start = low.index("_apis")
    if start not in (1, 2):
        return None
    rest = low[start:]
    if rest[1:3] != ["distributedtask", "hubs"] or len(rest) < 7 or rest[4] != "plans":
        return None
    ids = {"projectId": low[start - 1], "hub": rest[3], "planId": rest[5]}
    if len(rest) == 7 and rest[6] == "events":
        return "event", ids
    if len(rest) == 11 and rest[6] == "timelines" and rest[8] == "records" and rest[10] == "feed":
        return "feed", {**ids, "timelineId": rest[7], "jobId": rest[9]}
    return None


class AzureDevOpsFake:
    """Thread-safe; owned by the :class:`~tools.dev.sim.server.Simulator` (``sim.azdo``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._received: list[dict[str, Any]] = []
        self._answers: dict[str, deque[int]] = {}
        self._tokens: dict[str, str] = {}
        self._refused: dict[str, int] = {}

    # -- scripting and inspection ---------------------------------------------------------------

    def expect_token(self, plan_id: str, token: str) -> None:
        """Only ``token`` is accepted for ``plan_id`` (any other: 401)."""
        with self._cond:
            self._tokens[plan_id.lower()] = token

    def answer_next(self, plan_id: str, statuses: list[int]) -> None:
        """The next TaskCompleted POSTs for ``plan_id`` get these statuses (then the normal answer)."""
        if not all(isinstance(s, int) and not isinstance(s, bool) and 200 <= s <= 599 for s in statuses):
            raise ValueError("statuses must be HTTP statuses 200..599")
        with self._cond:
            self._answers[plan_id.lower()] = deque(statuses)

    def refuse(self, plan_id: str, status: int = 401) -> None:
        """Every TaskCompleted for ``plan_id`` gets ``status`` (401: the job token expired; 404: the plan is gone)."""
        if status not in (401, 403, 404):
            raise ValueError("a refusal is 401, 403 or 404")
        with self._cond:
            self._refused[plan_id.lower()] = status

    def received(self, plan_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [json.loads(json.dumps(r)) for r in self._received
                    if (plan_id is None or r["planId"] == plan_id.lower()) and (kind is None or r["kind"] == kind)]

    def completed(self, plan_id: str | None = None) -> list[dict[str, Any]]:
        """TaskCompleted events answered 2xx, oldest first."""
        return [r for r in self.received(plan_id, "event") if 200 <= r["status"] < 300]

    def feed_lines(self, plan_id: str | None = None) -> list[str]:
        return [line for r in self.received(plan_id, "feed") if r["status"] == 200 for line in r["body"].get("value", [])]

    def wait_for_completed(self, plan_id: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._completed_locked(plan_id)) >= count, timeout):
                raise TimeoutError(f"{len(self._completed_locked(plan_id))} TaskCompleted for plan {plan_id} after {timeout}s")
        return self.completed(plan_id)

    def wait_for_events(self, plan_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Any TaskCompleted POSTs (whatever they were answered)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len([r for r in self._received if r["planId"] == plan_id.lower()
                                                    and r["kind"] == "event"]) >= count, timeout):
                raise TimeoutError(f"fewer than {count} TaskCompleted POSTs for plan {plan_id} after {timeout}s")
        return self.received(plan_id, "event")

    def _completed_locked(self, plan_id: str) -> list[dict[str, Any]]:
        return [r for r in self._received if r["planId"] == plan_id.lower() and r["kind"] == "event" and 200 <= r["status"] < 300]

    def reset(self) -> None:
        with self._cond:
            self._received.clear()
            self._answers.clear()
            self._tokens.clear()
            self._refused.clear()
            self._cond.notify_all()

    # -- serving ----------------------------------------------------------------------------------

    @staticmethod
    def matches(low: list[str]) -> bool:
        return _route(low) is not None

    def serve(self, method: str, low: list[str], query: dict, headers: Any, body: bytes, rec: dict) -> Resp:
        route = _route(low)
        assert route is not None
        kind, ids = route
        rec["route"] = f"azdo-{kind}"
        entry: dict[str, Any] = {"kind": kind, **ids, "status": None, "body": None, "auth": None}
        status, answer = self._answer(method, kind, ids, query, headers, body, entry)
        entry["status"] = status
        with self._cond:
            self._received.append(entry)
            self._cond.notify_all()
        return json_response(status, answer)

    def _answer(self, method: str, kind: str, ids: dict[str, str], query: dict, headers: Any, body: bytes,
                entry: dict[str, Any]) -> tuple[int, Any]:
        if method != "POST":
            return 405, {"message": f"{method} is not supported here; POST."}
        entry["auth"] = self._auth(headers.get("Authorization"), ids["planId"])
        try:
            payload = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            payload = None
        entry["body"] = payload
        if entry["auth"] != "ok":
            return 401, {"message": "TF400813: The user is not authorized to access this resource."}
        if kind == "event":
            with self._cond:
                scripted = self._answers.get(ids["planId"])
                forced = scripted.popleft() if scripted else self._refused.get(ids["planId"])
            if forced is not None:
                return forced, {"message": f"scripted {forced}"} if forced >= 300 else None
        want = EVENTS_API_VERSION if kind == "event" else FEED_API_VERSION
        if query.get("api-version") != want:
            return 400, {"message": f"api-version must be {want}."}
        problem = self._check_body(kind, ids, payload)
        if problem:
            return 400, {"message": problem}
        return 200, None

    def _auth(self, header: str | None, plan_id: str) -> str:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic" or not value:
            return "missing"
        try:
            user, _, token = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "wrong"
        with self._cond:
            expected = self._tokens.get(plan_id)
        if user or not token or (expected is not None and not hmac.compare_digest(token.encode(), expected.encode())):
            return "wrong"
        return "ok"

    @staticmethod
    def _check_body(kind: str, ids: dict[str, str], payload: Any) -> str | None:
        if not isinstance(payload, dict):
            return "The body must be a JSON object."
        if kind == "feed":
            value = payload.get("value")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or payload.get("count") != len(value):
                return "A feed body is {\"value\": [lines], \"count\": n}."
            return None
        if payload.get("name") != "TaskCompleted":
            return "Only TaskCompleted is simulated."
        if not all(isinstance(payload.get(k), str) and payload[k] for k in ("taskId", "jobId")):
            return "TaskCompleted needs taskId and jobId."
        if payload.get("result") not in _RESULTS:
            return f"result must be one of {', '.join(_RESULTS)}."
        return None
