"""The secrets this process holds, and the :class:`~shared.core.redaction.Redactor` that knows them.

Who tells it: the token cache (each bearer token it gets, :mod:`shared.edges.tokens`), the
Event Grid sink (its key), the watcher and the ``watch`` function (a callback's ``authToken``),
the runtime (the storage account key of a connection string). Every output is redacted with
:attr:`SecretKeeper.redactor`: results, events, poison entries, the Azure Pipelines feed, and
log lines (:mod:`shared.edges.logs`).

Named secrets (one per scope or setting) are replaced when they change; the value they replace,
and each callback token, stay in a bounded most-recent set, so a late echo of a token that was
just refreshed is still found. The redactor is rebuilt only when that set changes, not per call.
:data:`PROCESS_SECRETS` is the process's one keeper (logging is process-wide too).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from shared.core.redaction import JsonValue, Redactor

_Shape = TypeVar("_Shape", bound=Mapping[str, Any])

__all__ = ["SecretKeeper", "PROCESS_SECRETS"]

#: Retired and callback secrets kept (a callback token lives 48 hours; 24 messages run at once).
RECENT_SECRETS = 256


class SecretKeeper:
    """Thread-safe: ``hold`` / ``remember`` secrets, read :attr:`redactor` (rebuilt only after a change)."""

    def __init__(self, recent: int = RECENT_SECRETS) -> None:
        self._named: dict[str, str] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._limit = recent
        self._lock = threading.Lock()
        self._redactor = Redactor()

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def hold(self, name: str, secret: str | None) -> None:
        """``secret`` is the current value of ``name`` (``token <scope>``, ``EVENTGRID_TOPIC_KEY``, ...)."""
        if not secret or self._named.get(name) == secret:
            return
        with self._lock:
            old = self._named.get(name)
            self._named[name] = secret
            if old is not None:
                self._remember(old)
            self._rebuild()

    def remember(self, secret: str | None) -> None:
        """A secret seen for a while (a callback's ``authToken``): kept among the most recent ones."""
        if not secret or secret in self._recent or secret in self._named.values():
            return
        with self._lock:
            self._remember(secret)
            self._rebuild()

    def text(self, text: str) -> str:
        """:meth:`Redactor.text` with the secrets held now."""
        return self._redactor.text(text)

    def json(self, value: JsonValue) -> JsonValue:
        """:meth:`Redactor.json` with the secrets held now."""
        return self._redactor.json(value)

    def object(self, value: _Shape) -> _Shape:
        """:meth:`Redactor.object` with the secrets held now: the same keys (a result stays a ``Result``)."""
        return cast(_Shape, self._redactor.object(value))

    def _remember(self, secret: str) -> None:
        self._recent[secret] = None
        self._recent.move_to_end(secret)
        while len(self._recent) > self._limit:
            self._recent.popitem(last=False)

    def _rebuild(self) -> None:
        self._redactor = Redactor([*self._named.values(), *self._recent])


PROCESS_SECRETS = SecretKeeper()
