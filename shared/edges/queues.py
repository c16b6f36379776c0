"""The watcher's queue writes: re-enqueue, results, poison. One set of clients per process.

Every message is raw UTF-8 JSON text (no base64), the encoding host.json tells
the trigger to read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.core.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from azure.storage.queue import QueueServiceClient

__all__ = ["QueueGateway", "NEVER_EXPIRES"]

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

    def ensure_queues(self) -> None:
        """Create the three queues if missing (local runs; in Azure the Bicep creates them)."""
        from azure.core.exceptions import ResourceExistsError

        for client in (self.operations, self.results, self.poison_queue):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass

    def close(self) -> Any:
        for client in (self.operations, self.results, self.poison_queue):
            client.close()
