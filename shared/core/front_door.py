"""The ``watch`` HTTP function's decision, pure: a POST's body and headers -> the message to enqueue, or a 400.

The body is a request exactly as on the queue and is validated by the same
:class:`~shared.core.request_parser.RequestParser`. Azure Pipelines' eight headers (all or
none, any case) become ``callback.azureDevOps`` (:mod:`shared.core.azure_devops`). No status
is read here: the answer comes well inside Azure Pipelines' 20-second limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.core import jsonio
from shared.core.azure_devops import callback_from_headers
from shared.core.errors import InvalidRequest
from shared.core.message_text import decode_message_text
from shared.core.poll_state import WatchedRequest
from shared.core.request_parser import RequestParser

__all__ = ["Accepted", "Rejected", "admit"]


@dataclass(frozen=True)
class Accepted:
    """Enqueue ``text``; answer 200 ``{"accepted": true, "correlationId": ...}``."""

    text: str
    request: WatchedRequest

    @property
    def answer(self) -> dict[str, object]:
        return {"accepted": True, "correlationId": self.request.correlation_id}


@dataclass(frozen=True)
class Rejected:
    """Answer 400 ``{"error": reason}``; nothing is enqueued."""

    field: str
    reason: str

    @property
    def answer(self) -> dict[str, object]:
        return {"error": self.reason}


def admit(
    body: bytes, headers: Mapping[str, str], parser: RequestParser, now: datetime, *, new_correlation_id: str
) -> Accepted | Rejected:
    """Validate one POST; ``new_correlation_id`` names a request that brings none (so its result can be found)."""
    try:
        callback = callback_from_headers(headers)
        if not body.strip():  # whitespace only is empty too (not "base64 that encodes nothing")
            raise InvalidRequest("body", "The body is empty: POST the request JSON, as it would be written to the queue.")
        request = decode_message_text(body)
        if "poll" in request:
            raise InvalidRequest("poll", "Field 'poll' is the watcher's own bookkeeping; producers omit it.")
        if callback is not None:
            if "callback" in request:
                raise InvalidRequest(
                    "callback",
                    "Field 'callback' is written from Azure Pipelines' headers; send the headers or the field, not both.",
                )
            request["callback"] = {"azureDevOps": callback}
        if request.get("correlationId") is None:
            request["correlationId"] = new_correlation_id
        text = jsonio.dumps(request)
        return Accepted(text, parser.parse(text, now))
    except InvalidRequest as err:
        return Rejected(err.field, err.reason)
