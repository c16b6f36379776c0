"""LocalHost's per-message side: invoke the function, then delete, release or poison the message.

``_Dispatch`` is a mixin of :class:`tools.dev.run_local.host.LocalHost`: its methods use the
host's attributes (``function``, ``options``, ``_cond``, ``_leases``, ``_queue``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import os
import threading
import time
import uuid
from typing import Any

from tools.dev.run_local.app import _make_context
from tools.dev.run_local.binding import queue_message_argument
from tools.dev.run_local.common import log
from tools.dev.run_local.redaction import _brief, _format_exception, redact
from tools.dev.run_local.settings import worker_thread_count
from tools.dev.run_local.storage import _Lease

__all__: list[str] = []


def _leading_frames(error: BaseException) -> int:
    """How many frames of run_local and concurrent.futures lead the traceback (they say nothing)."""
    count, tb = 0, error.__traceback__
    while tb is not None and tb.tb_next is not None and any(
        part in tb.tb_frame.f_code.co_filename for part in ("run_local", "concurrent")
    ):
        count, tb = count + 1, tb.tb_next
    return count


class _Dispatch:
    """Processing of one received message by a LocalHost (mixin)."""

    def _process(self, message: Any, lease: _Lease) -> None:
        try:
            opts = self.options
            if message.dequeue_count > opts.max_dequeue_count:
                # Left behind by a consumer that died: the host poisons it without running it.
                log.warning("message %s: dequeue count %d exceeds maxDequeueCount %d",
                            message.id, message.dequeue_count, opts.max_dequeue_count)
                self._poison_message(message, lease)
                return
            succeeded = self._invoke(message)
            with lease.lock:
                lease.done = True
                if succeeded:
                    self.stats.add("succeeded")
                    self._storage_call("delete", message.id,
                                       lambda: self._queue.delete_message(message.id, lease.pop_receipt))
                    return
                self.stats.add("failed")
            if message.dequeue_count >= opts.max_dequeue_count:
                self._poison_message(message, lease)
            else:
                visibility = math.ceil(opts.visibility_timeout)
                self._storage_call(
                    "release", message.id,
                    lambda: self._queue.update_message(message.id, lease.pop_receipt, visibility_timeout=visibility),
                )
        except Exception as error:  # noqa: BLE001 - a bug here: release the message as on a failure
            log.error("message %s: run_local error: %s", message.id, redact(_format_exception(error)))
            with lease.lock:
                if not lease.done:
                    lease.done = True
                    self._storage_call(
                        "release", message.id,
                        lambda: self._queue.update_message(
                            message.id, lease.pop_receipt, visibility_timeout=math.ceil(self.options.visibility_timeout)
                        ),
                    )
        finally:
            with self._cond:
                self._leases.pop(message.id, None)
                self._cond.notify_all()

    def _poison_message(self, message: Any, lease: _Lease) -> None:
        with lease.lock:
            lease.done = True
            try:
                self._poison.send_message(message.content)
            except Exception as error:  # noqa: BLE001
                self.stats.add("storage_errors")
                log.error("message %s: copy to %s failed (%s); it will be retried",
                          message.id, self.poison_queue_name, _brief(error))
                return
            self.stats.add("poisoned")
            log.warning("message %s moved to %s after %d dequeue(s)",
                        message.id, self.poison_queue_name, message.dequeue_count)
            self._storage_call("delete", message.id, lambda: self._queue.delete_message(message.id, lease.pop_receipt))

    def _invoke(self, message: Any) -> bool:
        function = self.function
        invocation_id = str(uuid.uuid4())
        try:
            body = self._decode(message.content)
        except ValueError as error:
            log.error("Executed 'Functions.%s' (Failed, Id=%s): message %s: %s",
                      function.name, invocation_id, message.id, error)
            return False
        kwargs: dict[str, Any] = {function.arg_name: queue_message_argument(message, body)}
        if function.context_arg:
            kwargs[function.context_arg] = _make_context(function, invocation_id)
        log.debug("Executing 'Functions.%s' (message %s, dequeue count %d, Id=%s)",
                  function.name, message.id, message.dequeue_count, invocation_id)
        started = time.monotonic()
        try:
            if function.is_async:
                asyncio.run_coroutine_threadsafe(function.user_function(**kwargs), self._event_loop()).result()
            else:
                with self._worker_slots():
                    function.user_function(**kwargs)
        except BaseException as error:  # noqa: BLE001 - the host catches everything the function raises
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): message %s, dequeue count %d: %s",
                function.name, invocation_id, (time.monotonic() - started) * 1000, message.id,
                message.dequeue_count, redact(_format_exception(error, skip_frames=_leading_frames(error))),
            )
            return False
        log.debug("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                  function.name, invocation_id, (time.monotonic() - started) * 1000)
        return True

    def _decode(self, content: str | bytes | None) -> bytes | str:
        """The body as the host passes it: the text itself (messageEncoding none), or the base64-decoded bytes."""
        if content is None:
            return b""
        if self.options.message_encoding == "none":
            return content
        raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64 (host.json messageEncoding is base64)") from None

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        # One event loop for every async invocation, as in the Python worker.
        with self._cond:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="run_local-asyncio", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def _worker_slots(self) -> threading.BoundedSemaphore:
        # The Python worker runs sync functions on one pool of PYTHON_THREADPOOL_THREAD_COUNT threads,
        # however many invocations the host hands it at once (batchSize + newBatchThreshold). The same
        # limit here, as a semaphore on the invoking threads: no hand-off to another thread per message
        # (each costs a GIL switch), and at most that many sync invocations run at once.
        with self._cond:
            if self._sync_slots is None:
                count = worker_thread_count(self.settings)
                log.info("sync functions run on %s worker thread(s) (PYTHON_THREADPOOL_THREAD_COUNT)", count or "the default")
                self._sync_slots = threading.BoundedSemaphore(count or min(32, (os.cpu_count() or 1) + 4))
            return self._sync_slots

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
            self._loop = self._loop_thread = None
