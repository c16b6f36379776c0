"""App settings (contract §5), validated up front from a mapping (the caller reads the environment).

A bad value stops start-up with a :class:`SettingsError` that names the setting,
instead of surfacing later as a confusing failure on the first message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.core.arm_budget import MAX_READS_RESERVE
from shared.core.dataplane_hosts import DEFAULT_DATAPLANE_HOSTS, DataplaneHosts
from shared.core.errors import InvalidRequest, SettingsError
from shared.core.hosts import is_loopback_host, is_loopback_url
from shared.core.storage_connection import StorageConnection, storage_connection_from_environ
from shared.core.urls import HostAllowlist, checked_url, default_port

__all__ = ["Settings", "load_settings", "RESULT_SINKS", "MAX_VISIBILITY_SECONDS", "DEFAULT_CALLBACK_HOSTS"]

RESULT_SINKS = ("queue", "eventgrid", "both")
#: Azure Storage caps a message's visibility timeout at 7 days.
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600
#: Contract §5: the hosts an Azure Pipelines planUrl may name (§3b).
DEFAULT_CALLBACK_HOSTS = "dev.azure.com,*.visualstudio.com"
#: Contract §1: timeoutSeconds is at most 30 days.
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600
#: STATUS_READ_TIMEOUT_SECONDS at most: one invocation may make a few calls, within host.json's 5-minute functionTimeout.
MAX_READ_SECONDS = 60
#: LOG_LEVEL's values (Python's level names).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Every setting the watcher reads; defaults are the contract's."""

    operations_queue: str = "operations"
    results_queue: str = "operation-results"
    result_sink: str = "queue"
    eventgrid_topic_endpoint: str | None = None
    eventgrid_topic_key: str | None = field(default=None, repr=False)
    event_source: str = "lro-watcher"
    arm_endpoint: str = "https://management.azure.com"
    arm_scope: str = "https://management.azure.com/.default"
    devcenter_scope: str = "https://devcenter.azure.com/.default"
    status_host_allowlist: HostAllowlist = field(default_factory=lambda: HostAllowlist.parse("*.devcenter.azure.com", "STATUS_HOST_ALLOWLIST"))
    dataplane_hosts: DataplaneHosts = field(default_factory=lambda: DataplaneHosts.parse(DEFAULT_DATAPLANE_HOSTS))
    callback_host_allowlist: HostAllowlist = field(default_factory=lambda: HostAllowlist.parse(DEFAULT_CALLBACK_HOSTS, "CALLBACK_HOST_ALLOWLIST"))
    poll_min_delay_seconds: float = 5.0
    poll_max_delay_seconds: float = 300.0
    poll_default_timeout_seconds: int = 86400
    poll_max_failures: int = 10
    publish_progress: bool = False
    arm_reads_reserve: int = 100
    status_read_timeout_seconds: float = 30.0
    log_level: str | None = None
    storage: StorageConnection | None = field(default=None, compare=False)

    @property
    def poison_queue(self) -> str:
        return f"{self.operations_queue}-poison"

    @property
    def publishes_to_queue(self) -> bool:
        return self.result_sink in ("queue", "both")

    @property
    def publishes_to_eventgrid(self) -> bool:
        return self.result_sink in ("eventgrid", "both")

    @property
    def needs_eventgrid(self) -> bool:
        """Outcomes or progress events go to Event Grid."""
        return self.publishes_to_eventgrid or self.publish_progress


def _text(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float, integer: bool) -> float:
    raw = _text(env, name, None)
    if raw is None:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(name, f"must be {kind}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {_plain(low)} and {_plain(high)}, got {raw}")
    return value


def _plain(number: float) -> str:
    """``2592000``, ``0.5``: a number as a person writes it (``:g`` would give ``2.592e+06``)."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name, None)
    if raw is None:
        return default
    value = raw.lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise SettingsError(name, f"must be true or false, got {raw!r}")


def _base_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _text(env, name, default)
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise SettingsError(name, f"is not a well-formed URL, got {raw!r}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SettingsError(name, f"must be an absolute https URL, got {raw!r}")
    if parts.scheme == "http" and not is_loopback_url(raw):
        raise SettingsError(name, "must use https (http is allowed only for loopback emulators)")
    if parts.username or parts.password:
        raise SettingsError(name, "must not contain user information")
    return raw.rstrip("/")


def _origin(env: Mapping[str, str], name: str, default: str) -> str:
    """A base URL that request paths are appended to: ``scheme://host[:port]``, nothing else.

    A query or fragment would land inside every path, a path would move ARM, a bad port or a
    trailing-dot host would fail every message instead of start-up; the host and port follow the
    token URLs' rules (:func:`checked_url`).
    """
    raw = _base_url(env, name, default)
    assert raw is not None
    parts = urlsplit(raw)
    if parts.query or "?" in raw:
        raise SettingsError(name, "must not have a query: request paths are appended to it")
    if parts.fragment or "#" in raw:
        raise SettingsError(name, "must not have a fragment")
    if parts.path not in ("", "/"):
        raise SettingsError(name, f"must be scheme://host[:port] without a path, got path {parts.path!r}")
    try:
        checked_url(raw, field=name, allowed=HostAllowlist.for_base_url(raw), producer_supplied=False)
    except ValueError:
        raise SettingsError(name, "has an invalid port") from None
    except InvalidRequest as err:
        raise SettingsError(name, err.reason.replace(f"Field '{name}' ", "", 1).rstrip(".")) from None
    return raw


def _scope(env: Mapping[str, str], name: str, default: str) -> str:
    value = _text(env, name, default) or default
    if not value.endswith("/.default"):
        raise SettingsError(name, f"must be a token scope ending in '/.default', got {value!r}")
    return value


def load_settings(env: Mapping[str, str], *, require_storage: bool = True) -> Settings:
    """Read and validate every setting of ``env``; raises :class:`SettingsError` naming the first bad one."""
    arm_endpoint = _origin(env, "ARM_ENDPOINT", "https://management.azure.com")
    result_sink = (_text(env, "RESULT_SINK", "queue") or "queue").lower()
    if result_sink not in RESULT_SINKS:
        raise SettingsError("RESULT_SINK", f"must be one of {', '.join(RESULT_SINKS)}, got {result_sink!r}")
    eventgrid_endpoint = _base_url(env, "EVENTGRID_TOPIC_ENDPOINT", None)
    if result_sink in ("eventgrid", "both") and not eventgrid_endpoint:
        raise SettingsError("EVENTGRID_TOPIC_ENDPOINT", f"is required when RESULT_SINK is {result_sink!r}")
    publish_progress = _flag(env, "PUBLISH_PROGRESS", False)
    if publish_progress and not eventgrid_endpoint:
        raise SettingsError("EVENTGRID_TOPIC_ENDPOINT", "is required when PUBLISH_PROGRESS is true (progress events go to Event Grid only)")
    min_delay = _number(env, "POLL_MIN_DELAY_SECONDS", 5, low=0, high=MAX_VISIBILITY_SECONDS, integer=False)
    max_delay = _number(env, "POLL_MAX_DELAY_SECONDS", 300, low=0, high=MAX_VISIBILITY_SECONDS, integer=False)
    if max_delay < min_delay:
        raise SettingsError("POLL_MAX_DELAY_SECONDS", f"must be at least POLL_MIN_DELAY_SECONDS ({_plain(min_delay)})")
    try:
        allowlist = HostAllowlist.parse(_text(env, "STATUS_HOST_ALLOWLIST", "*.devcenter.azure.com") or "", "STATUS_HOST_ALLOWLIST")
    except ValueError as err:
        raise SettingsError("STATUS_HOST_ALLOWLIST", str(err)) from None
    try:
        dataplane_hosts = DataplaneHosts.parse(_text(env, "DATAPLANE_HOSTS", DEFAULT_DATAPLANE_HOSTS) or "")
    except ValueError as err:
        raise SettingsError("DATAPLANE_HOSTS", str(err)) from None
    arm_scope = _scope(env, "ARM_SCOPE", f"{arm_endpoint}/.default")
    _refuse_dataplane_over_arm(arm_endpoint, arm_scope, dataplane_hosts)
    try:
        callback_hosts = HostAllowlist.parse(_text(env, "CALLBACK_HOST_ALLOWLIST", DEFAULT_CALLBACK_HOSTS) or "", "CALLBACK_HOST_ALLOWLIST")
    except ValueError as err:
        raise SettingsError("CALLBACK_HOST_ALLOWLIST", str(err)) from None
    queue_names = _queue_names(env)
    return Settings(
        operations_queue=queue_names["OPERATIONS_QUEUE"],
        results_queue=queue_names["RESULTS_QUEUE"],
        result_sink=result_sink,
        eventgrid_topic_endpoint=eventgrid_endpoint,
        eventgrid_topic_key=_text(env, "EVENTGRID_TOPIC_KEY", None),
        event_source=_text(env, "EVENT_SOURCE", "lro-watcher") or "lro-watcher",
        arm_endpoint=arm_endpoint,
        arm_scope=arm_scope,
        devcenter_scope=_scope(env, "DEVCENTER_SCOPE", "https://devcenter.azure.com/.default"),
        status_host_allowlist=allowlist,
        dataplane_hosts=dataplane_hosts,
        callback_host_allowlist=callback_hosts,
        poll_min_delay_seconds=min_delay,
        poll_max_delay_seconds=max_delay,
        poll_default_timeout_seconds=int(
            _number(env, "POLL_DEFAULT_TIMEOUT_SECONDS", 86400, low=1, high=MAX_TIMEOUT_SECONDS, integer=True)
        ),
        poll_max_failures=int(_number(env, "POLL_MAX_FAILURES", 10, low=1, high=10_000, integer=True)),
        publish_progress=publish_progress,
        arm_reads_reserve=int(_number(env, "ARM_READS_RESERVE", 100, low=0, high=MAX_READS_RESERVE, integer=True)),
        status_read_timeout_seconds=_number(env, "STATUS_READ_TIMEOUT_SECONDS", 30, low=1, high=MAX_READ_SECONDS, integer=False),
        log_level=_log_level(env),
        storage=storage_connection_from_environ(env) if require_storage else None,
    )


def _refuse_dataplane_over_arm(arm_endpoint: str, arm_scope: str, dataplane_hosts: DataplaneHosts) -> None:
    """A DATAPLANE_HOSTS pattern covering ARM_ENDPOINT's host would let a ``dataplane`` request read any ARM path,
    past the arm operation-path rule (contract §2b): a setting error.

    On a loopback ARM_ENDPOINT (an emulator playing every service on one port, each with its own
    audience) only a pattern with ARM's own scope is refused: that is the case that bypasses the rule.
    """
    parts = urlsplit(arm_endpoint)
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port is not None else default_port(parts.scheme.lower())
    scope = dataplane_hosts.scope_for(host, port)
    if scope is None or (is_loopback_host(host) and scope.rstrip("/") != arm_scope.rstrip("/")):
        return
    raise SettingsError(
        "DATAPLANE_HOSTS",
        f"has a pattern covering ARM_ENDPOINT's host {parts.netloc!r}: dataplane requests would read ARM resources past "
        "the arm operation rule; name only data-plane hosts",
    )


def _queue_names(env: Mapping[str, str]) -> dict[str, str]:
    """OPERATIONS_QUEUE and RESULTS_QUEUE: valid Storage queue names, and three distinct queues with the poison queue."""
    names = {}
    for name, default in (("OPERATIONS_QUEUE", "operations"), ("RESULTS_QUEUE", "operation-results")):
        queue = _text(env, name, default) or default
        if not _valid_queue_name(queue):
            raise SettingsError(name, f"{queue!r} is not a valid Storage queue name (3-63 lower-case letters, digits, single hyphens)")
        names[name] = queue
    operations, results = names["OPERATIONS_QUEUE"], names["RESULTS_QUEUE"]
    if len(operations) > 56:
        raise SettingsError("OPERATIONS_QUEUE", "must be at most 56 characters so that '{name}-poison' is a valid queue name")
    if results == operations:
        raise SettingsError("RESULTS_QUEUE", f"is {results!r}, the same queue as OPERATIONS_QUEUE: every outcome would be read back as a request")
    if results == f"{operations}-poison":
        raise SettingsError("RESULTS_QUEUE", f"is {results!r}, the poison queue of OPERATIONS_QUEUE: outcomes and poison entries would mix")
    return names


def _log_level(env: Mapping[str, str]) -> str | None:
    raw = _text(env, "LOG_LEVEL", None)
    if raw is None:
        return None
    if raw.upper() not in LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw.upper()


def _valid_queue_name(name: str) -> bool:
    if not 3 <= len(name) <= 63 or name.startswith("-") or name.endswith("-") or "--" in name:
        return False
    return all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in name)
