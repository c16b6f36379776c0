"""LocalHost's storage side: leases and counters, queue clients and creation, lease renewal.

``_QueueStorage`` is a mixin of :class:`tools.dev.run_local.host.LocalHost`: its methods use
the host's attributes (``settings``, ``_cond``, ``_leases``, ``_queue``, ``stats``, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.dev.run_local.common import STARTUP_RETRY_SECONDS, RunLocalError, StorageUnavailable, log
from tools.dev.run_local.redaction import _brief
from tools.ops.hints import storage_failure

__all__ = ["HostStats"]


class _Lease:
    __slots__ = ("message_id", "pop_receipt", "leased_until", "lock", "done")

    def __init__(self, message_id: str, pop_receipt: str, leased_until: float) -> None:
        self.message_id = message_id
        self.pop_receipt = pop_receipt
        self.leased_until = leased_until
        self.lock = threading.Lock()
        self.done = False


@dataclass
class HostStats:
    """Counters of one LocalHost run (thread-safe enough for reading)."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    poisoned: int = 0
    renewed: int = 0
    storage_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def _refused(error: BaseException) -> bool:
    """Storage answered and refused the credentials (a wrong key, no role): retrying cannot help."""
    from azure.core.exceptions import ClientAuthenticationError

    return isinstance(error, ClientAuthenticationError) or getattr(error, "status_code", None) == 403


class _QueueStorage:
    """Queue clients, queue creation, lease renewal and storage calls of a LocalHost (mixin)."""

    def _connect(self, deadline: float | None) -> bool:
        """Build the clients and create missing queues; False if stopped meanwhile."""
        from shared.core.errors import SettingsError
        from shared.core.storage_connection import storage_connection_from_environ
        from shared.edges.queues import ensure_queues
        from shared.edges.storage import queue_service_client

        try:
            connection = storage_connection_from_environ(self.settings, self.function.connection)
            self._service = queue_service_client(connection)
        except SettingsError as error:
            raise RunLocalError(str(error)) from None
        self._queue = self._service.get_queue_client(self.queue_name)
        self._poison = self._service.get_queue_client(self.poison_queue_name)
        give_up = time.monotonic() + STARTUP_RETRY_SECONDS
        if deadline is not None:
            give_up = min(give_up, deadline)
        delay = 0.5
        for name in (self.queue_name, self.poison_queue_name, self.results_queue_name):
            while True:
                try:
                    ensure_queues(self._service, [name], retry_total=0)  # this loop retries
                    break
                except Exception as error:  # noqa: BLE001 - storage not up yet: retry for a while
                    if "is not supported by Azurite" in str(error):  # retrying cannot help: say what does
                        raise RunLocalError(
                            "Azurite refuses the Storage SDK's API version: start it with --skipApiVersionCheck "
                            "(python -m tools.stack does)"
                        ) from None
                    if _refused(error) or time.monotonic() + delay > give_up:  # a wrong key stays wrong
                        raise StorageUnavailable(f"cannot create queue {name}: {storage_failure(error)}") from None
                    log.warning("creating queue %s failed (%s); retrying", name, storage_failure(error))
                    with self._cond:
                        if self._stopping:
                            return False
                        self._cond.wait(delay)
                    delay = min(delay * 2, 5.0)
        return True

    def _keep_leases(self) -> None:
        tick = max(0.1, self.lease_seconds / 4)
        while True:
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(tick)
                due = [held for held in self._leases.values() if held.leased_until - time.monotonic() < self.lease_seconds / 2]
            for lease in due:
                with lease.lock:
                    if lease.done:
                        continue
                    try:
                        updated = self._queue.update_message(  # no SDK back-off: a late renewal loses the lease
                            lease.message_id, lease.pop_receipt, visibility_timeout=self.lease_seconds, retry_total=0
                        )
                    except Exception as error:  # noqa: BLE001
                        self.stats.add("storage_errors")
                        log.warning("renewing the lease of message %s failed: %s", lease.message_id, _brief(error))
                        continue
                    lease.pop_receipt = updated.pop_receipt
                    lease.leased_until = time.monotonic() + self.lease_seconds
                    self.stats.add("renewed")

    def _storage_call(self, what: str, message_id: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as error:  # noqa: BLE001 - the lease lapses; the message comes back
            self.stats.add("storage_errors")
            log.warning("message %s: %s failed: %s", message_id, what, _brief(error))
