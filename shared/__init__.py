"""lro-watcher: poll Azure long-running operations from a queue, publish one outcome each.

The public surface is re-exported here lazily, so importing the package (and
``function_app``) does not pay for modules a cold start may not need yet.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "1.0.0"

_EXPORTS = {
    "WatcherError": "errors",
    "InvalidRequest": "errors",
    "SettingsError": "errors",
    "PublishError": "errors",
    "Settings": "settings",
    "load_settings": "settings",
    "SOURCES": "sources",
    "Source": "sources",
    "RequestParser": "request",
    "PollState": "state",
    "WatchedRequest": "state",
    "StatusRead": "decide",
    "Reenqueue": "decide",
    "Publish": "decide",
    "decide": "decide",
    "build_result": "results",
    "event_id": "results",
    "Watcher": "watcher",
    "build_watcher": "runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
