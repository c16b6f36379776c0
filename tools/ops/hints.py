"""What the tools add to an error so that it says what to do.

* :func:`host_refusal`: a request URL whose host may not receive a token names the setting
  that decides (``ARM_ENDPOINT``, ``DATAPLANE_HOSTS``, ``STATUS_HOST_ALLOWLIST`` or
  ``CALLBACK_HOST_ALLOWLIST``), its value, where that value came from (the environment, which
  local.settings.json, or the default) and how to change it;
* :func:`storage_failure`: an Azure Storage error as one line with its cause (Azurite not
  running, an account key that does not match, a missing role) instead of the SDK's text.

The core's messages stay what the function logs and writes into poison entries; only a tool
knows where its settings came from, so the rest is added here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.core.urls import is_loopback_host

__all__ = ["SettingsOrigin", "deciding_setting", "host_refusal", "plain", "storage_failure", "token_hosts"]

#: The setting that decides where a token for each audience may go, and its default.
_AUDIENCE_SETTING = {"arm": "ARM_ENDPOINT", "dataplane": "DATAPLANE_HOSTS", "devcenter": "STATUS_HOST_ALLOWLIST"}
_HOST_PORT = re.compile(r"host='(?P<host>[^']+)', port=(?P<port>\d+)")
#: The host names in a setting's value (a URL, or host[:port] / pattern=scope entries).
_HOSTS = re.compile(r"(?:https?://)?([^/:,;=\s]+)")


@dataclass(frozen=True)
class SettingsOrigin:
    """Where a tool's settings came from: the environment, over one local.settings.json's Values (if read)."""

    environ: Mapping[str, str]
    file: str | None = None
    file_values: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str, default: str) -> tuple[str, str]:
        """``(value, where)``: where is ``set in the environment``, ``from FILE`` or ``its default (not set)``."""
        if name in self.environ:  # the environment wins, even when it sets the value empty (then the default applies)
            value = self.environ[name].strip()
            return (value, "set in the environment") if value else (default, "its default (set empty in the environment)")
        if self.file is not None and self.file_values.get(name, "").strip():
            return self.file_values[name].strip(), f"from {self.file}"
        return default, "its default (not set)"


def _defaults() -> dict[str, str]:
    from shared.core.dataplane_hosts import DEFAULT_DATAPLANE_HOSTS
    from shared.core.settings import DEFAULT_CALLBACK_HOSTS, Settings

    return {"ARM_ENDPOINT": Settings.arm_endpoint, "STATUS_HOST_ALLOWLIST": "*.devcenter.azure.com",
            "DATAPLANE_HOSTS": DEFAULT_DATAPLANE_HOSTS, "CALLBACK_HOST_ALLOWLIST": DEFAULT_CALLBACK_HOSTS}


def plain(number: float) -> str:
    """``2592000``, ``0.5``, ``-1``: a number as a person writes it (``:g`` would give ``2.592e+06``)."""
    value = float(number)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


def deciding_setting(field_name: str, source: object) -> str | None:
    """The setting that decides whether a URL in ``field_name`` of a ``source`` request may receive a token."""
    from shared.core.sources import SOURCES

    if field_name.startswith("callback."):
        return "CALLBACK_HOST_ALLOWLIST"
    if not isinstance(source, str) or source not in SOURCES:
        return None
    return _AUDIENCE_SETTING.get(SOURCES[source].audience)


def _what_to_do(name: str, host: str) -> str:
    if name == "ARM_ENDPOINT":
        return "a token for ARM goes only to ARM_ENDPOINT's host"
    if name == "DATAPLANE_HOSTS":
        return (f"to poll {host}, add an entry '{host}=SCOPE' (SCOPE: the service's token scope, ending in /.default; "
                "entries separated by ';')")
    return f"to allow {host}, add it to the list (entries separated by ',')"


def _where_to_change(name: str, value: str, where: str, origin: SettingsOrigin) -> str:
    if where.startswith("from "):
        stack = ""
        if any(is_loopback_host(host) for host in _HOSTS.findall(value)):
            stack = ("; that file points at a local simulator (`make stack` writes it): to check a request for Azure, "
                     "pass --no-local-settings")
        return f"edit {origin.file}, or set {name} in the environment (it wins over the file){stack}"
    if where.startswith("set in"):
        return f"change {name} in the environment"
    return f"set {name} in the environment or in local.settings.json's Values"


def host_refusal(error: object, source: object, origin: SettingsOrigin) -> str:
    """``NAME is 'VALUE', WHERE; what to do; where to change it.`` for a HostNotAllowed, else ``""``."""
    from shared.core.errors import HostNotAllowed

    if not isinstance(error, HostNotAllowed):
        return ""
    name = deciding_setting(error.field, source)
    if name is None:
        return ""
    value, where = origin.value(name, _defaults()[name])
    return (f"{name} is {value!r}, {where}; {_what_to_do(name, error.host)}; "
            f"{_where_to_change(name, value, where, origin)}.")


def token_hosts(origin: SettingsOrigin) -> str:
    """``ARM_ENDPOINT is '…', WHERE; DATAPLANE_HOSTS is '…', WHERE``: where a tool may send a token, and why."""
    defaults = _defaults()
    said = []
    for name in ("ARM_ENDPOINT", "DATAPLANE_HOSTS"):
        value, where = origin.value(name, defaults[name])
        said.append(f"{name} is {value!r}, {where}")
    stack = ""
    if origin.file is not None and any(is_loopback_host(host) for host in _HOSTS.findall(origin.file_values.get("ARM_ENDPOINT", ""))):
        stack = f" ({origin.file} points at a local simulator, as `make stack` writes it: --no-local-settings reads none)"
    return "; ".join(said) + stack


def _brief(error: BaseException) -> str:
    from tools.dev.run_local import redact

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return redact(f"{type(error).__name__}: {text}"[:500])


def _unreachable(error: BaseException) -> str:
    text = str(error)
    found = _HOST_PORT.search(text)
    where = f"{found['host']}:{found['port']}" if found else "the queue service"
    lowered = text.lower()
    why = ("connection refused" if "refused" in lowered else "no such host" if "name or service" in lowered or
           "getaddrinfo" in lowered or "nodename" in lowered else "timed out" if "timed out" in lowered else _brief(error))
    if found and is_loopback_host(found["host"]):
        return f"cannot reach the queue service at {where} ({why}): is Azurite running? `make stack` starts it"
    return f"cannot reach the queue service at {where} ({why}): check the account URL and the network"


def storage_failure(error: BaseException) -> str:
    """One line for a failed Azure Storage call: the cause and what to do where it is known, else the SDK's first line."""
    azure = sys.modules.get("azure.core.exceptions")
    if azure is None or not isinstance(error, azure.AzureError):
        return _brief(error)
    code = getattr(error, "error_code", None)
    if isinstance(error, azure.ServiceRequestError):
        return _unreachable(error)
    if isinstance(error, azure.ClientAuthenticationError) and code == "AuthenticationFailed":
        return ("the storage account refused the request: the account key does not match "
                "(check AccountKey in the connection string: AzureWebJobsStorage, or --connection-string)")
    if isinstance(error, azure.ClientAuthenticationError):
        return f"could not sign in to storage: {_brief(error)} (DefaultAzureCredential: `az login`, or a managed identity)"
    if isinstance(error, azure.ResourceNotFoundError):
        return f"{_brief(error)} (does the queue exist? the Bicep creates the queues in Azure, run_local does locally)"
    if code == "AuthorizationPermissionMismatch":
        return (f"{_brief(error)} (the signed-in identity has no data role on this queue: "
                "see docs/operating.md, what the tools read and the roles they need)")
    return _brief(error)
