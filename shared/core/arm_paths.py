"""ARM's resource path grammar, parsed: the one reading of an ARM path the watcher uses.

An ARM path is a scope root, then provider blocks of type/name pairs::

    [/subscriptions/{id} [/resourceGroups/{name}] [/{type}/{name}]…]      built-in pairs (operationresults, …)
    (/providers/{namespace} (/{type}/{name})+)…                            resources, children, extensions

so ``/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/
Microsoft.Authorization/roleAssignments/r`` is a role assignment (an extension resource) on a
storage account, and ``/providers/Microsoft.Management/managementGroups/m/providers/
Microsoft.Resources/deployments/d`` a deployment at management-group scope. A path with a
type and no name after it (a collection such as ``…/workspaces``) does not parse, nor does one
with an empty segment, ``.`` or ``..``, a query or fragment, an encoded ``/``, ``\\``, ``.`` or
NUL, or anything outside printable ASCII.

Two rules read the parsed path: :func:`operation_status_path` (an ``arm`` ``statusUrl`` must
name an async-operation resource: its **last type** an operation word, followed by exactly one
id, contract §2b) and :func:`resource_id` (a ``resourceId`` request names a resource group,
a resource or a deployment at any scope). Pure: no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ArmPath",
    "ArmPathError",
    "Pair",
    "ProviderBlock",
    "parse_arm_path",
    "is_operation_type",
    "operation_status_path",
    "resource_id",
]

#: The operation words the last type of a status URL may be (lower case), beside the suffixes below.
OPERATION_TYPES = frozenset({"operations", "operationstatuses", "operationresults", "asyncoperations", "operationsstatus"})
#: Suffixes of provider-specific operation types: SQL's databaseOperationResults, databaseAzureAsyncOperation, ….
OPERATION_TYPE_SUFFIXES = ("operationresults", "azureasyncoperation")

_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: A name segment: printable ASCII without '/', '?', '#', '\\' or '%' sequences that encode a trick.
_NAME_BAD = re.compile(r"[^\x21-\x7e]|[/?#\\]")
#: An encoded ``/``, ``\\``, ``.`` or NUL, in any case: one regex search per segment.
_ENCODED_TRICK = re.compile(r"%(?:2f|5c|2e|00)", re.IGNORECASE)
_MAX_PATH = 2048
_URL_START = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//")


class ArmPathError(ValueError):
    """The path is not an ARM path; the message completes "… is not an ARM resource path: <why>"."""


@dataclass(frozen=True)
class Pair:
    type: str
    name: str


@dataclass(frozen=True)
class ProviderBlock:
    """``/providers/{namespace}`` and the type/name pairs after it (at least one)."""

    namespace: str
    pairs: tuple[Pair, ...]

    @property
    def full_type(self) -> str:
        """``Microsoft.Sql/servers/databases``: the namespace and every type of the block."""
        return "/".join([self.namespace, *(pair.type for pair in self.pairs)])


@dataclass(frozen=True)
class ArmPath:
    """A parsed ARM path. ``builtin`` holds the pairs before any ``/providers`` (after the subscription/group)."""

    subscription: str | None
    resource_group: str | None
    builtin: tuple[Pair, ...]
    blocks: tuple[ProviderBlock, ...]

    @property
    def last_pair(self) -> Pair | None:
        if self.blocks:
            return self.blocks[-1].pairs[-1]
        return self.builtin[-1] if self.builtin else None

    @property
    def name(self) -> str:
        """The last name in the path: the resource's (or operation's) name."""
        last = self.last_pair
        if last is not None:
            return last.name
        if self.resource_group is not None:
            return self.resource_group
        return self.subscription or ""

    @property
    def type(self) -> str:
        """ARM's ``type`` of what the path names: ``Microsoft.Web/sites/slots``, ``Microsoft.Resources/resourceGroups``."""
        if self.blocks:
            return self.blocks[-1].full_type
        if self.builtin:
            return "/".join(["Microsoft.Resources", *(pair.type for pair in self.builtin)])
        if self.resource_group is not None:
            return "Microsoft.Resources/resourceGroups"
        return "Microsoft.Resources/subscriptions"

    @property
    def is_deployment(self) -> bool:
        """A ``Microsoft.Resources/deployments`` at any scope (its ``properties.error`` is the outcome's error)."""
        return self.type.lower() == "microsoft.resources/deployments" or (
            not self.blocks and len(self.builtin) == 1 and self.builtin[0].type.lower() == "deployments"
        )


def _segment_check(segment: str, what: str) -> None:
    if not segment:
        raise ArmPathError("it has an empty segment ('//' or a trailing '/')")
    if segment in (".", ".."):
        raise ArmPathError("it has a '.' or '..' segment")
    if _NAME_BAD.search(segment) is not None:
        raise ArmPathError(f"its {what} {segment[:40]!r} holds a character outside printable ASCII, or '?', '#' or '\\'")
    if _ENCODED_TRICK.search(segment) is not None:
        raise ArmPathError("it has an encoded '/', '\\', '.' or NUL")


def parse_arm_path(path: str, *, trailing_slash: bool = False) -> ArmPath:
    """Parse ``path`` (no scheme, host or query) or raise :class:`ArmPathError`.

    ``trailing_slash`` tolerates one final ``/`` (ARM ignores it; a status URL may carry one).
    Keywords (``subscriptions``, ``resourceGroups``, ``providers``) match in any case.
    """
    segments = _segments(path, trailing_slash)
    subscription = group = None
    builtin: list[Pair] = []
    i = 0
    if segments[0].lower() == "subscriptions":
        subscription, group, i = _subscription_scope(segments)
        builtin, i = _pairs(segments, i, " here")
    elif segments[0].lower() != "providers":
        raise ArmPathError("it must start with '/subscriptions/{id}' or '/providers/{namespace}'")
    blocks: list[ProviderBlock] = []
    while i < len(segments):  # segments[i] is 'providers' here (_pairs stops only there)
        block, i = _provider_block(segments, i)
        blocks.append(block)
    return ArmPath(subscription, group, tuple(builtin), tuple(blocks))


def _segments(path: str, trailing_slash: bool) -> list[str]:
    """The path's segments, each checked, or :class:`ArmPathError` for a string that is no ARM path at all."""
    if isinstance(path, str) and _URL_START.match(path):
        raise ArmPathError("it is a URL: give only the path, '/subscriptions/…' or '/providers/…'")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ArmPathError("it must start with '/'")
    if len(path) > _MAX_PATH:
        raise ArmPathError(f"it is longer than {_MAX_PATH} characters")
    if "?" in path or "#" in path:
        raise ArmPathError("it holds a query or fragment")
    body = path[1:]
    if trailing_slash and body.endswith("/"):
        body = body[:-1]
    segments = body.split("/")
    for segment in segments:
        _segment_check(segment, "segment")
    return segments


def _subscription_scope(segments: list[str]) -> tuple[str, str | None, int]:
    """``/subscriptions/{id}[/resourceGroups/{name}]``: the subscription, the group and the index after them."""
    if len(segments) < 2:
        raise ArmPathError("'/subscriptions' has no id after it")
    if len(segments) > 2 and segments[2].lower() == "resourcegroups":
        if len(segments) < 4:
            raise ArmPathError("'resourceGroups' has no name after it (a collection, not a resource)")
        return segments[1], segments[3], 4
    return segments[1], None, 2


def _pairs(segments: list[str], i: int, where: str = "") -> tuple[list[Pair], int]:
    """The type/name pairs from ``i`` up to the next ``providers`` (or the end), and the index there."""
    pairs: list[Pair] = []
    while i < len(segments) and segments[i].lower() != "providers":
        if i + 1 >= len(segments):
            raise ArmPathError(f"type {segments[i][:40]!r} has no name after it (a collection, not a resource)")
        if not _TYPE.match(segments[i]) or segments[i].lower() in ("subscriptions", "resourcegroups"):
            raise ArmPathError(f"{segments[i][:40]!r} is not a resource type{where}")
        pairs.append(Pair(segments[i], segments[i + 1]))
        i += 2
    return pairs, i


def _provider_block(segments: list[str], i: int) -> tuple[ProviderBlock, int]:
    """``/providers/{namespace}`` at ``i`` and its pairs (at least one), and the index after them."""
    if i + 1 >= len(segments) or not _NAMESPACE.match(segments[i + 1]):
        raise ArmPathError("'/providers' must be followed by a namespace such as 'Microsoft.Web'")
    namespace = segments[i + 1]
    pairs, i = _pairs(segments, i + 2)
    if not pairs:
        raise ArmPathError(f"'/providers/{namespace}' names no type/name pair")
    return ProviderBlock(namespace, tuple(pairs)), i


def is_operation_type(type_name: str) -> bool:
    """``operations``, ``operationStatuses``, ``databaseAzureAsyncOperation``, … (any case)."""
    lowered = type_name.lower()
    return lowered in OPERATION_TYPES or lowered.endswith(OPERATION_TYPE_SUFFIXES)


def operation_status_path(path: str) -> ArmPath:
    """The parsed path of an ARM async-operation status resource, or :class:`ArmPathError`.

    The last type must name an operation, followed by exactly one id: a collection, a resource
    group named ``operations`` or a namespace holding the word is not an operation.
    """
    parsed = parse_arm_path(path, trailing_slash=True)
    last = parsed.last_pair
    if last is None or not is_operation_type(last.type):
        raise ArmPathError("its last type is not an operation (operations, operationStatuses, operationResults, …)")
    return parsed


def resource_id(path: str) -> ArmPath:
    """A ``resourceId``: a resource group, a resource (children and extensions too) or a deployment at any scope.

    Not a bare subscription. A path whose last type is an operation word parses too (APIM's
    ``…/apis/{api}/operations/{operation}`` is a resource): a resource is read only for its
    projection, never its body.
    """
    parsed = parse_arm_path(path)
    last = parsed.last_pair
    if last is None and parsed.resource_group is None:
        raise ArmPathError("it names a subscription, not a resource")
    return parsed
