"""One queue message, start to end: parse, read the status, decide, act.

Every message ends in exactly one of: re-enqueued for its next poll (or, with ARM's read
budget low, re-enqueued unread for a later slot: :class:`shared.core.arm_budget.Defer`),
an outcome published to the sinks, or a poison entry with a reason. Both re-enqueues take
one path (:meth:`Watcher._reenqueue`) with one TTL rule. If acting fails (a queue or sink is down) the exception
propagates, the host retries the message, and the status is read again: the decision is the
same, and so is the eventId. Every log line names the operation (:mod:`shared.core.log_fields`).
Everything written out (results, progress events, feed lines, poison entries) goes through the
process's redactor first (:mod:`shared.edges.secrets`, contract §3); log lines through its filter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.core import jsonio
from shared.core.azure_devops import AzureDevOpsCallback, feed_line, outcome_line, task_result
from shared.core.decide import Publish, Reenqueue, decide
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.core.log_fields import fields_text, operation_fields
from shared.core.message_text import decode_message_text
from shared.core.poll_state import COPY_TTL_MARGIN_SECONDS, PollState, WatchedRequest, rfc3339
from shared.core.progress import ProgressUpdate
from shared.core.request_parser import RequestParser
from shared.core.settings import Settings
from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES
from shared.edges.azure_devops import Delivered, Refused
from shared.edges.budget_estimates import BudgetEstimates
from shared.edges.secrets import PROCESS_SECRETS, SecretKeeper
from shared.edges.telemetry import NO_METRICS, WatcherMetrics, detection_lag_seconds, subscription_of

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.core.result_model import Result

__all__ = ["Watcher", "Handled", "Action", "StatusReader", "RequestQueue", "ResultPublisher", "poison_entry", "utc_now"]

log = logging.getLogger("lro_watcher")
#: A re-enqueued copy lives this long past its deadline, so a backlog cannot expire it.
TTL_MARGIN_SECONDS = COPY_TTL_MARGIN_SECONDS
#: host.json's ``maxDequeueCount``: a failure at this dequeue sends the raw message (and a callback's
#: token with it) to the poison queue, so a callback that still fails then is given up instead.
HOST_MAX_DEQUEUE_COUNT = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class StatusReader(Protocol):
    """Reads an operation's status (:class:`shared.edges.status_client.StatusClient`); never raises."""

    def read(self, url: str, scope: str) -> StatusAnswer: ...


class RequestQueue(Protocol):
    """The operations and poison queues (:class:`shared.edges.queues.QueueGateway`)."""

    def enqueue(self, text: str) -> str: ...

    def reenqueue(self, text: str, delay_seconds: int, time_to_live_seconds: int) -> None: ...

    def poison(self, text: str) -> None: ...


class ResultPublisher(Protocol):
    """Every configured sink (:class:`shared.edges.sinks.Publisher`); a failure raises."""

    def publish(self, result: Result) -> None: ...


class CallbackSender(Protocol):
    """Azure Pipelines' plan endpoints (:class:`shared.edges.azure_devops.AzureDevOpsClient`)."""

    def append_feed(self, callback: AzureDevOpsCallback, line: str) -> None: ...

    def task_completed(self, callback: AzureDevOpsCallback, outcome: str) -> Delivered | Refused: ...


class ProgressSink(Protocol):
    """Where progress events go (the Event Grid sink): :meth:`EventGridSink.publish_progress`."""

    def publish_progress(self, event_id: str, data: dict[str, Any]) -> None: ...


#: What happened to a message: re-enqueued for its next read, deferred (re-enqueued unread: ARM's read
#: budget), its outcome published, or poisoned.
Action = Literal["reenqueued", "deferred", "published", "poisoned"]


class _FieldsText:
    """:func:`fields_text` of a message's fields, built only when a handler formats the line (its level is on)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __str__(self) -> str:
        return fields_text(self._fields)


@dataclass(frozen=True)
class Handled:
    """What happened to one message (for callers and tests)."""

    action: Action
    outcome: str | None = None
    delay_seconds: int | None = None


def poison_entry(raw: str | bytes, reason: str, rejected_at: str, fields: dict[str, Any]) -> str:
    """The poison entry of a rejected request: the contract's wrapper, plus the ids that find it.

    ``{"reason", "original", "rejectedAt"}`` (contract §3) gains ``messageId`` (the id of the
    rejected message, as its log line names it) and ``correlationId`` (when the original names
    one), so ``tools.poison --id`` / ``--correlation-id`` and a waiting ``tools.results`` find
    the entry. Without room for the ids, the bare wrapper; too big even for that, the message
    itself, as the host's own poisoning does.
    """
    original = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    wrapper = {"reason": reason, "original": original, "rejectedAt": rejected_at}
    ids = {key: fields.get(key) for key in ("messageId", "correlationId") if isinstance(fields.get(key), str)}
    for candidate in ({**wrapper, **ids}, wrapper):
        entry = jsonio.dumps(candidate)
        if len(entry.encode("utf-8")) <= MAX_QUEUE_MESSAGE_BYTES:
            return entry
    return original


class Watcher:
    """Handles request messages; built once per process by :mod:`shared.runtime`."""

    def __init__(
        self,
        settings: Settings,
        status: StatusReader,
        queues: RequestQueue,
        publisher: ResultPublisher,
        clock: Callable[[], datetime] = utc_now,
        progress: ProgressSink | None = None,
        callbacks: CallbackSender | None = None,
        metrics: WatcherMetrics = NO_METRICS,
        secrets: SecretKeeper = PROCESS_SECRETS,
    ) -> None:
        self.settings = settings
        self._parser = RequestParser(settings)
        self._status = status
        self._queues = queues
        self._publisher = publisher
        self._clock = clock
        self._progress = progress  # set only with PUBLISH_PROGRESS=true
        self._budget = BudgetEstimates(settings.arm_reads_reserve)  # ARM's read budget: the only state it keeps
        self._callbacks = callbacks
        self._metrics = metrics  # OpenTelemetry instruments with APPLICATIONINSIGHTS_CONNECTION_STRING, else no-ops
        self._secrets = secrets  # every output is redacted with what it holds (tokens, keys, callback tokens)

    @property
    def queues(self) -> RequestQueue:
        """The process's queue clients (the ``watch`` HTTP function enqueues through them too)."""
        return self._queues

    def handle(self, raw: str | bytes, dequeue_count: int = 1, *, message_id: str | None = None) -> Handled:
        now = self._clock()
        try:
            request = self._parser.parse(raw, now)
        except InvalidRequest as err:
            fields = operation_fields(None, message_id=message_id, dequeue_count=dequeue_count, raw=raw)
            self._poison(raw, err, now, fields)
            self._metrics.polled(str(fields["source"] or "unknown"), "rejected")
            return Handled("poisoned")
        fields = operation_fields(request, message_id=message_id, dequeue_count=dequeue_count)
        if request.callback is not None:
            self._secrets.remember(request.callback.auth_token)
        if request.callback is None or dequeue_count < HOST_MAX_DEQUEUE_COUNT:
            return self._watch(request, now, dequeue_count, fields)
        try:
            return self._watch(request, now, dequeue_count, fields)
        except Exception as error:
            # The host would now copy the raw message, job token and all, to the poison queue: write our own entry.
            reason = (f"Given up at attempt {dequeue_count} (host.json maxDequeueCount): {type(error).__name__}: "
                      f"{str(error).splitlines()[0][:200] if str(error) else ''}")
            self._poison(raw, InvalidRequest("message", reason), now, fields)
            return Handled("poisoned")

    def _watch(self, request: WatchedRequest, now: datetime, dequeue_count: int, fields: dict[str, Any]) -> Handled:
        """A valid request: read its status (unless ARM's read budget puts it off), decide, act."""
        deferred = self._budget.gate(request, now)
        if deferred is not None:
            self._reenqueue(request, deferred.poll, deferred.delay_seconds, now, fields)
            log.info("poll: ARM read budget low -> read in %ss %s", deferred.delay_seconds, _FieldsText(fields), extra=fields)
            self._metrics.polled(request.source.name, "deferred")
            return Handled("deferred", delay_seconds=deferred.delay_seconds)
        read = self._status.read(request.poll_url, request.scope)
        if read.http_status == 429:
            self._metrics.throttled(request.source.name, subscription_of(request.poll_url))
        answered_at = self._clock()  # the one clock read after the status read: the schedule counts from the answer
        self._budget.observe(request, read, answered_at)
        decision = decide(request, read, answered_at, self.settings)
        if isinstance(decision, Reenqueue):
            self._reenqueue(request, decision.poll, decision.delay_seconds, now, fields)
            log.info(
                "poll: status=%s http=%s -> again in %ss (%s) %s",
                decision.status, read.http_status, decision.delay_seconds, decision.why, _FieldsText(fields), extra=fields,
            )
            self._metrics.polled(request.source.name, "again")
            if request.poll.polls == 0:
                self._metrics.started(request.source.name)
            if decision.progress is not None:
                self._publish_progress(decision.progress, fields)
            if request.callback is not None:
                line = feed_line(answered_at, decision.status, decision.poll.last_percent_complete,
                                 decision.delay_seconds, decision.why)
                self._append_feed(request.callback, line, fields)
            return Handled("reenqueued", delay_seconds=decision.delay_seconds)
        assert isinstance(decision, Publish)
        result = self._secrets.object(decision.result)
        fields["eventId"] = result["eventId"]
        with self._logged_failure("publish", fields):
            self._publisher.publish(result)
        log.info(
            "poll: status=%s http=%s -> %s (%s polls) %s",
            result["status"], read.http_status, decision.outcome, result["polls"], _FieldsText(fields),
            extra=fields,
        )
        self._metrics.polled(request.source.name, decision.outcome)
        self._metrics.finished(request.source.name, decision.outcome, int(result["polls"]),
                               detection_lag_seconds(result), was_in_flight=request.poll.polls > 0)
        if request.callback is not None:
            self._complete_task(request.callback, result, answered_at, dequeue_count, fields)
        return Handled("published", outcome=decision.outcome)

    def _append_feed(self, callback: AzureDevOpsCallback, line: str, fields: dict[str, Any]) -> None:
        """Best effort: a line that does not reach the task's live log is logged and never fails the poll."""
        if self._callbacks is None:
            return
        try:
            self._callbacks.append_feed(callback, self._secrets.text(line))
        except Exception as err:  # noqa: BLE001 - any failure: the poll already succeeded
            log.warning("Azure Pipelines log line not appended: %s: %s %s", type(err).__name__,
                        str(err).split("\n", 1)[0][:300], _FieldsText(fields), extra=fields)

    def _complete_task(self, callback: AzureDevOpsCallback, result: Result, now: datetime, dequeue_count: int,
                       fields: dict[str, Any]) -> None:
        """After the sinks: the outcome line, then TaskCompleted (contract section 3b).

        A transient failure raises, so the message is retried like a failed sink (same eventId);
        a refusal (401/403/404) is logged once and not retried; at host.json's last dequeue a
        failure is given up rather than let the host poison a message holding the token.
        """
        if self._callbacks is None:
            return
        self._append_feed(callback, outcome_line(now, result), fields)
        try:
            answer = self._callbacks.task_completed(callback, result["outcome"])
        except Exception as error:
            text = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
            if dequeue_count >= HOST_MAX_DEQUEUE_COUNT:
                log.error("TaskCompleted not delivered at attempt %s, given up (the outcome is in the sinks): %s %s",
                          dequeue_count, text, _FieldsText(fields), extra=fields)
                return
            log.error("TaskCompleted failed, the message will be retried: %s %s", text, _FieldsText(fields), extra=fields)
            raise
        if isinstance(answer, Refused):
            log.warning("TaskCompleted refused by Azure DevOps (HTTP %s, %s), not retried; the outcome is in the sinks %s",
                        answer.http_status, answer.where, _FieldsText(fields), extra=fields)
            return
        log.info("TaskCompleted %s sent to Azure Pipelines (HTTP %s) %s", task_result(result["outcome"]),
                 answer.http_status, _FieldsText(fields), extra=fields)

    def _reenqueue(self, request: WatchedRequest, poll: PollState, delay: int, now: datetime, fields: dict[str, Any]) -> None:
        """The one way a request goes back to the queue (a next poll, or a read deferred for ARM's budget).

        The copy lives until its deadline plus the delay plus :data:`TTL_MARGIN_SECONDS`, so a backlog cannot expire it.
        """
        ttl = int((request.deadline - now).total_seconds()) + delay + TTL_MARGIN_SECONDS
        with self._logged_failure("re-enqueue", fields):
            self._queues.reenqueue(request.message_text(poll), delay, ttl)

    def _publish_progress(self, update: ProgressUpdate, fields: dict[str, Any]) -> None:
        """Best effort, after the re-enqueue: a failed progress event is logged and never fails the poll."""
        if self._progress is None:
            return
        data = self._secrets.object(update.data)
        try:
            self._progress.publish_progress(update.event_id, data)
        except Exception as err:  # noqa: BLE001 - any failure: the poll already succeeded
            log.warning("progress event %s not published: %s: %s %s", update.event_id, type(err).__name__,
                        str(err).split("\n", 1)[0][:300], _FieldsText(fields), extra=fields)

    @contextmanager
    def _logged_failure(self, action: str, fields: dict[str, Any]) -> Iterator[None]:
        """A failed write names the operation before the exception goes to the host (which retries the message)."""
        try:
            yield
        except Exception as error:
            log.error("%s failed, the message will be retried: %s: %s %s", action, type(error).__name__,
                      str(error).split("\n", 1)[0][:300], _FieldsText(fields), extra=fields)
            raise

    def _poison(self, raw: str | bytes, err: InvalidRequest, now: datetime, fields: dict[str, Any]) -> None:
        original = _without_callback_token(raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace"))
        entry = poison_entry(self._secrets.text(original), self._secrets.text(err.reason), rfc3339(now), fields)
        with self._logged_failure("poison", fields):
            self._queues.poison(entry)
        log.warning("rejected request (field %s): %s %s", err.field, err.reason, _FieldsText(fields), extra=fields)


def _without_callback_token(original: str) -> str:
    """The rejected text with ``callback.azureDevOps.authToken`` replaced by ``[redacted]`` wherever it appears."""
    try:
        body = decode_message_text(original)  # raw JSON or base64 of it, as the parser read it
    except InvalidRequest:
        return original
    token = None
    if isinstance(body, dict) and isinstance(body.get("callback"), dict):
        devops = body["callback"].get("azureDevOps")
        token = devops.get("authToken") if isinstance(devops, dict) else None
    if not isinstance(token, str) or not token:
        return original
    body["callback"]["azureDevOps"]["authToken"] = "[redacted]"
    return jsonio.dumps(body).replace(token, "[redacted]")
