"""LocalHost: the receive loop with host.json's queue semantics, its control and its shutdown."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.dev.run_local.app import QueueFunction, find_queue_function, load_app
from tools.dev.run_local.common import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_SETTINGS,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_MAX_SECONDS,
    EXIT_OK,
    MIN_POLLING_INTERVAL,
    RunLocalError,
    StorageUnavailable,
    log,
)
from tools.dev.run_local.dispatch import _Dispatch
from tools.dev.run_local.http import HttpFront, HttpFunction, find_http_functions
from tools.dev.run_local.options import QueueOptions
from tools.dev.run_local.redaction import _brief, redact
from tools.dev.run_local.settings import _export, _restore
from tools.dev.run_local.storage import HostStats, _Lease, _QueueStorage

__all__ = ["LocalHost"]


class LocalHost(_QueueStorage, _Dispatch):
    """Drives one queue-triggered function with the Functions host's queue semantics.

    :param function: the function (``find_queue_function(load_app(...))``).
    :param settings: the app settings (``resolve_settings(...)``): the queue name and
        connection are resolved from them.
    :param options: host.json's queue options.
    :param drain: stop (exit code 0) once the queue has no message, visible or delayed,
        and nothing is in flight.
    :param max_seconds: stop with exit code 3 after this many seconds.
    :param lease_seconds: invisibility of a received message, renewed at half-time
        while the function runs.
    :param export_environ: copy ``settings`` into ``os.environ`` while running (the app
        reads its settings from the environment, as under the real host); the previous
        values are restored afterwards.
    :param shutdown_timeout: on stop, how long to wait for in-flight invocations
        (default: host.json's ``functionTimeout``, else 60 s).
    """

    def __init__(
        self,
        function: QueueFunction,
        settings: Mapping[str, str],
        options: QueueOptions | None = None,
        *,
        drain: bool = False,
        max_seconds: float | None = None,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        export_environ: bool = False,
        shutdown_timeout: float | None = None,
        http_functions: list[HttpFunction] | None = None,
        http_port: int | None = None,
    ) -> None:
        if lease_seconds < 1:
            raise RunLocalError(f"the lease (--lease-seconds) must be at least 1 second, got {lease_seconds}")
        self.function = function
        self.settings = dict(settings)
        self.options = options or QueueOptions()
        self.drain = drain
        self.max_seconds = max_seconds
        self.lease_seconds = int(lease_seconds)
        self.export_environ = export_environ
        self.shutdown_timeout = (
            shutdown_timeout if shutdown_timeout is not None else self.options.function_timeout or 60.0
        )
        self.queue_name = function.queue_name(self.settings)
        self.poison_queue_name = f"{self.queue_name}-poison"
        self.results_queue_name = self.settings.get("RESULTS_QUEUE") or DEFAULT_SETTINGS["RESULTS_QUEUE"]
        self.stats = HostStats()
        self.exit_code: int | None = None
        self._cond = threading.Condition(threading.RLock())
        self._stopping = False
        self._last_count: int | None = None
        self._closed = False  # set once the run is over: no more lease renewals
        self._leases: dict[str, _Lease] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._sync_slots: threading.BoundedSemaphore | None = None  # the worker's limit on sync functions
        self.http_functions = list(http_functions or [])
        self.http_port = http_port  # None: no HTTP; 0: any free port (self.http.port once running)
        self.http: HttpFront | None = None
        self._http_ready = threading.Event()
        self._service: Any = None
        self._queue: Any = None
        self._poison: Any = None

    @classmethod
    def from_app(
        cls,
        app_module: str,
        settings: Mapping[str, str],
        options: QueueOptions | None = None,
        *,
        function_name: str | None = None,
        project_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> LocalHost:
        # The app reads its settings when imported (as under the real host): with
        # export_environ they are in os.environ for the import too.
        saved = _export(settings) if kwargs.get("export_environ") else None
        try:
            app = load_app(app_module, project_dir)
            function = find_queue_function(app, function_name)
            if kwargs.get("http_port") is not None:
                kwargs["http_functions"] = find_http_functions(app)
                if not kwargs["http_functions"]:
                    raise RunLocalError(f"--http-port: {app_module} has no HTTP-triggered function")
        finally:
            if saved is not None:
                _restore(saved)
        return cls(function, settings, options, **kwargs)

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop receiving; in-flight invocations finish. Safe from any thread or a signal handler."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._leases)

    def start(self) -> LocalHost:
        """Run in a background thread (``join()`` returns the exit code)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self.run, name="run_local", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> int | None:
        """Wait for a background run; its exit code, or ``None`` if still running."""
        if self._thread is None:
            return self.exit_code
        self._thread.join(timeout)
        return None if self._thread.is_alive() else self.exit_code

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.join(self.shutdown_timeout + 10)

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> int:
        """Receive and dispatch until stopped, drained or out of time. Returns the exit code."""
        saved = _export(self.settings) if self.export_environ else None
        try:
            self._start_http()
            self.exit_code = self._run()
        except RunLocalError as error:
            log.error("%s", error)
            self.exit_code = EXIT_CONFIG
        except StorageUnavailable as error:
            log.error("%s", error)
            self.exit_code = EXIT_ERROR
        except Exception as error:  # noqa: BLE001 - report, don't dump secrets
            log.error("run_local failed: %s", redact(f"{type(error).__name__}: {error}"))
            log.debug("%s", redact(traceback.format_exc()))
            self.exit_code = EXIT_ERROR
        finally:
            if self.http is not None:
                self.http.stop()
            self._http_ready.set()
            if saved is not None:
                _restore(saved)
        return self.exit_code

    def _start_http(self) -> None:
        """Serve the app's HTTP functions on 127.0.0.1:``http_port`` (``--http-port``), as ``func start`` does."""
        if self.http_port is None:
            return
        self.http = HttpFront(self.http_functions, "127.0.0.1", self.http_port).start()
        for url in self.http.urls():
            log.info("http: %s", url)
        self._http_ready.set()

    def wait_for_http(self, timeout: float = 10.0) -> int:
        """The HTTP port once it listens (a background run); RunLocalError if it never does."""
        if not self._http_ready.wait(timeout) or self.http is None:
            raise RunLocalError("the HTTP front did not start")
        return self.http.port

    def _run(self) -> int:
        started = time.monotonic()
        deadline = started + self.max_seconds if self.max_seconds is not None else None
        if not self._connect(deadline):
            log.info("stopped before the queues were ready")
            return EXIT_OK
        opts = self.options
        log.info(
            "function %s on queue %s (batchSize=%d, newBatchThreshold=%d, visibilityTimeout=%gs, "
            "maxDequeueCount=%d, maxPollingInterval=%gs, messageEncoding=%s)%s",
            self.function.name, self.queue_name, opts.batch_size, opts.new_batch_threshold,
            opts.visibility_timeout, opts.max_dequeue_count, opts.max_polling_interval,
            opts.message_encoding, " --drain" if self.drain else "",
        )
        pool = ThreadPoolExecutor(max_workers=opts.concurrency, thread_name_prefix="invoke")
        keeper = threading.Thread(target=self._keep_leases, name="lease-keeper", daemon=True)
        keeper.start()
        exit_code = EXIT_OK
        delay = MIN_POLLING_INTERVAL
        outage, outage_logged = 0.0, False
        try:
            while True:
                with self._cond:
                    # Room for a new batch once no more than newBatchThreshold are in flight.
                    while not self._stopping and len(self._leases) > opts.new_batch_threshold:
                        if not self._wait(deadline, None):
                            break
                    if self._stopping:
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    log.error("--max-seconds %g exceeded; %d message(s) in flight", self.max_seconds, self.in_flight)
                    exit_code = EXIT_MAX_SECONDS
                    break
                try:
                    messages = list(
                        self._queue.receive_messages(
                            messages_per_page=opts.batch_size,
                            max_messages=opts.batch_size,
                            visibility_timeout=self.lease_seconds,
                            retry_total=0,  # our own loop retries, staying responsive to stop()
                        )
                    )
                except Exception as error:  # noqa: BLE001 - storage unavailable: back off and retry
                    self.stats.add("storage_errors")
                    outage = outage or time.monotonic()
                    (log.debug if outage_logged else log.warning)(
                        "receive from %s failed (retrying): %s", self.queue_name, _brief(error))
                    outage_logged = True
                    delay = min(max(delay, 1.0) * 2, max(opts.max_polling_interval, 1.0))
                    with self._cond:
                        self._wait(deadline, delay)
                    continue
                if outage:
                    log.info("queue storage reachable again after %.1fs", time.monotonic() - outage)
                    outage, outage_logged = 0.0, False
                if messages:
                    delay = MIN_POLLING_INTERVAL
                    now = time.monotonic()
                    leases = [_Lease(m.id, m.pop_receipt, now + self.lease_seconds) for m in messages]
                    with self._cond:
                        self._leases.update((lease.message_id, lease) for lease in leases)
                    self.stats.add("received", len(messages))
                    for message, lease in zip(messages, leases):
                        pool.submit(self._process, message, lease)
                    continue
                if self.drain and self._drained():
                    log.info("drained: queue %s holds no message and nothing is in flight", self.queue_name)
                    break
                with self._cond:
                    self._wait(deadline, delay)
                delay = min(delay * 2, opts.max_polling_interval)
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._finish(pool)
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            keeper.join(timeout=5)
            self._stop_loop()
        log.info("stopped: %s", self.stats.as_dict())
        return exit_code

    def _wait(self, deadline: float | None, timeout: float | None) -> bool:
        """Wait on the condition (held) for a change, ``timeout`` or the deadline; False past the deadline."""
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            timeout = remaining if timeout is None else min(timeout, remaining)
        self._cond.wait(timeout)
        return True

    def _drained(self) -> bool:
        with self._cond:
            if self._leases:
                return False
        # Nothing in flight and the receive just came back empty (which also swept expired
        # messages on Azurite): the count now covers exactly the delayed messages.
        try:
            count = self._queue.get_queue_properties(retry_total=0).approximate_message_count
        except Exception as error:  # noqa: BLE001
            self.stats.add("storage_errors")
            log.warning("reading the message count of %s failed: %s", self.queue_name, _brief(error))
            return False
        if count and count != self._last_count:
            log.debug("not drained: %d message(s) delayed or invisible", count)
            self._last_count = count
        return count == 0

    def _finish(self, pool: ThreadPoolExecutor) -> None:
        with self._cond:
            end = time.monotonic() + self.shutdown_timeout
            if self._leases:
                log.info("waiting for %d in-flight invocation(s)", len(self._leases))
            while self._leases and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
            left = len(self._leases)
        if left:
            log.error("%d invocation(s) still running after %gs; their messages come back after the lease",
                      left, self.shutdown_timeout)
            pool.shutdown(wait=False, cancel_futures=True)
        else:
            pool.shutdown(wait=True)
