"""The watcher's exceptions.

::

    WatcherError
    ├── InvalidRequest      a queue message that breaks the contract; carries the field name
    │   └── HostNotAllowed  …a URL whose host may not receive a token; carries the host too
    ├── SettingsError       a bad app setting at start-up; carries the setting name
    └── PublishError        a sink refused or failed to take an outcome (the message is retried)
"""

from __future__ import annotations

__all__ = ["WatcherError", "InvalidRequest", "HostNotAllowed", "SettingsError", "PublishError"]


class WatcherError(Exception):
    """Base class of every error lro-watcher raises on purpose."""


class InvalidRequest(WatcherError):
    """A request message that must not be polled; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class HostNotAllowed(InvalidRequest):
    """A URL in ``field`` whose ``host`` (``host[:port]``) no setting allows to receive a token."""

    def __init__(self, field: str, reason: str, host: str) -> None:
        super().__init__(field, reason)
        self.host = host


class SettingsError(WatcherError):
    """A setting that stops start-up; ``setting`` names it."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"setting {setting}: {reason}")


class PublishError(WatcherError):
    """A sink did not accept an outcome; the request is read again later."""
