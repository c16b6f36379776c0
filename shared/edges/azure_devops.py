"""Azure Pipelines' plan endpoints (contract §3b): the live log feed and TaskCompleted, through the process's transport.

The URLs and bodies come from :mod:`shared.core.azure_devops`; this module only sends
them, with ``Authorization: Basic base64(":" + authToken)``, never following a redirect
(:mod:`shared.edges.http`). How an answer is taken:

* 2xx (but 203, which is Azure DevOps' sign-in page for a token it does not accept): delivered;
* 408, 429, 5xx, no answer: :class:`~shared.core.errors.PublishError`, so the message is
  retried like a failed sink, with the same eventId;
* 401, 403, 404, any other 4xx, 203 or a 3xx: :class:`Refused` is returned: Azure DevOps
  will never take this event (the run was cancelled, the token expired, the plan is
  gone). The watcher logs it once and does not retry; the sinks already have the outcome.

No exception text or log line made here holds the token: errors name the host, the plan
and the HTTP status only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.core import jsonio
from shared.core.azure_devops import AzureDevOpsCallback, feed_body, is_permanent_refusal, task_completed_body
from shared.core.errors import PublishError
from shared.edges.http import HttpTransport, TransportError

__all__ = ["AzureDevOpsClient", "Delivered", "Refused", "FeedFailed"]

#: Only the start of an answer is read: nothing in it is used but its status.
_ANSWER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Delivered:
    """Azure DevOps took the event."""

    http_status: int


@dataclass(frozen=True)
class Refused:
    """Azure DevOps will never take this event (401, 403, 404, ...): log once, do not retry."""

    http_status: int
    where: str  # host and plan, for the log line


class FeedFailed(Exception):
    """A live log line was not appended (best effort: the caller logs it and goes on)."""


def _where(callback: AzureDevOpsCallback) -> str:
    return f"{urlsplit(callback.plan_url).netloc} plan {callback.plan_id}"


class AzureDevOpsClient:
    """Sends feed lines and TaskCompleted; one per process (built by :mod:`shared.runtime`)."""

    def __init__(self, http: HttpTransport) -> None:
        self._http = http

    def _post(self, callback: AzureDevOpsCallback, url: str, body: dict[str, object]) -> int:
        headers = {
            "Authorization": callback.authorization(),
            "Content-Type": "application/json; charset=utf-8",
        }
        response = self._http.request("POST", url, headers, jsonio.dumps(body).encode("utf-8"), max_body=_ANSWER_BYTES)
        return response.status

    def append_feed(self, callback: AzureDevOpsCallback, line: str) -> None:
        """One line on the job's live log; raises :class:`FeedFailed` (no token in its text) when not taken."""
        try:
            status = self._post(callback, callback.feed_url, feed_body(line))
        except TransportError as error:
            raise FeedFailed(f"{_where(callback)}: {error}") from None
        if not 200 <= status < 300 or status == 203:
            raise FeedFailed(f"{_where(callback)}: HTTP {status}")

    def task_completed(self, callback: AzureDevOpsCallback, outcome: str) -> Delivered | Refused:
        """TaskCompleted with ``succeeded``/``failed``; :class:`PublishError` when it should be tried again."""
        where = _where(callback)
        try:
            status = self._post(callback, callback.events_url, task_completed_body(callback, outcome))
        except TransportError as error:
            raise PublishError(f"Azure DevOps TaskCompleted to {where}: no answer ({error})") from None
        if 200 <= status < 300 and status != 203:
            return Delivered(status)
        if status == 203 or 300 <= status < 400 or is_permanent_refusal(status):
            return Refused(status, where)
        raise PublishError(f"Azure DevOps TaskCompleted to {where}: HTTP {status}")
