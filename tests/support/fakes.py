"""In-memory fakes for unit tests (no IO): a counting credential, and the Watcher's edges.

* :class:`CountingCredential`: a TokenCredential that counts its calls and can be told to fail;
* :class:`ScriptedStatus`: the status client, answering each read with the next scripted answer;
* :class:`RecordingQueues`: the queue gateway, recording every write (and failing on demand);
* :class:`RecordingPublisher`: the publisher, recording every result (and failing on demand);
* :class:`Clock`: a clock the test moves by hand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.credentials import AccessToken

from shared.core.interpretation import StatusAnswer
from tests.support.builders import T0


class CountingCredential:
    """A TokenCredential handing out ``token-<scope>-<n>``; can be told to fail."""

    def __init__(self, lifetime: float = 3600, now: float = 1_000_000.0) -> None:
        self.calls: list[str] = []
        self.lifetime = lifetime
        self.now = now
        self.fail_with: Exception | None = None
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._lock:
            if self.fail_with is not None:
                raise self.fail_with
            self.calls.append(scopes[0])
            return AccessToken(f"token-{scopes[0]}-{len(self.calls)}", int(self.now + self.lifetime))


def status_body(body: Mapping[str, Any], code: int = 200, **headers: str) -> StatusAnswer:
    """A status answer with a JSON ``body``; ``retry_after="5"`` becomes the ``retry-after`` header."""
    kept = {"content-type": "application/json", **{k.lower().replace("_", "-"): v for k, v in headers.items()}}
    return StatusAnswer(code, kept, json.dumps(body).encode())


class ScriptedStatus:
    """The status client: each read gets the next answer (a dict is a 200 status body); the last one repeats."""

    def __init__(self, *answers: StatusAnswer | Mapping[str, Any]) -> None:
        self._answers = [a if isinstance(a, StatusAnswer) else status_body(a) for a in answers]
        self.reads: list[tuple[str, str]] = []  # (url, scope) of every read

    @property
    def read_count(self) -> int:
        return len(self.reads)

    def read(self, url: str, scope: str) -> StatusAnswer:
        self.reads.append((url, scope))
        return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]


class RecordingQueues:
    """The queue gateway: records each write; with ``fail`` set, every write raises it instead."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.reenqueued: list[tuple[str, int, int]] = []  # (text, delay_seconds, time_to_live_seconds)
        self.poisoned: list[str] = []
        self.published: list[str] = []
        self.enqueued: list[str] = []

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def reenqueue(self, text: str, delay_seconds: int, time_to_live_seconds: int) -> None:
        self._check()
        self.reenqueued.append((text, delay_seconds, time_to_live_seconds))

    def poison(self, text: str) -> None:
        self._check()
        self.poisoned.append(text)

    def publish_result(self, text: str) -> None:
        self._check()
        self.published.append(text)

    def enqueue(self, text: str) -> str:
        """An operations-queue write (the watch function's); returns the message id."""
        self._check()
        self.enqueued.append(text)
        return f"msg-{len(self.enqueued)}"


class RecordingPublisher:
    """The publisher: records each result (appending "sinks" to ``order`` if given); ``fail`` raises instead."""

    def __init__(self, fail: Exception | None = None, order: list[str] | None = None) -> None:
        self.fail = fail
        self.order = order
        self.results: list[dict[str, Any]] = []

    def publish(self, result: Mapping[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        if self.order is not None:
            self.order.append("sinks")
        self.results.append(dict(result))


class Clock:
    """A clock the test sets: ``clock.now = ...``; calling it returns ``now``."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
