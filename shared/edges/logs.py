"""Log lines without secrets, one line per poll: the redacting filter and the loggers' levels.

:func:`configure_logging` (called by :mod:`shared.runtime` at start-up, in the function app and
under ``tools.run_local`` alike):

* puts :class:`RedactingFilter` on the ``lro_watcher`` and library loggers (a record logged there
  directly) and on every handler the root logger has now (the Functions worker's, run_local's,
  a test's: the libraries' child loggers too), so each record is redacted by the
  process's redactor (:mod:`shared.edges.secrets`) before any handler formats it: the message,
  its ``%`` arguments, the exception text and the operation fields (``extra=``);
* sets the libraries' loggers (httpx, httpcore, azure, msal, urllib3) to ``WARNING``, so a poll is
  one line (the watcher's) and not two (httpx's ``HTTP Request:`` line too). ``LOG_LEVEL=DEBUG``
  lets them log at ``DEBUG``; a ``LOG_LEVEL`` above ``WARNING`` raises them with the watcher's.
  A library's line never shows a URL's query string (a SAS ``sig``, contract §3);
* sets the ``lro_watcher`` logger to ``LOG_LEVEL`` when it is set (else it follows the root's).
"""

from __future__ import annotations

import logging
import traceback

from shared.core.log_fields import LOG_FIELDS
from shared.core.redaction import without_query
from shared.edges.secrets import PROCESS_SECRETS, SecretKeeper

__all__ = ["RedactingFilter", "configure_logging", "LIBRARY_LOGGERS", "WATCHER_LOGGER"]

WATCHER_LOGGER = "lro_watcher"
#: Loggers of the libraries the watcher uses: WARNING unless LOG_LEVEL says otherwise.
LIBRARY_LOGGERS = ("httpx", "httpcore", "azure", "msal", "urllib3")
_DONE = "_lro_redacted"  # set on a record once redacted (a filter on a logger and on a handler both see it)


class RedactingFilter(logging.Filter):
    """Redacts a record in place (never drops one): message, arguments, exception and stack text, operation fields."""

    def __init__(self, secrets: SecretKeeper = PROCESS_SECRETS) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DONE, False):
            return True
        text = self._secrets.text
        message = record.getMessage()
        if record.name.split(".", 1)[0] in LIBRARY_LOGGERS:
            message = without_query(message)
        record.msg, record.args = text(message), None
        if record.exc_info:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None  # a handler formatting it again would not redact it
        if record.exc_text:
            record.exc_text = text(record.exc_text)
        if record.stack_info:
            record.stack_info = text(record.stack_info)
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, text(value))
        setattr(record, _DONE, True)
        return True


def configure_logging(log_level: str | None = None, secrets: SecretKeeper = PROCESS_SECRETS) -> None:
    """Install the filter (one per logger/handler) and set the levels; ``log_level`` is ``LOG_LEVEL`` (a level name)."""
    watcher = logging.getLogger(WATCHER_LOGGER)
    level = logging.getLevelNamesMapping()[log_level] if log_level else None
    if level is not None:
        watcher.setLevel(level)
    library_level = logging.DEBUG if level == logging.DEBUG else max(logging.WARNING, level or logging.WARNING)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    libraries = [logging.getLogger(name) for name in LIBRARY_LOGGERS]  # httpx's request line, whatever the handlers
    for target in (watcher, *libraries, *logging.getLogger().handlers):
        for existing in [f for f in target.filters if isinstance(f, RedactingFilter)]:
            target.removeFilter(existing)  # one filter per logger or handler, with these secrets
        target.addFilter(RedactingFilter(secrets))
