"""The state that rides in the queue message: a validated request and its poll bookkeeping.

Size budget of a re-enqueued copy (contract §1): the request as written back is at most
:data:`~shared.core.message_text.MAX_REQUEST_BYTES`; ``poll`` without a moved ``statusUrl`` at
most :data:`POLL_RESERVE_BYTES` (``lastStatus`` is cut to a prefix, counts stay below 10^6);
a moved ``statusUrl`` only where the rest leaves room (:func:`copy_fits`). So every copy fits
Storage's 64 KiB (:data:`~shared.core.message_text.MAX_MESSAGE_BYTES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.core import jsonio
from shared.core.end_estimate import Trend, next_trend
from shared.core.message_text import MAX_MESSAGE_BYTES, written_bytes
from shared.core.sources import Source

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.core.azure_devops import AzureDevOpsCallback

__all__ = [
    "PollState",
    "WatchedRequest",
    "WatchedResource",
    "rfc3339",
    "kept_status",
    "copy_fits",
    "MAX_LAST_STATUS_CHARS",
    "MAX_LAST_STATUS_BYTES",
    "MAX_POLLS",
    "POLL_RESERVE_BYTES",
    "COPY_TTL_MARGIN_SECONDS",
]

#: ``poll.lastStatus`` keeps a prefix of the provider's status: at most this many characters ...
MAX_LAST_STATUS_CHARS = 256
#: ... and at most this many bytes as JSON text (quotes and escapes included).
MAX_LAST_STATUS_BYTES = 256
#: ``poll.polls`` and ``poll.failures`` stay below 10^6 (contract §1); the read that would pass it ends the operation.
MAX_POLLS = 999_999
#: The most ``,"poll":{...}`` takes without a moved ``statusUrl``: every field at its widest (about 460 bytes).
POLL_RESERVE_BYTES = 512
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: A re-enqueued copy lives this long past its deadline (and its delay), so a backlog cannot expire it.
COPY_TTL_MARGIN_SECONDS = 7 * 24 * 3600


def kept_status(status: str | None) -> str | None:
    """The prefix of ``status`` that ``poll.lastStatus`` keeps (:data:`MAX_LAST_STATUS_CHARS`, :data:`MAX_LAST_STATUS_BYTES`).

    A lone UTF-16 surrogate (a provider's ``\\ud800``) becomes U+FFFD: no validator reads it back as text.
    """
    if status is None:
        return None
    kept = _LONE_SURROGATE.sub("\ufffd", status[:MAX_LAST_STATUS_CHARS])
    while len(jsonio.dumps(kept).encode("utf-8")) > MAX_LAST_STATUS_BYTES:
        kept = kept[:-1]
    return kept


def copy_fits(body_bytes: int, poll_url: str | None) -> bool:
    """Whether a copy of a request written back in ``body_bytes`` fits a queue message with ``poll_url`` in its ``poll``."""
    url_bytes = 0 if poll_url is None else len(jsonio.dumps({"statusUrl": poll_url}).encode("utf-8")) - 1  # ,"statusUrl":"…"
    return body_bytes + POLL_RESERVE_BYTES + url_bytes <= MAX_MESSAGE_BYTES


def rfc3339(moment: datetime) -> str:
    """``2026-11-22T02:44:33.123Z`` (UTC, millisecond precision)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PollState:
    """What the watcher remembers between polls (the message's ``poll`` object)."""

    first_seen_at: datetime
    polls: int = 0
    failures: int = 0
    last_status: str | None = None
    last_http_status: int | None = None
    last_percent_complete: float | None = None  # the last successful read's percentComplete (progress events)
    percent_seen_at: datetime | None = None  # when a read first showed last_percent_complete (the schedule's trend)
    percent_rate: float | None = None  # percent per second between the first reads of the last two percentages
    read_slot_at: datetime | None = None  # put off for ARM's read budget: the slot this copy was given
    poll_url: str | None = None  # the URL to poll, when a Location poll moved it (JSON key statusUrl)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "firstSeenAt": rfc3339(self.first_seen_at),
            "polls": self.polls,
            "failures": self.failures,
            "lastStatus": self.last_status,
            "lastHttpStatus": self.last_http_status,
        }
        if self.last_percent_complete is not None:
            out["lastPercentComplete"] = self.last_percent_complete
        if self.percent_seen_at is not None:
            out["percentSeenAt"] = rfc3339(self.percent_seen_at)
        if self.percent_rate is not None:
            out["percentRate"] = self.percent_rate
        if self.read_slot_at is not None:
            out["readSlotAt"] = rfc3339(self.read_slot_at)
        if self.poll_url is not None:
            out["statusUrl"] = self.poll_url
        return out

    def after_read(
        self, *, ok: bool, status: str | None, http_status: int | None, percent_complete: float | None = None,
        now: datetime | None = None,
    ) -> PollState:
        """The state after one more status read at ``now`` (``ok`` False for a failed read, which keeps the
        last percentage and its trend; without ``now`` the trend is left as it was)."""
        trend = Trend(self.last_percent_complete, self.percent_seen_at, self.percent_rate)
        if ok and now is not None:
            trend = next_trend(trend, percent_complete, now)
        return replace(
            self,
            polls=self.polls + 1,
            failures=0 if ok else self.failures + 1,
            last_status=kept_status(status) if status is not None else self.last_status,
            last_http_status=http_status if http_status is not None and 100 <= http_status <= 999 else None,
            last_percent_complete=percent_complete if ok else self.last_percent_complete,
            percent_seen_at=trend.seen_at,
            percent_rate=trend.rate,
            read_slot_at=None,
        )

    @property
    def trend(self) -> Trend:
        """The progress history the schedule reads (:mod:`shared.core.end_estimate`)."""
        return Trend(self.last_percent_complete, self.percent_seen_at, self.percent_rate)


@dataclass(frozen=True)
class WatchedResource:
    """What a ``resourceId`` request names (contract section 2b), parsed with ARM's path grammar."""

    id: str  # the resourceId as the producer wrote it
    name: str
    type: str  # ARM's type, e.g. Microsoft.Resources/deployments
    wait_for: str  # "provisioned" or "deleted"
    is_deployment: bool  # a deployment's properties.error is the outcome's error
    url: str  # {ARM_ENDPOINT}{id}?api-version=..., canonical

    def projection(self, provisioning_state: str | None) -> dict[str, Any]:
        """The result's ``operation``: never the resource body, only these four fields."""
        return {"id": self.id, "name": self.name, "type": self.type, "provisioningState": provisioning_state}


@dataclass(frozen=True)
class WatchedRequest:
    """A request that passed validation, with everything needed to poll it."""

    source: Source
    body: dict[str, Any] = field(repr=False)  # the producer's fields, without ``poll``; re-enqueued as is (may hold a token)
    poll_url: str  # the URL this copy GETs: canonical, checked against the token rules
    scope: str  # token scope for poll_url
    operation_id: str | None
    correlation_id: str | None
    context: dict[str, Any] | None
    timeout_seconds: int
    poll: PollState
    expected_seconds: int | None = None  # the producer's estimate of the whole duration (a scheduling hint)
    status_header: str = "Azure-AsyncOperation"  # how reads are understood (contract section 2a)
    producer_url: str | None = None  # the producer's own statusUrl, kept once a Location moved poll_url away from it
    resource: WatchedResource | None = None  # set for a resourceId request: poll_url reads the resource
    callback: AzureDevOpsCallback | None = None  # Azure Pipelines to tell (contract section 3b); never in a result

    @property
    def operation_url(self) -> str:
        """The producer's status URL: what identifies the operation (eventId), however often it moved."""
        return self.producer_url or self.poll_url

    @cached_property
    def body_bytes(self) -> int:
        """The request as written back (compact JSON without ``poll``), in bytes."""
        return written_bytes(self.body)

    def room_for(self, poll_url: str | None) -> bool:
        """Whether this request's copy can carry ``poll_url`` as ``poll.statusUrl`` (:func:`copy_fits`)."""
        return copy_fits(self.body_bytes, poll_url)

    @property
    def deadline(self) -> datetime:
        return self.poll.first_seen_at + timedelta(seconds=self.timeout_seconds)

    def message_text(self, poll: PollState) -> str:
        """The queue message that carries this request on to its next poll."""
        return jsonio.dumps({**self.body, "poll": poll.to_json()})
