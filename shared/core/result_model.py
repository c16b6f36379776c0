"""A pydantic model of the result object (contract §3), for ``schemas/result.schema.json`` and the tools.

The watcher builds results as plain dicts (:func:`shared.core.result.build_result`)
and never imports this module: it exists so the published JSON Schema, the
tools that read results and the tests all check results against one
definition. Fields that are always present may be ``null``; the two
"present only when" cases are spelled as absent keys, not nulls:

* ``error``'s keys: the provider's keys it did not send are left out
  (``{code, message, target, details, innererror, additionalInfo}``, plus the
  watcher's ``httpStatus``);
* ``trimmed``: added by :func:`shared.core.trimming.fit_result` only when a result had
  to be trimmed to fit a sink.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from shared.core.result import OUTCOMES
from shared.core.sources import SOURCE_NAMES
from shared.core.trimming import TRIM_STEPS

__all__ = ["ErrorDetail", "ResultError", "Result", "RESULT_ADAPTER", "EVENT_ID_PATTERN"]

_CONFIG = ConfigDict(extra="forbid", strict=True)
#: An eventId: a lower-case UUID (uuid5, :func:`shared.core.result.event_id`).
EVENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _rfc3339(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError: pydantic reports it
    if moment.tzinfo is None:
        raise ValueError("must be RFC 3339 with a time zone")
    return value


#: An RFC 3339 time as the watcher writes it: a string (the TypedDict types what build_result returns).
_Moment = Annotated[str, AfterValidator(_rfc3339), Field(json_schema_extra={"format": "date-time"})]


@with_config(_CONFIG)
class ErrorDetail(TypedDict, total=False):
    """A provider error, normalised; keys the provider did not send are left out."""

    code: str
    message: str
    target: str
    details: list[ErrorDetail]
    innererror: Annotated[dict[str, Any], Field(description="The provider's innererror chain, as sent.")]
    additionalInfo: list[Any]


@with_config(_CONFIG)
class ResultError(ErrorDetail, total=False):
    """The operation's error; for PollingFailed and TimedOut, the watcher's own code and message."""

    httpStatus: Annotated[int, Field(description="HTTP status of the failed status read, where there was one.")]


@with_config(_CONFIG)
class Result(TypedDict):
    """One operation's outcome: the body of a results queue message, and the data of its CloudEvent."""

    eventId: Annotated[
        str,
        Field(
            pattern=EVENT_ID_PATTERN,
            json_schema_extra={"format": "uuid"},
            description=(
                "UUIDv5 of (source, the request's status URL without query, outcome): the same for every copy of "
                "one outcome, however often a Location moved."
            ),
        ),
    ]
    outcome: Annotated[Literal[OUTCOMES], Field(description="How the operation ended, as the watcher saw it.")]  # type: ignore[valid-type]
    status: Annotated[
        str | None,
        Field(description="The provider's last status, as returned; null for Location polling, which answers HTTP codes."),
    ]
    source: Annotated[Literal[SOURCE_NAMES], Field(description="From the request.")]  # type: ignore[valid-type]
    operationId: Annotated[
        str | None,
        Field(description="From the request; for arm, the last path segment of statusUrl."),
    ]
    statusUrl: Annotated[str, Field(description="The URL that was polled (the last one, when a Location moved).")]
    correlationId: Annotated[str | None, Field(max_length=256, description="Echoed from the request.")]
    context: Annotated[dict[str, Any] | None, Field(description="Echoed from the request.")]
    percentComplete: Annotated[float | None, Field(description="From the last status body.")]
    startTime: Annotated[str | None, Field(description="From the last status body, as sent.")]
    endTime: Annotated[str | None, Field(description="From the last status body, as sent.")]
    error: Annotated[ResultError | None, Field(description="The normalised error, or null.")]
    operation: Annotated[
        dict[str, Any] | None,
        Field(description="The last status body exactly as returned (Location: the final answer's JSON object body, if any)."),
    ]
    polls: Annotated[int, Field(ge=0, description="Status requests made, failed ones included.")]
    enqueuedAt: Annotated[_Moment, Field(description="When the watcher first saw the request (RFC 3339).")]
    completedAt: Annotated[_Moment, Field(description="When the outcome was decided (RFC 3339).")]
    trimmed: NotRequired[
        Annotated[
            list[Literal[TRIM_STEPS]],  # type: ignore[valid-type]
            Field(
                min_length=1,
                description="Present only when the result was too big for the sink: the trimming steps taken, in order.",
            ),
        ]
    ]


RESULT_ADAPTER: TypeAdapter[Result] = TypeAdapter(Result)
