"""The ``watch`` HTTP function, composed: admit the POST (:mod:`shared.core.front_door`), enqueue, answer.

The request goes onto the operations queue through the process's own
:class:`~shared.edges.queues.QueueGateway` (the app's identity, the same raw-JSON encoding as
every other write) before the answer: 200 means the message is on the queue. A queue
that is down is a 503, so Azure Pipelines fails the task instead of waiting for a callback
that will never come. Every log line names the operation; none holds the AuthToken.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from shared.core import jsonio
from shared.core.azure_devops import CALLBACK_HEADERS
from shared.core.front_door import Accepted, admit
from shared.core.log_fields import fields_text, operation_fields
from shared.core.request_parser import RequestParser
from shared.core.settings import Settings
from shared.edges.secrets import PROCESS_SECRETS, SecretKeeper

if TYPE_CHECKING:  # pragma: no cover
    import azure.functions as func

__all__ = ["FrontDoor", "Enqueuer"]

log = logging.getLogger("lro_watcher")
_TOKEN_HEADER = next(header for header, key in CALLBACK_HEADERS.items() if key == "authToken").lower()


class Enqueuer(Protocol):
    """Puts a new request on the operations queue (:meth:`shared.edges.queues.QueueGateway.enqueue`)."""

    def enqueue(self, text: str) -> str: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FrontDoor:
    """Turns one POST /api/watch into one queued request or a 400; built once per process by the runtime."""

    def __init__(
        self, settings: Settings, queues: Enqueuer, clock: Callable[[], datetime] = _utc_now,
        secrets: SecretKeeper = PROCESS_SECRETS,
    ) -> None:
        self._parser = RequestParser(settings)
        self._queues = queues
        self._clock = clock
        self._secrets = secrets

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, object]]:
        """(HTTP status, JSON answer) for one POST."""
        token = next((value.strip() for name, value in headers.items() if str(name).lower() == _TOKEN_HEADER), None)
        self._secrets.remember(token)  # every output (this answer, the log lines) redacts it from now on
        decision = admit(body, headers, self._parser, self._clock(), new_correlation_id=str(uuid.uuid4()))
        if not isinstance(decision, Accepted):
            reason = self._secrets.text(decision.reason)  # belt and braces: the reasons never quote a value
            log.warning("watch: rejected (field %s): %s", decision.field, reason, extra={"field": decision.field})
            return 400, {"error": reason}
        fields = operation_fields(decision.request, message_id=None, dequeue_count=0)
        try:
            fields["messageId"] = self._queues.enqueue(decision.text)
        except Exception as error:  # noqa: BLE001 - any failure: the caller is told, nothing was accepted
            log.error("watch: enqueue failed: %s %s", type(error).__name__, fields_text(fields), extra=fields)
            return 503, {"error": "The request could not be put on the operations queue; try again."}
        how = "with an Azure Pipelines callback" if decision.request.callback is not None else "without a callback"
        log.info("watch: accepted %s %s", how, fields_text(fields), extra=fields)
        return 200, decision.answer

    def respond(self, req: func.HttpRequest) -> func.HttpResponse:
        """The Functions binding's view: ``func.HttpRequest`` in, ``func.HttpResponse`` (JSON) out."""
        import azure.functions as func

        status, answer = self.handle(req.get_body() or b"", req.headers)
        return func.HttpResponse(jsonio.dumps(answer), status_code=status, mimetype="application/json", charset="utf-8")

