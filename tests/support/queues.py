"""Queues on Azurite for tests: unique names per test, send / read / wait helpers.

The clients come from ``shared.edges.storage`` (the project's one place for connections).
Message text is raw (no base64), as the app's host.json says.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient

from shared.edges.queues import ensure_queues
from tests.support.wait import WaitTimeout

CONNECTION_SETTING = "AzureWebJobsStorage"


def service_client(environ: Mapping[str, str]) -> QueueServiceClient:
    from shared.core.storage_connection import storage_connection_from_environ
    from shared.edges.storage import queue_service_client

    return queue_service_client(storage_connection_from_environ(environ))


def unique_queue_prefix(hint: str = "t") -> str:
    """A valid, unique queue-name stem (lowercase, single hyphens, room for ``-ops-poison``)."""
    stem = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:28].strip("-") or "t"
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def read_all(client: QueueClient, *, delete: bool = True, visibility_timeout: int = 30) -> list[str]:
    """Every message visible now, oldest first.

    ``delete=True`` (default) removes them. ``delete=False`` puts them back (visible at
    once), which raises their dequeue count; use ``peek`` when 32 messages are enough.
    """
    texts: list[str] = []
    while True:
        batch = list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=visibility_timeout))
        if not batch:
            break
        for message in batch:
            texts.append(message.content)
            if delete:
                client.delete_message(message.id, message.pop_receipt)
        if not delete:
            for message in batch:
                client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
            break  # they are visible again: reading on would loop forever
    return texts


def wait_for_messages(client: QueueClient, count: int, *, timeout: float = 10.0, interval: float = 0.05) -> list[str]:
    """Take (receive and delete) messages until ``count`` have arrived; return their texts.

    A queue that does not exist yet counts as empty. Raises :class:`WaitTimeout` with
    what did arrive if fewer came before the deadline.
    """
    deadline = time.monotonic() + timeout
    texts: list[str] = []
    while True:
        try:
            texts.extend(read_all(client))
        except ResourceNotFoundError:
            pass
        if len(texts) >= count:
            return texts
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{client.queue_name}: {len(texts)} of {count} message(s) after {timeout:g}s: {texts!r}")
        time.sleep(interval)


class QueueSet(dict):
    """An env-like dict for one test — ``AzureWebJobsStorage``, ``OPERATIONS_QUEUE``,
    ``RESULTS_QUEUE`` — with helpers. Merge it into a subprocess environment with
    ``{**os.environ, **queues}``.

    Queues are not created up front (run_local creates them); ``send`` creates its
    queue when missing, ``create()`` makes all three.
    """

    def __init__(self, connection_string: str, prefix: str) -> None:
        super().__init__(
            {
                CONNECTION_SETTING: connection_string,
                "OPERATIONS_QUEUE": f"{prefix}-ops",
                "RESULTS_QUEUE": f"{prefix}-results",
            }
        )
        self._service: QueueServiceClient | None = None

    # names
    @property
    def connection_string(self) -> str:
        return self[CONNECTION_SETTING]

    @property
    def operations(self) -> str:
        return self["OPERATIONS_QUEUE"]

    @property
    def results(self) -> str:
        return self["RESULTS_QUEUE"]

    @property
    def poison(self) -> str:
        return f"{self.operations}-poison"

    @property
    def names(self) -> tuple[str, str, str]:
        return (self.operations, self.poison, self.results)

    # clients
    @property
    def service(self) -> QueueServiceClient:
        if self._service is None:
            self._service = service_client(self)
        return self._service

    def client(self, queue: str | None = None) -> QueueClient:
        return self.service.get_queue_client(queue or self.operations)

    def create(self, *queues: str) -> None:
        ensure_queues(self.service, queues or self.names)

    def exists(self, queue: str) -> bool:
        try:
            self.client(queue).get_queue_properties()
        except ResourceNotFoundError:
            return False
        return True

    # messages
    def send(
        self,
        text: str,
        *,
        queue: str | None = None,
        visibility_timeout: int | None = None,
        time_to_live: int | None = None,
    ) -> str:
        """Put raw ``text`` on ``queue`` (default: operations), creating the queue if needed. Returns the id."""
        client = self.client(queue)
        try:
            message = client.send_message(text, visibility_timeout=visibility_timeout, time_to_live=time_to_live)
        except ResourceNotFoundError:
            self.create(client.queue_name)
            message = client.send_message(text, visibility_timeout=visibility_timeout, time_to_live=time_to_live)
        return message.id

    def send_json(self, value: Any, **kwargs: Any) -> str:
        return self.send(json.dumps(value), **kwargs)

    def peek(self, queue: str | None = None) -> list[str]:
        """Up to 32 visible messages of ``queue`` (default: operations), not altering them."""
        return [m.content for m in self.client(queue).peek_messages(max_messages=32)]

    def count(self, queue: str | None = None) -> int:
        """The approximate message count (on Azurite: visible + invisible + not yet swept expired)."""
        return self.client(queue).get_queue_properties().approximate_message_count

    def take_all(self, queue: str | None = None) -> list[str]:
        """Receive and delete every visible message of ``queue`` (default: results)."""
        return read_all(self.client(queue or self.results))

    def take(self, count: int, queue: str | None = None, *, timeout: float = 10.0) -> list[str]:
        """Wait for ``count`` messages on ``queue`` (default: results); receive and delete them."""
        return wait_for_messages(self.client(queue or self.results), count, timeout=timeout)

    def take_json(self, count: int, queue: str | None = None, *, timeout: float = 10.0) -> list[Any]:
        return [json.loads(text) for text in self.take(count, queue, timeout=timeout)]

    def take_all_json(self, queue: str | None = None) -> list[Any]:
        return [json.loads(text) for text in self.take_all(queue)]
