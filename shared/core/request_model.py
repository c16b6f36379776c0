"""Pydantic models of the request message, built from the source table, and what each common field must be.

One model per source (``ApimRequest``, ``DevcenterRequest``, ...) joined in a
union discriminated by ``source``: the same models validate queue messages,
the enqueue CLI's input and generate ``schemas/request.schema.json``. The
sentences that say what a field must be live beside the models: the source
fields' in :mod:`shared.core.sources` (``FieldRule.says``), the common fields'
in :data:`COMMON_SAYS`; :mod:`shared.core.request_parser` turns a validation
error into one of them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter, create_model

from shared.core.poll_state import MAX_LAST_STATUS_CHARS, MAX_POLLS
from shared.core.settings import MAX_TIMEOUT_SECONDS
from shared.core.sources import SOURCE_NAMES, SOURCES, FieldRule, Source

__all__ = [
    "PollModel",
    "AzureDevOpsModel",
    "CallbackModel",
    "REQUEST_MODELS",
    "REQUEST_ADAPTER",
    "COMMON_FIELDS",
    "COMMON_SAYS",
]

_SECONDS = f"a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS} ({MAX_TIMEOUT_SECONDS // 86400} days)"
#: What each common field must be: completes "Field 'x' must ..." in the parser's error sentences.
COMMON_SAYS = {
    "source": f"be one of {', '.join(SOURCE_NAMES)}",
    "apiVersion": "be a non-empty api-version such as '2024-05-01'",
    "correlationId": "be a string of at most 256 characters",
    "context": "be a JSON object",
    "timeoutSeconds": f"be {_SECONDS}",
    "expectedSeconds": f"be {_SECONDS}",
    "callback": "be a JSON object {\"azureDevOps\": {...}}",
}
_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)
#: RFC 3339 date-time: a date, 'T', a time (fraction optional) and a zone ('Z' or an offset), nothing else.
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> datetime:
    """An RFC 3339 string as an aware datetime; never a number, a date alone or a time without a zone."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time string such as '2026-11-22T02:44:33.123Z'")
    date, time, fraction, zone = match.groups()
    zone = "+00:00" if zone in "Zz" else zone
    return datetime.fromisoformat(f"{date}T{time}{'.' + fraction[:6].ljust(6, '0') if fraction else ''}{zone}")


_Moment = Annotated[datetime, BeforeValidator(_rfc3339)]
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    """A lone UTF-16 surrogate as U+FFFD (as :func:`~shared.core.poll_state.kept_status` writes it; older copies may hold one)."""
    return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


class PollModel(BaseModel):
    """The watcher's own bookkeeping on re-enqueued copies; producers omit it."""

    # Checked like any field (contract §1); the watcher's own copies always pass. The parser adds
    # the checks that need the time of reading (firstSeenAt, readSlotAt).
    model_config = _CONFIG

    firstSeenAt: Annotated[_Moment, Field(description="When the watcher first saw the request (RFC 3339).")]
    polls: Annotated[int, Field(ge=0, le=MAX_POLLS, description="Status requests made so far, failed ones included.")] = 0
    failures: Annotated[int, Field(ge=0, le=MAX_POLLS, description="Consecutive failed status reads.")] = 0
    lastStatus: Annotated[
        Annotated[str, StringConstraints(max_length=MAX_LAST_STATUS_CHARS)] | None,
        BeforeValidator(_without_lone_surrogates),
        Field(description="A prefix of the provider's last status value (at most 256 characters)."),
    ] = None
    lastHttpStatus: Annotated[int | None, Field(ge=100, le=999, description="HTTP status of the last read, if any.")] = None
    lastPercentComplete: Annotated[
        float | None, Field(ge=0, le=100, allow_inf_nan=False, description="percentComplete of the last successful read, if any.")
    ] = None
    percentSeenAt: Annotated[
        _Moment | None, Field(description="When a read first showed lastPercentComplete (RFC 3339).")
    ] = None
    percentRate: Annotated[
        float | None,
        Field(strict=True, gt=0, le=100, description="percentComplete per second between the first reads of the last two percentages."),
    ] = None
    readSlotAt: Annotated[
        _Moment | None, Field(description="Put off for ARM's read budget: when this copy may read (RFC 3339).")
    ] = None
    statusUrl: Annotated[
        str | None,
        Field(description="The URL polled now, when a Location poll moved it (checked by the same rules as the request's)."),
    ] = None


#: '/', '\\', '?', '#', a control character or DEL: one regex scan instead of a loop per character.
_NOT_IN_SEGMENT = re.compile(r"[/\\?#\x00-\x1f\x7f]")


def _path_segment(value: str) -> str:
    if value in (".", "..") or _NOT_IN_SEGMENT.search(value) is not None:
        raise ValueError("must be a single path segment: no '/', '\\', '?', '#', control characters, '.' or '..'")
    return value


_Segment = Annotated[str, StringConstraints(min_length=1, max_length=512), AfterValidator(_path_segment)]


class AzureDevOpsModel(BaseModel):
    """Azure Pipelines' callback (contract §3b): the eight headers AzureFunction@1 sends, all required."""

    model_config = _CONFIG

    planUrl: Annotated[
        str, StringConstraints(min_length=1, max_length=2048),
        Field(description="$(System.CollectionUri), e.g. https://dev.azure.com/contoso/; host per CALLBACK_HOST_ALLOWLIST."),
    ]
    projectId: Annotated[_Segment, Field(description="$(System.TeamProjectId).")]
    hubName: Annotated[_Segment, Field(description="$(System.HostType): build or release.")]
    planId: Annotated[_Segment, Field(description="$(System.PlanId).")]
    jobId: Annotated[_Segment, Field(description="$(System.JobId).")]
    timelineId: Annotated[_Segment, Field(description="$(System.TimelineId).")]
    taskInstanceId: Annotated[_Segment, Field(description="$(System.TaskInstanceId).")]
    authToken: Annotated[
        str, StringConstraints(min_length=1, max_length=16384),
        Field(description="$(System.AccessToken): a secret, never in a result, event, log line or poison reason."),
    ]


class CallbackModel(BaseModel):
    """Where to report the outcome besides the sinks; written by the watch HTTP function."""

    model_config = _CONFIG

    azureDevOps: AzureDevOpsModel


def _field_type(rule: FieldRule) -> Any:
    constraints = StringConstraints(min_length=rule.min_length, max_length=rule.max_length, pattern=rule.pattern)
    if rule.kind == "segment":
        return Annotated[str, constraints, AfterValidator(_path_segment)]
    if not rule.required:
        return Annotated[str, constraints] | None
    return Annotated[str, constraints]


#: Fields every source accepts: name -> (type, Field); what each must be is :data:`COMMON_SAYS`.
COMMON_FIELDS: dict[str, tuple[Any, Any]] = {
    "apiVersion": (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] | None,
        Field(default=None, description="Overrides the source's default api-version."),
    ),
    "correlationId": (
        Annotated[str, StringConstraints(max_length=256)] | None,
        Field(default=None, description="Echoed in the result; at most 256 characters."),
    ),
    "context": (
        dict[str, Any] | None,  # nested at most 64 levels: checked as the text is read (shared.core.message_text)
        Field(default=None, description="Any JSON object, nested at most 64 levels; echoed in the result."),
    ),
    "timeoutSeconds": (
        Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None,
        Field(default=None, description=f"Deadline in seconds from when the watcher first saw the request (1 to {MAX_TIMEOUT_SECONDS})."),
    ),
    "expectedSeconds": (
        Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None,
        Field(default=None, description=f"The producer's estimate of the whole duration in seconds (1 to {MAX_TIMEOUT_SECONDS}); a scheduling hint only."),
    ),
    "callback": (
        CallbackModel | None,
        Field(default=None, description="Report the outcome to Azure Pipelines too (contract section 3b); written by the watch HTTP function."),
    ),
    "poll": (
        PollModel | None,
        Field(default=None, description="Written by the watcher on re-enqueued copies; producers omit it."),
    ),
}


def _model_for(source: Source) -> type[BaseModel]:
    fields: dict[str, Any] = {"source": (Literal[source.name], Field(description="Which status API to poll."))}
    for rule in source.fields:
        default = ... if rule.required else None
        fields[rule.name] = (_field_type(rule), Field(default=default, description=f"Must {rule.says}."))
    fields.update(COMMON_FIELDS)
    title = "".join(part.capitalize() for part in source.name.split("_")) + "Request"
    config = _CONFIG
    if source.one_of or source.needs:
        extra: dict[str, Any] = {}
        if source.one_of:
            extra["oneOf"] = [{"required": [name]} for name in source.one_of]
        if source.needs:
            extra["dependentRequired"] = {name: [needed] for name, needed in source.needs}
        config = ConfigDict(**_CONFIG, json_schema_extra=extra)
    return create_model(title, __config__=config, **fields)


REQUEST_MODELS: dict[str, type[BaseModel]] = {name: _model_for(source) for name, source in SOURCES.items()}
# The union is built at run time from the table, so no static type can name it (hence Any for mypy).
_REQUEST_UNION: Any = Annotated[Union[tuple(REQUEST_MODELS.values())], Field(discriminator="source")]  # noqa: UP007
REQUEST_ADAPTER: TypeAdapter[Any] = TypeAdapter(_REQUEST_UNION)
