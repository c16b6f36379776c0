"""The status APIs the watcher can poll, as one table.

A source is a row: where its status URL comes from, the api-version it defaults
to, which token audience it needs and the rules its request fields follow (from
the providers' REST reference). Adding a source means adding a row to
:data:`SOURCES`; request validation, the JSON Schema and URL building all read
this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "FieldRule",
    "Source",
    "SOURCES",
    "SOURCE_NAMES",
    "SOURCE_FIELDS",
    "STATUS_HEADERS",
    "WAIT_FOR",
    "canonical_status_header",
]

#: The response headers a status URL can come from (contract section 2a), spelled canonically.
STATUS_HEADERS = ("Azure-AsyncOperation", "Operation-Location", "Location")


#: What a ``resourceId`` request waits for (contract section 2b); the first is the default.
WAIT_FOR = ("provisioned", "deleted")


def canonical_status_header(value: str) -> str:
    """``location`` -> ``Location``: the canonical spelling of a status header name (matched case-insensitively)."""
    return {name.lower(): name for name in STATUS_HEADERS}[value.lower()]


def _any_case(word: str) -> str:
    # JSON Schema patterns are ECMA-262: no inline (?i) flag, so spell each letter as a class.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


#: A subscription id as ARM writes it (a UUID, either case).
SUBSCRIPTION_ID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass(frozen=True)
class FieldRule:
    """How one request field is checked; ``says`` completes "Field 'x' must ..." in errors."""

    name: str
    says: str
    kind: Literal["segment", "url", "choice", "resource"] = "segment"
    pattern: str | None = None
    min_length: int = 1
    max_length: int | None = None
    required: bool = True


@dataclass(frozen=True)
class Source:
    """One status API.

    ``path`` is a template whose ``{field}`` placeholders are filled with the
    percent-encoded request fields and appended to ``base`` — ``"arm"`` for
    ARM_ENDPOINT, or the name of a request field that holds a URL (``endpoint``,
    ``statusUrl``). ``path`` is empty when that field is already the full URL.
    ``status_header`` is how reads are understood when the request names no
    ``statusHeader`` (contract section 2a). ``audience`` ``dataplane`` means the scope
    comes from the ``DATAPLANE_HOSTS`` pattern the URL's host matches.
    """

    name: str
    base: Literal["arm", "endpoint", "statusUrl"]
    path: str
    default_api_version: str | None
    audience: Literal["arm", "devcenter", "dataplane"]
    fields: tuple[FieldRule, ...] = field(default=())
    operation_id_field: str | None = "operationId"
    status_header: str = "Azure-AsyncOperation"
    #: Fields of which a request names exactly one (arm: statusUrl or resourceId).
    one_of: tuple[str, ...] = ()
    #: field -> the field it needs beside it (arm: waitFor needs resourceId, statusHeader statusUrl).
    needs: tuple[tuple[str, str], ...] = ()


def _arm_operation_status(namespace: str, subscription_rule: FieldRule, api_version: str) -> Source:
    return Source(
        name="",
        base="arm",
        path=f"/subscriptions/{{subscriptionId}}/providers/{namespace}/locations/{{location}}/operationStatuses/{{operationId}}",
        default_api_version=api_version,
        audience="arm",
        fields=(
            subscription_rule,
            FieldRule("location", "be a non-empty Azure region name, such as 'westus' or 'West US'"),
            FieldRule("operationId", "be a non-empty operation id"),
        ),
    )


STATUS_HEADER_RULE = FieldRule(
    "statusHeader",
    f"be the header the statusUrl came from: {', '.join(STATUS_HEADERS[:-1])} or {STATUS_HEADERS[-1]} (any case)",
    kind="choice",
    pattern="^(" + "|".join(_any_case(name) for name in STATUS_HEADERS) + ")$",
    required=False,
)


def _named(name: str, source: Source) -> Source:
    return Source(**{**source.__dict__, "name": name})


_SOURCE_LIST = (
    _named(
        "apim",
        _arm_operation_status(
            "Microsoft.ApiManagement",
            FieldRule("subscriptionId", "be a subscription UUID (8-4-4-4-12 hex digits)", pattern=SUBSCRIPTION_ID_PATTERN),
            "2024-05-01",
        ),
    ),
    _named(
        "operationalinsights",
        _arm_operation_status(
            "Microsoft.OperationalInsights",
            FieldRule("subscriptionId", "be a non-empty subscription id"),
            "2025-07-01",
        ),
    ),
    Source(
        name="devcenter",
        base="endpoint",
        path="/projects/{projectName}/operationstatuses/{operationId}",
        default_api_version="2025-02-01",
        audience="devcenter",
        status_header="Operation-Location",
        fields=(
            FieldRule("endpoint", "be the Dev Center's https URI on an allowed host", kind="url"),
            FieldRule(
                "projectName",
                "be 3-63 characters: a letter or digit, then letters, digits, '-', '_' or '.'",
                pattern=r"^[a-zA-Z0-9][a-zA-Z0-9-_.]{2,62}$",
                min_length=3,
                max_length=63,
            ),
            FieldRule(
                "operationId",
                "be a 36-character operation id such as 'fa067167-e49d-41bd-8dd8-de719b9de3b3'",
                pattern=r"^[a-zA-Z0-9]{8}-([a-zA-Z0-9]{4}-){3}[a-zA-Z0-9]{12}$",
                min_length=36,
                max_length=36,
            ),
        ),
    ),
    Source(
        name="arm",
        base="statusUrl",
        path="",
        default_api_version=None,
        audience="arm",
        fields=(
            FieldRule(
                "statusUrl",
                "be the https Azure-AsyncOperation or Location URL on the ARM endpoint (or give 'resourceId' instead)",
                kind="url",
                required=False,
            ),
            FieldRule(
                "resourceId",
                "be an ARM resource id such as '/subscriptions/{id}/resourceGroups/{name}/providers/Microsoft.Web/sites/{name}' "
                "(a path, not a URL)",
                kind="resource",
                max_length=2048,
                required=False,
            ),
            FieldRule(
                "waitFor",
                f"be {' or '.join(WAIT_FOR)} (any case), with 'resourceId'",
                kind="choice",
                pattern="^(" + "|".join(_any_case(word) for word in WAIT_FOR) + ")$",
                required=False,
            ),
            STATUS_HEADER_RULE,
        ),
        operation_id_field=None,
        one_of=("statusUrl", "resourceId"),
        needs=(("waitFor", "resourceId"), ("statusHeader", "statusUrl")),
    ),
    Source(
        name="dataplane",
        base="statusUrl",
        path="",
        default_api_version=None,
        audience="dataplane",
        fields=(
            FieldRule("statusUrl", "be the https Operation-Location URL on a DATAPLANE_HOSTS host", kind="url"),
            STATUS_HEADER_RULE,
        ),
        operation_id_field=None,
        status_header="Operation-Location",
    ),
)

#: Source name -> row. Read-only.
SOURCES: MappingProxyType[str, Source] = MappingProxyType({source.name: source for source in _SOURCE_LIST})
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)
#: Every source-specific field name, for "does not apply to this source" errors.
SOURCE_FIELDS: frozenset[str] = frozenset(rule.name for source in _SOURCE_LIST for rule in source.fields)
