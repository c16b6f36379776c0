"""The watcher's queue writes (re-enqueue, results, poison; one set of clients per process), and the one way queues are created.

Every message is raw UTF-8 JSON text (no base64), the encoding host.json tells
the trigger to read. In Azure the Bicep creates the queues; everywhere else (the local
stack, run_local, the tools, the tests and benchmarks) :func:`ensure_queues` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.core.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from azure.storage.queue import QueueServiceClient

__all__ = ["QueueGateway", "NEVER_EXPIRES", "ensure_queues", "queue_names"]

NEVER_EXPIRES = -1


class QueueGateway:
    """Writes to the operations, results and poison queues."""

    def __init__(self, service: QueueServiceClient, settings: Settings) -> None:
        self.operations = service.get_queue_client(settings.operations_queue)
        self.results = service.get_queue_client(settings.results_queue)
        self.poison_queue = service.get_queue_client(settings.poison_queue)

    def enqueue(self, text: str) -> str:
        """A new request (the ``watch`` HTTP function): visible now, never expiring; returns the message id."""
        sent = self.operations.send_message(text, time_to_live=NEVER_EXPIRES)
        return str(sent.id)

    def reenqueue(self, text: str, delay_seconds: int, time_to_live_seconds: int) -> None:
        """Send the request on to its next poll, invisible for ``delay_seconds``."""
        self.operations.send_message(text, visibility_timeout=delay_seconds, time_to_live=time_to_live_seconds)

    def publish_result(self, text: str) -> None:
        self.results.send_message(text, time_to_live=NEVER_EXPIRES)

    def poison(self, text: str) -> None:
        self.poison_queue.send_message(text, time_to_live=NEVER_EXPIRES)


def queue_names(settings: Settings) -> tuple[str, str, str]:
    """The operations, results and poison queues the settings name (what infra/main.bicep creates)."""
    return settings.operations_queue, settings.results_queue, settings.poison_queue


def ensure_queues(service: QueueServiceClient, names: Iterable[str], *, retry_total: int | None = None) -> None:
    """Create each queue in ``names`` that does not exist yet; one that does is left as it is.

    ``retry_total``: the storage SDK's retries per queue (its default when None; 0 for a caller
    with a retry loop of its own). The SDK reports an existing queue as ResourceExistsError,
    both as 409 (other metadata) and as 204 ("Queue already exists": a create sent twice).
    """
    from azure.core.exceptions import ResourceExistsError

    options: dict[str, Any] = {} if retry_total is None else {"retry_total": retry_total}  # a pipeline keyword
    for name in names:
        try:
            service.get_queue_client(name).create_queue(**options)
        except ResourceExistsError:
            pass
