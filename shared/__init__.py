"""lro-watcher: poll Azure long-running operations from a queue, publish one outcome each.

The package shows its architecture (``docs/architecture.md``):

* :mod:`shared.core`  the pure protocol: parsing, the source table, URL rules, the decision,
  the schedule, the result. No IO; an import-linter contract (``pyproject.toml``) keeps it so.
* :mod:`shared.edges` the IO: HTTP (httpx), tokens, status reads, queues, sinks, Event Grid.
* :mod:`shared.watcher` and :mod:`shared.runtime` compose the two, once per process.

The public surface is re-exported here lazily, so importing the package (and
``function_app``) does not pay for modules a cold start may not need yet.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "1.0.0"

_EXPORTS = {
    "WatcherError": "core.errors",
    "InvalidRequest": "core.errors",
    "SettingsError": "core.errors",
    "PublishError": "core.errors",
    "Settings": "core.settings",
    "load_settings": "core.settings",
    "SOURCES": "core.sources",
    "Source": "core.sources",
    "RequestParser": "core.request_parser",
    "PollState": "core.poll_state",
    "WatchedRequest": "core.poll_state",
    "StatusAnswer": "core.decide",
    "Reenqueue": "core.decide",
    "Publish": "core.decide",
    "decide": "core.decide",
    "build_result": "core.result",
    "event_id": "core.result",
    "Watcher": "watcher",
    "build_watcher": "runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
