"""Queue text -> :class:`WatchedRequest`, or :class:`InvalidRequest` with one sentence naming the field.

Accepts raw JSON and base64-of-JSON (many producers base64 by habit). Nothing
here does IO: an invalid request is rejected before any request leaves the process.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from shared.core import arm_paths
from shared.core.azure_devops import MAX_CALLBACK_TIMEOUT_SECONDS, AzureDevOpsCallback
from shared.core.errors import InvalidRequest
from shared.core.message_text import decode_message_text, written_bytes
from shared.core.poll_state import (
    COPY_TTL_MARGIN_SECONDS,
    PollState,
    WatchedRequest,
    WatchedResource,
    copy_fits,
    kept_status,
    rfc3339,
)
from shared.core.request_model import COMMON_FIELDS, COMMON_SAYS, REQUEST_ADAPTER, PollModel
from shared.core.settings import MAX_TIMEOUT_SECONDS, MAX_VISIBILITY_SECONDS, Settings
from shared.core.sources import SOURCE_FIELDS, SOURCE_NAMES, SOURCES, WAIT_FOR, Source, canonical_status_header
from shared.core.status_urls import StatusUrlRules, with_api_version
from shared.core.urls import checked_url

__all__ = ["RequestParser"]

_KNOWN_FIELDS = {"source", *SOURCE_FIELDS, *COMMON_FIELDS}
_TYPE_WORDS = {"string_type": "a string", "int_type": "a whole number", "dict_type": "a JSON object", "model_type": "a JSON object"}


class RequestParser:
    """Validates request messages against the contract and the settings (built once per process)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._rules = StatusUrlRules(settings)

    def parse(self, raw: str | bytes, now: datetime) -> WatchedRequest:
        body = decode_message_text(raw)
        try:
            model = REQUEST_ADAPTER.validate_python(body)
        except ValidationError as err:
            raise _invalid_from(err, body) from None
        source = SOURCES[model.source]
        _check_one_of(source, model)
        poll = _poll_state(model.poll, now) if model.poll is not None else PollState(first_seen_at=now)
        callback = self._callback(model)
        timeout_seconds = model.timeoutSeconds or self._settings.poll_default_timeout_seconds
        if callback is not None:
            if model.timeoutSeconds is not None and model.timeoutSeconds > MAX_CALLBACK_TIMEOUT_SECONDS:
                raise InvalidRequest(
                    "timeoutSeconds",
                    f"Field 'timeoutSeconds' must be at most {MAX_CALLBACK_TIMEOUT_SECONDS} (48 hours, the life of "
                    f"Azure Pipelines' job token) with 'callback'; got {model.timeoutSeconds}.",
                )
            timeout_seconds = min(timeout_seconds, MAX_CALLBACK_TIMEOUT_SECONDS)
        resource = self._resource(model)
        if resource is not None:
            status_url, scope = resource.url, self._settings.arm_scope
        else:
            status_url, scope = self._status_url(source, model)
        polled_url, scope, poll = self._moved_url(source, model, status_url, scope, poll, body)
        header = getattr(model, "statusHeader", None)
        return WatchedRequest(
            source=source,
            body={key: value for key, value in body.items() if key != "poll"},
            poll_url=polled_url,
            scope=scope,
            operation_id=(
                getattr(model, source.operation_id_field)
                if source.operation_id_field
                else resource.name
                if resource is not None
                else status_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            ),
            correlation_id=model.correlationId,
            context=model.context,
            timeout_seconds=timeout_seconds,
            poll=poll,
            expected_seconds=model.expectedSeconds,
            status_header=canonical_status_header(header) if header else source.status_header,
            producer_url=status_url if polled_url != status_url else None,
            resource=resource,
            callback=callback,
        )

    def _callback(self, model: Any) -> AzureDevOpsCallback | None:
        """``callback.azureDevOps`` with its planUrl checked against CALLBACK_HOST_ALLOWLIST (the token goes there)."""
        if model.callback is None:
            return None
        devops = model.callback.azureDevOps
        field = "callback.azureDevOps.planUrl"
        plan_url = checked_url(devops.planUrl, field=field, allowed=self._settings.callback_host_allowlist)
        if "?" in plan_url:
            raise InvalidRequest(field, f"Field '{field}' must not contain a query string.")
        return AzureDevOpsCallback(
            plan_url=plan_url, project_id=devops.projectId, hub_name=devops.hubName, plan_id=devops.planId,
            job_id=devops.jobId, timeline_id=devops.timelineId, task_instance_id=devops.taskInstanceId,
            auth_token=devops.authToken,
        )

    def _resource(self, model: Any) -> WatchedResource | None:
        """The resource a ``resourceId`` request names, parsed with ARM's grammar, and the URL that reads it."""
        resource_id = getattr(model, "resourceId", None)
        if resource_id is None:
            return None
        try:
            parsed = arm_paths.resource_id(resource_id)
        except arm_paths.ArmPathError as err:
            raise InvalidRequest("resourceId", f"Field 'resourceId' is not an ARM resource id: {err}.") from None
        if model.apiVersion is None:
            raise InvalidRequest(
                "resourceId", "Field 'resourceId' needs 'apiVersion': the resource type's api-version, such as '2024-03-01'."
            )
        url = with_api_version(self._settings.arm_endpoint + resource_id, model.apiVersion, "resourceId")
        allowed = self._rules.allowed(SOURCES["arm"])
        url = checked_url(url, field="resourceId", allowed=allowed)
        wait_for = (model.waitFor or WAIT_FOR[0]).lower()
        return WatchedResource(id=resource_id, name=parsed.name, type=parsed.type, wait_for=wait_for,
                               is_deployment=parsed.is_deployment, url=url)

    def _status_url(self, source: Source, model: Any) -> tuple[str, str]:
        """The request's own status URL, canonical, and its token scope."""
        api_version = model.apiVersion or source.default_api_version
        if source.base == "statusUrl":
            return self._rules.check(source, model.statusUrl, field="statusUrl", api_version=api_version)
        allowed = self._rules.allowed(source)
        if source.base == "arm":
            base = self._settings.arm_endpoint
        else:
            base = checked_url(getattr(model, source.base), field=source.base, allowed=allowed)
            if source.path and "?" in base:
                raise InvalidRequest(source.base, f"Field '{source.base}' must not contain a query string.")
            base = base.rstrip("/") if source.path else base
        segments = {rule.name: quote(getattr(model, rule.name), safe="") for rule in source.fields if rule.kind == "segment"}
        url = with_api_version(base + source.path.format(**segments), api_version, source.base)
        field = source.base if source.base != "arm" else "location"
        return checked_url(url, field=field, allowed=allowed, producer_supplied=False), self._rules.scope(source, url)

    def _moved_url(
        self, source: Source, model: Any, status_url: str, scope: str, poll: PollState, body: dict[str, Any]
    ) -> tuple[str, str, PollState]:
        """The URL to poll now: ``poll.statusUrl`` (a moved Location) checked again, else the request's own."""
        moved = model.poll.statusUrl if model.poll is not None else None
        if moved is None:
            return status_url, scope, poll
        if source.base != "statusUrl" or getattr(model, "resourceId", None) is not None:
            raise InvalidRequest("poll.statusUrl", f"Field 'poll.statusUrl' does not apply to source '{source.name}'; producers omit 'poll'.")
        url = self._rules.moved(source, moved, scope=scope, field="poll.statusUrl", api_version=model.apiVersion)
        if not copy_fits(written_bytes(body), url):  # sized only when a URL moved
            raise InvalidRequest("poll.statusUrl", "Field 'poll.statusUrl' is the watcher's own bookkeeping and too long for "
                                                   "a copy of this request to carry in 64 KiB; producers omit 'poll'.")
        return url, scope, replace(poll, poll_url=url)


def _check_one_of(source: Source, model: Any) -> None:
    """Exactly one of ``source.one_of`` (arm: statusUrl or resourceId); each field of ``source.needs`` beside its partner."""
    if source.one_of:
        given = [name for name in source.one_of if getattr(model, name, None) is not None]
        if not given:
            first, *others = source.one_of
            instead = " or ".join(f"'{name}'" for name in others)
            raise InvalidRequest(first, f"Field '{first}' is required for source '{source.name}' (or {instead} instead).")
        if len(given) > 1:
            names = " and ".join(f"'{name}'" for name in given)
            raise InvalidRequest(given[-1], f"Field '{given[-1]}' cannot be given with {names.replace(f' and {given[-1]!r}', '')}: source '{source.name}' takes one of {names}.")
    for name, needed in source.needs:
        if getattr(model, name, None) is not None and getattr(model, needed, None) is None:
            raise InvalidRequest(name, f"Field '{name}' applies only with '{needed}'.")


#: A copy's clock may run this far ahead of the instance reading it.
CLOCK_SKEW = timedelta(seconds=60)
#: The oldest first sighting a copy can carry: the longest timeout, then the longest delay of its last
#: re-enqueue and the copy's TTL margin (a copy held up by a backlog still ends TimedOut, not in poison).
OLDEST_SIGHTING = timedelta(seconds=MAX_TIMEOUT_SECONDS + MAX_VISIBILITY_SECONDS + COPY_TTL_MARGIN_SECONDS)


def _poll_state(model: PollModel, now: datetime) -> PollState:
    """``poll`` as the watcher wrote it: its moments checked against the time of reading (contract §1)."""
    first = _within("poll.firstSeenAt", _utc(model.firstSeenAt), now - OLDEST_SIGHTING, now + CLOCK_SKEW)
    slot = model.readSlotAt
    if slot is not None:
        slot = _within("poll.readSlotAt", _utc(slot), now - OLDEST_SIGHTING, now + timedelta(seconds=MAX_TIMEOUT_SECONDS) + CLOCK_SKEW)
    seen = model.percentSeenAt
    if seen is not None:
        seen = _within("poll.percentSeenAt", _utc(seen), now - OLDEST_SIGHTING, now + CLOCK_SKEW)
    return PollState(
        first_seen_at=first,
        polls=model.polls,
        failures=model.failures,
        last_status=kept_status(model.lastStatus),
        last_http_status=model.lastHttpStatus,
        last_percent_complete=model.lastPercentComplete,
        percent_seen_at=seen,
        percent_rate=model.percentRate,
        read_slot_at=slot,
    )


def _within(field: str, moment: datetime, earliest: datetime, latest: datetime) -> datetime:
    if earliest <= moment <= latest:
        return moment
    where = f"later than {rfc3339(latest)}" if moment > latest else f"earlier than {rfc3339(earliest)}"
    raise InvalidRequest(field, f"Field '{field}' is the watcher's own bookkeeping and cannot be {rfc3339(moment)} "
                                f"({where}); producers omit 'poll'.")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _printable(name: str) -> str:
    """A field name fit for a one-line sentence: control characters escaped, at most 64 characters."""
    if not name.isprintable():
        name = "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in name)
    return name if len(name) <= 64 else name[:61] + "..."


def _invalid_from(err: ValidationError, body: dict[str, Any]) -> InvalidRequest:
    """Turn pydantic's first error into one sentence that names the field."""
    source = body.get("source")
    errors = err.errors(include_url=False)
    # An unknown field (a typo such as 'operationID') explains the 'missing' error beside it: report it first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    kind = first["type"]
    loc = list(first["loc"])
    if loc[:1] == [source] and source in SOURCE_NAMES:
        loc = loc[1:]  # pydantic puts the union's tag (the source name) first
    field = _printable(".".join(str(part) for part in loc)) or "source"
    if kind in ("union_tag_not_found", "union_tag_invalid") or (field == "source" and kind != "missing"):
        return _invalid_source(body)
    if field.startswith("callback"):
        return _invalid_callback(field, kind, first["msg"])
    if field.startswith("poll"):
        return InvalidRequest(field, f"Field '{field}' is the watcher's own bookkeeping and is malformed ({first['msg']}); producers omit 'poll'.")
    if kind == "missing":
        return InvalidRequest(field, f"Field '{field}' is required for source '{source}'.")
    if kind == "extra_forbidden":
        return _unknown_field(field, source)
    return _invalid_value(field, kind, first, source)


def _invalid_source(body: dict[str, Any]) -> InvalidRequest:
    """``source`` absent or not one of the table's."""
    if "source" not in body:
        return InvalidRequest("source", f"Field 'source' is required and must {COMMON_SAYS['source']}.")
    return InvalidRequest("source", f"Field 'source' must {COMMON_SAYS['source']}; got {_shown(body.get('source'))}.")


def _unknown_field(field: str, source: Any) -> InvalidRequest:
    """A field of another source, or of no source at all (with the closest known name when there is one)."""
    if field in _KNOWN_FIELDS:
        return InvalidRequest(field, f"Field '{field}' does not apply to source '{source}'.")
    lowered = {name.lower(): name for name in _KNOWN_FIELDS}
    close = lowered.get(field.lower()) or next(iter(difflib.get_close_matches(field, _KNOWN_FIELDS, n=1)), None)
    hint = f" Did you mean '{close}'? Field names are case-sensitive." if close else ""
    return InvalidRequest(field, f"Field '{field}' is not part of the request contract.{hint}")


def _invalid_value(field: str, kind: str, error: Any, source: Any) -> InvalidRequest:
    """A known field with a value of the wrong type, or one its rule refuses."""
    shown = _shown(error["input"])
    if kind in _TYPE_WORDS and kind != "model_type":
        return InvalidRequest(field, f"Field '{field}' must be {_TYPE_WORDS[kind]}; got {type(error['input']).__name__} {shown}.")
    if kind == "value_error":
        return InvalidRequest(field, f"Field '{field}' {error['msg'].removeprefix('Value error, ')}; got {shown}.")
    says = COMMON_SAYS.get(field) or _rule_says(field, source)
    return InvalidRequest(field, f"Field '{field}' must {says}; got {shown}.")


def _invalid_callback(field: str, kind: str, message: str) -> InvalidRequest:
    """A bad ``callback``: the sentence names the field and never repeats a value (the token is a secret)."""
    keys = "planUrl, projectId, hubName, planId, jobId, timelineId, taskInstanceId, authToken"
    if kind == "missing":
        return InvalidRequest(field, f"Field '{field}' is required: callback.azureDevOps needs all of {keys}.")
    if kind == "extra_forbidden":
        return InvalidRequest(field, f"Field '{field}' is not part of the request contract (callback.azureDevOps holds {keys}).")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return InvalidRequest(field, f"Field '{field}' must be a JSON object.")
    if kind == "string_type":
        return InvalidRequest(field, f"Field '{field}' must be a string.")
    if kind == "value_error":
        return InvalidRequest(field, f"Field '{field}' {message.removeprefix('Value error, ')}.")
    return InvalidRequest(field, f"Field '{field}' must be a non-empty string of sensible length ({kind}).")


def _rule_says(field: str, source_name: Any) -> str:
    preferred = [SOURCES[source_name]] if source_name in SOURCES else []
    for source in [*preferred, *SOURCES.values()]:
        for rule in source.fields:
            if rule.name == field:
                return rule.says
    return "be valid"
