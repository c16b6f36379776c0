"""The soak's consumer: takes every message off the results or the poison queue, each kept once by its id."""

from __future__ import annotations

from typing import Any

__all__ = ["Drain"]


class Drain:
    """Consumes one queue; each message is kept once, by id (a failed delete brings it back)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.texts: list[str] = []
        self.errors = 0
        self._seen: set[str] = set()

    def once(self) -> list[str]:
        new: list[str] = []
        try:
            for _ in range(8):  # at most 256 messages a round: the main loop stays responsive
                batch = list(self.client.receive_messages(
                    messages_per_page=32, max_messages=32, visibility_timeout=60, retry_total=0))
                for message in batch:
                    if message.id not in self._seen:
                        self._seen.add(message.id)
                        new.append(message.content)
                    try:
                        self.client.delete_message(message.id, message.pop_receipt, retry_total=0)
                    except Exception:  # noqa: BLE001 - it comes back and is recognised by its id
                        self.errors += 1
                if len(batch) < 32:
                    break
        except Exception:  # noqa: BLE001 - storage restarting: try again on the next round
            self.errors += 1
        self.texts.extend(new)
        return new
