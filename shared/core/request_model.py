"""Pydantic models of the request message, built from the source table.

One model per source (``ApimRequest``, ``DevcenterRequest``, ...) joined in a
union discriminated by ``source``: the same models validate queue messages,
the enqueue CLI's input and generate ``schemas/request.schema.json``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, create_model

from shared.core.sources import SOURCES, FieldRule, Source

__all__ = [
    "PollModel",
    "AzureDevOpsModel",
    "CallbackModel",
    "REQUEST_MODELS",
    "REQUEST_ADAPTER",
    "COMMON_FIELDS",
    "MAX_TIMEOUT_SECONDS",
]

MAX_TIMEOUT_SECONDS = 2_592_000
_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)


class PollModel(BaseModel):
    """The watcher's own bookkeeping on re-enqueued copies; producers omit it."""

    model_config = _CONFIG

    firstSeenAt: Annotated[datetime, Field(strict=False, description="When the watcher first saw the request (RFC 3339).")]
    polls: Annotated[int, Field(ge=0, description="Status requests made so far, failed ones included.")] = 0
    failures: Annotated[int, Field(ge=0, description="Consecutive failed status reads.")] = 0
    lastStatus: Annotated[str | None, Field(description="The provider's last status value.")] = None
    lastHttpStatus: Annotated[int | None, Field(description="HTTP status of the last read, if any.")] = None
    lastPercentComplete: Annotated[
        float | None, Field(strict=False, ge=0, le=100, description="percentComplete of the last successful read, if any.")
    ] = None
    percentSeenAt: Annotated[
        datetime | None, Field(strict=False, description="When a read first showed lastPercentComplete (RFC 3339).")
    ] = None
    percentRate: Annotated[
        float | None,
        Field(strict=True, gt=0, le=100, description="percentComplete per second between the first reads of the last two percentages."),
    ] = None
    readSlotAt: Annotated[
        datetime | None, Field(strict=False, description="Put off for ARM's read budget: when this copy may read (RFC 3339).")
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


#: Fields every source accepts: name -> (type, Field). ``says`` texts feed error sentences.
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
        dict[str, Any] | None,
        Field(default=None, description="Any JSON object; echoed in the result."),
    ),
    "timeoutSeconds": (
        Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None,
        Field(default=None, description="Deadline in seconds from when the watcher first saw the request (1 to 2592000)."),
    ),
    "expectedSeconds": (
        Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None,
        Field(default=None, description="The producer's estimate of the whole duration in seconds (1 to 2592000); a scheduling hint only."),
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
