"""Run the app's queue-triggered function locally, with the Functions host's queue semantics.

``python -m tools.run_local`` does what ``func start`` does for one queue trigger, without
Azure Functions Core Tools: it imports the app module (``function_app`` by default), finds
its queue-triggered function through ``app.get_functions()``, and drives it against the
storage account of the trigger's connection (``AzureWebJobsStorage``; Azurite locally)
with ``host.json``'s ``extensions.queues`` settings:

* ``batchSize`` messages per receive; a new batch once no more than ``newBatchThreshold``
  are in flight (so at most ``batchSize + newBatchThreshold`` run at once, as on the host);
* polling backs off from 100 ms up to ``maxPollingInterval`` while the queue is empty;
* a normal return deletes the message; an exception releases it with ``visibilityTimeout``;
  a failure at the ``maxDequeueCount``-th dequeue copies the raw message to
  ``{queue}-poison`` and deletes it (a message received with a higher dequeue count goes
  there without being run), exactly like the host;
* ``messageEncoding`` ``none`` hands the raw text to the function, ``base64`` (the host's
  default) decodes it first.

Leases: messages are received invisible for ``lease_seconds`` (60 s) and the lease is
renewed at half-time for as long as the function runs (the host does the same with a
10-minute lease). A short, renewed lease means a killed run_local's messages come back
within a minute instead of ten, while a slow invocation is never delivered twice.

Settings come as Core Tools loads them: ``local.settings.json``'s ``Values`` (environment
variables win), then the environment; ``OPERATIONS_QUEUE`` and ``RESULTS_QUEUE`` default
to the contract's ``operations`` / ``operation-results``. The operations queue, its
``-poison`` queue and the results queue are created when missing.

``--drain`` exits 0 as soon as the trigger queue holds no message, visible or delayed,
and nothing is in flight. It relies on the queue's approximate message count, which
(measured on Azurite 3.37, and documented for Azure Storage) counts invisible messages
too: delayed re-enqueues and leased messages. Azurite also counts expired messages until
a receive or peek sweeps them, so the count is read only right after an empty receive.

Python API (in-process or as the base of a subprocess)::

    code = run("function_app", environ, drain=True, max_seconds=120)

    host = LocalHost.from_app("tests.fixtures.echo_app", settings, QueueOptions.load("host.json"))
    host.start(); ...; host.stop(); host.join()
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import importlib
import inspect
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SETTINGS",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_MAX_SECONDS",
    "EXIT_OK",
    "LocalHost",
    "QueueFunction",
    "QueueOptions",
    "RunLocalError",
    "find_queue_function",
    "configure_logging",
    "load_app",
    "main",
    "parse_timespan",
    "read_local_settings",
    "redact",
    "resolve_settings",
    "run",
]

log = logging.getLogger("run_local")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_MAX_SECONDS = 3

#: Contract section 5 defaults for the settings run_local itself needs.
DEFAULT_SETTINGS: Mapping[str, str] = {"OPERATIONS_QUEUE": "operations", "RESULTS_QUEUE": "operation-results"}

MIN_POLLING_INTERVAL = 0.1  # the host's QueuePollingIntervals.Minimum
MAX_MESSAGES_PER_REQUEST = 32  # Azure Storage's limit for one Get Messages call
DEFAULT_LEASE_SECONDS = 60
STARTUP_RETRY_SECONDS = 30.0


class RunLocalError(Exception):
    """A configuration problem: bad host.json, settings, app module or binding (exit code 2)."""


# ---------------------------------------------------------------------------------------------
# host.json
# ---------------------------------------------------------------------------------------------

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_timespan(value: object, name: str = "value") -> float:
    """A .NET TimeSpan string as host.json writes it (``[d.]hh:mm:ss[.fffffff]``) in seconds."""
    if not isinstance(value, str):
        raise RunLocalError(f"host.json {name}: expected a TimeSpan string like \"00:00:30\", got {value!r}")
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise RunLocalError(f"host.json {name}: {value!r} is not a TimeSpan like \"00:00:30\"")
    days, hours, minutes, seconds = match.groups()
    hours_i, minutes_i = int(hours), int(minutes)
    if hours_i > 23 or minutes_i > 59 or float(seconds) >= 60:
        raise RunLocalError(f"host.json {name}: {value!r} is out of range")
    return int(days or 0) * 86400 + hours_i * 3600 + minutes_i * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json, with the host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"
    function_timeout: float | None = None

    @classmethod
    def from_host_json(cls, host: Mapping[str, Any]) -> QueueOptions:
        queues = (host.get("extensions") or {}).get("queues") or {}
        if not isinstance(queues, Mapping):
            raise RunLocalError("host.json extensions.queues: expected an object")

        def integer(key: str, default: int, low: int, high: int) -> int:
            value = queues.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise RunLocalError(f"host.json extensions.queues.{key}: expected an integer {low}..{high}, got {value!r}")
            return value

        batch_size = integer("batchSize", 16, 1, MAX_MESSAGES_PER_REQUEST)
        threshold = integer("newBatchThreshold", batch_size // 2, 0, 10_000)
        max_dequeue = integer("maxDequeueCount", 5, 1, 10_000)
        polling = parse_timespan(queues.get("maxPollingInterval", "00:01:00"), "extensions.queues.maxPollingInterval")
        if polling < MIN_POLLING_INTERVAL:
            raise RunLocalError("host.json extensions.queues.maxPollingInterval: must be at least 100 ms")
        visibility = parse_timespan(queues.get("visibilityTimeout", "00:00:00"), "extensions.queues.visibilityTimeout")
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise RunLocalError(f"host.json extensions.queues.messageEncoding: expected base64 or none, got {encoding!r}")
        timeout_value = host.get("functionTimeout")
        function_timeout = parse_timespan(timeout_value, "functionTimeout") if timeout_value not in (None, "-1") else None
        return cls(
            batch_size=batch_size,
            new_batch_threshold=threshold,
            max_polling_interval=polling,
            visibility_timeout=visibility,
            max_dequeue_count=max_dequeue,
            message_encoding=encoding,
            function_timeout=function_timeout,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QueueOptions:
        """Read a host.json file; a missing file means the host's defaults."""
        path = Path(path)
        if not path.exists():
            log.warning("%s not found: using the host's queue defaults", path)
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise RunLocalError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(data, Mapping):
            raise RunLocalError(f"{path}: expected a JSON object")
        return cls.from_host_json(data)

    @property
    def concurrency(self) -> int:
        return self.batch_size + self.new_batch_threshold


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------


def read_local_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """``Values`` of a local.settings.json (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise RunLocalError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, Mapping):
        raise RunLocalError(f"{path}: expected a JSON object")
    if data.get("IsEncrypted"):
        raise RunLocalError(f"{path}: IsEncrypted is true; run_local reads plain-text values only")
    values = data.get("Values") or {}
    if not isinstance(values, Mapping):
        raise RunLocalError(f"{path}: Values must be an object")
    result: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise RunLocalError(f"{path}: Values.{key} must be a string")
        result[str(key)] = value
    return result


def resolve_settings(
    environ: Mapping[str, str] | None = None,
    *,
    local_settings: str | os.PathLike[str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The settings the app sees: contract defaults < local.settings.json ``Values`` < ``environ``.

    ``local_settings`` defaults to ``{project_dir}/local.settings.json``.
    """
    if environ is None:
        environ = os.environ
    if local_settings is None:
        local_settings = Path(project_dir or os.getcwd()) / "local.settings.json"
    settings = dict(DEFAULT_SETTINGS)
    settings.update(read_local_settings(local_settings))
    settings.update(environ)
    return settings


def _resolve_percent(value: str, settings: Mapping[str, str], what: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = settings.get(name)
        if resolved is None or resolved == "":
            raise RunLocalError(f"{what} {value!r}: app setting {name} is not set")
        return resolved

    return re.sub(r"%([^%]+)%", replace, value)


_SECRETS = [
    (re.compile(r"(?i)(AccountKey|SharedAccessKey|SharedAccessSignature|Password|ClientSecret)=([^;\s'\"]+)"), r"\1=***"),
    (re.compile(r"(?i)([?&](?:sig|se|sv|sp|skoid|sktid)=)[^&\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(\"?(?:access_token|refresh_token|client_secret)\"?\s*[:=]\s*\"?)[^\"&,\s}]+"), r"\1***"),
]


def redact(text: str) -> str:
    """Mask account keys, SAS signatures and bearer tokens in a log text."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


# ---------------------------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------------------------

_FUNCTIONS: dict[int, tuple[Any, list[Any]]] = {}
_FUNCTIONS_LOCK = threading.Lock()


def load_app(module_name: str = "function_app", project_dir: str | os.PathLike[str] | None = None) -> Any:
    """Import the app module and return its ``FunctionApp`` (as the Python worker finds it)."""
    from azure.functions.decorators.function_app import FunctionRegister

    for path in (PROJECT_ROOT, Path(project_dir).resolve() if project_dir else None):
        if path is not None and str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise RunLocalError(f"app module {module_name!r} not found") from None
        raise
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    apps = list({id(app): app for app in apps}.values())
    if len(apps) != 1:
        raise RunLocalError(f"{module_name}: expected exactly one FunctionApp, found {len(apps)}")
    return apps[0]


def _functions_of(app: Any) -> list[Any]:
    # FunctionApp.get_functions() may be called once per app object: cache it.
    with _FUNCTIONS_LOCK:
        cached = _FUNCTIONS.get(id(app))
        if cached is None or cached[0] is not app:
            cached = (app, list(app.get_functions()))
            _FUNCTIONS[id(app)] = cached
        return cached[1]


@dataclass(frozen=True)
class QueueFunction:
    """The queue-triggered function of an app, as run_local calls it."""

    name: str
    arg_name: str
    queue_name_setting: str  # e.g. "%OPERATIONS_QUEUE%"
    connection: str  # the connection setting (prefix), e.g. "AzureWebJobsStorage"
    user_function: Callable[..., Any]
    context_arg: str | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def queue_name(self, settings: Mapping[str, str]) -> str:
        return _resolve_percent(self.queue_name_setting, settings, f"function {self.name}: queue name")


def find_queue_function(app: Any, name: str | None = None) -> QueueFunction:
    """The (one, or the named) queue-triggered function of a ``FunctionApp``."""
    candidates = []
    for function in _functions_of(app):
        trigger = function.get_trigger()
        if trigger is not None and getattr(trigger, "type", None) == "queueTrigger":
            candidates.append(function)
    if name is not None:
        candidates = [f for f in candidates if f.get_function_name() == name]
    if len(candidates) != 1:
        names = [f.get_function_name() for f in candidates]
        wanted = f"named {name!r}" if name else "(use --function to choose)" if names else ""
        raise RunLocalError(f"expected one queue-triggered function {wanted}, found {names or 'none'}")
    function = candidates[0]
    trigger = function.get_trigger()
    for binding in function.get_bindings():
        if binding is not trigger:
            raise RunLocalError(
                f"function {function.get_function_name()}: binding {binding.name!r} ({binding.type}) "
                "is not supported by tools.run_local (queue trigger only)"
            )
    user_function = function.get_user_function()
    context_arg = None
    for parameter in inspect.signature(user_function).parameters.values():
        if parameter.name == trigger.name:
            continue
        if parameter.name == "context":
            context_arg = parameter.name
            continue
        if parameter.default is inspect.Parameter.empty:
            raise RunLocalError(
                f"function {function.get_function_name()}: parameter {parameter.name!r} has no binding"
            )
    return QueueFunction(
        name=function.get_function_name(),
        arg_name=trigger.name,
        queue_name_setting=trigger.queue_name,
        connection=getattr(trigger, "connection", None) or "AzureWebJobsStorage",
        user_function=user_function,
        context_arg=context_arg,
    )


def _make_context(function: QueueFunction, invocation_id: str) -> Any:
    import azure.functions as func

    class LocalContext(func.Context):
        def __init__(self) -> None:
            self._local = threading.local()
            self._local.invocation_id = invocation_id

        @property
        def invocation_id(self) -> str:
            return invocation_id

        @property
        def thread_local_storage(self) -> Any:
            return self._local

        @property
        def function_name(self) -> str:
            return function.name

        @property
        def function_directory(self) -> str:
            return os.getcwd()

        @property
        def trace_context(self) -> Any:
            return None

        @property
        def retry_context(self) -> Any:
            return None

    return LocalContext()


# ---------------------------------------------------------------------------------------------
# the host
# ---------------------------------------------------------------------------------------------


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


class LocalHost:
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
    ) -> None:
        if lease_seconds < 1:
            raise RunLocalError("lease_seconds must be at least 1")
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
            function = find_queue_function(load_app(app_module, project_dir), function_name)
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
            self.exit_code = self._run()
        except RunLocalError as error:
            log.error("%s", error)
            self.exit_code = EXIT_CONFIG
        except Exception as error:  # noqa: BLE001 - report, don't dump secrets
            log.error("run_local failed: %s", redact(f"{type(error).__name__}: {error}"))
            log.debug("%s", redact(traceback.format_exc()))
            self.exit_code = EXIT_ERROR
        finally:
            if saved is not None:
                _restore(saved)
        return self.exit_code

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

    # -- storage -------------------------------------------------------------------------------

    def _connect(self, deadline: float | None) -> bool:
        """Build the clients and create missing queues; False if stopped meanwhile."""
        from azure.core.exceptions import ResourceExistsError

        from shared.errors import SettingsError
        from shared.storage import queue_service_client, storage_connection_from_environ

        try:
            connection = storage_connection_from_environ(self.settings, self.function.connection)
        except SettingsError as error:
            raise RunLocalError(str(error)) from None
        self._service = queue_service_client(connection)
        self._queue = self._service.get_queue_client(self.queue_name)
        self._poison = self._service.get_queue_client(self.poison_queue_name)
        give_up = time.monotonic() + STARTUP_RETRY_SECONDS
        if deadline is not None:
            give_up = min(give_up, deadline)
        delay = 0.5
        for name in (self.queue_name, self.poison_queue_name, self.results_queue_name):
            while True:
                try:
                    self._service.get_queue_client(name).create_queue(retry_total=0)  # this loop retries
                    log.info("created queue %s", name)
                    break
                except ResourceExistsError:
                    break
                except Exception as error:  # noqa: BLE001 - storage not up yet: retry for a while
                    if time.monotonic() + delay > give_up:
                        raise RuntimeError(f"cannot create queue {name}: {_brief(error)}") from None
                    log.warning("creating queue %s failed (%s); retrying", name, _brief(error))
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
                due = [l for l in self._leases.values() if l.leased_until - time.monotonic() < self.lease_seconds / 2]
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

    # -- one message ---------------------------------------------------------------------------

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

    def _storage_call(self, what: str, message_id: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as error:  # noqa: BLE001 - the lease lapses; the message comes back
            self.stats.add("storage_errors")
            log.warning("message %s: %s failed: %s", message_id, what, _brief(error))

    def _invoke(self, message: Any) -> bool:
        from azure.functions.queue import QueueMessage

        function = self.function
        invocation_id = str(uuid.uuid4())
        try:
            body = self._decode(message.content)
        except ValueError as error:
            log.error("Executed 'Functions.%s' (Failed, Id=%s): message %s: %s",
                      function.name, invocation_id, message.id, error)
            return False
        queue_message = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        kwargs: dict[str, Any] = {function.arg_name: queue_message}
        if function.context_arg:
            kwargs[function.context_arg] = _make_context(function, invocation_id)
        log.debug("Executing 'Functions.%s' (message %s, dequeue count %d, Id=%s)",
                  function.name, message.id, message.dequeue_count, invocation_id)
        started = time.monotonic()
        try:
            if function.is_async:
                asyncio.run_coroutine_threadsafe(function.user_function(**kwargs), self._event_loop()).result()
            else:
                function.user_function(**kwargs)
        except BaseException as error:  # noqa: BLE001 - the host catches everything the function raises
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): message %s, dequeue count %d: %s",
                function.name, invocation_id, (time.monotonic() - started) * 1000, message.id,
                message.dequeue_count, redact(_format_exception(error, skip_frames=1)),
            )
            return False
        log.debug("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                  function.name, invocation_id, (time.monotonic() - started) * 1000)
        return True

    def _decode(self, content: str | bytes | None) -> bytes:
        if content is None:
            return b""
        raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        if self.options.message_encoding == "none":
            return raw
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

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
            self._loop = self._loop_thread = None

def _export(settings: Mapping[str, str]) -> dict[str, str | None]:
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    return saved


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _format_exception(error: BaseException, skip_frames: int = 0) -> str:
    tb = error.__traceback__
    for _ in range(skip_frames):  # run_local's own frames say nothing about the failure
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
    return "".join(lines).rstrip()


def _brief(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return redact(f"{type(error).__name__}: {text}"[:300])


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------


def run(
    app_module: str = "function_app",
    environ: Mapping[str, str] | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    host_json: str | os.PathLike[str] | None = None,
    local_settings: str | os.PathLike[str] | None = None,
    function_name: str | None = None,
    drain: bool = True,
    max_seconds: float | None = None,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    export_environ: bool = True,
) -> int:
    """Load settings, host.json and the app as ``python -m tools.run_local`` does, run, return the exit code.

    ``environ`` defaults to ``os.environ``; ``project_dir`` (default: the current
    directory) is where host.json and local.settings.json are looked up.
    """
    project = Path(project_dir or os.getcwd())
    try:
        settings = resolve_settings(environ, local_settings=local_settings, project_dir=project)
        options = QueueOptions.load(host_json or project / "host.json")
        host = LocalHost.from_app(
            app_module, settings, options, function_name=function_name, project_dir=project,
            drain=drain, max_seconds=max_seconds, lease_seconds=lease_seconds, export_environ=export_environ,
        )
    except RunLocalError as error:
        log.error("%s", error)
        return EXIT_CONFIG
    try:
        return host.run()
    except KeyboardInterrupt:
        host.stop()
        return EXIT_OK


class _NoAuthLevelNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Auth level is not applied" not in record.getMessage()


def configure_logging(verbose: bool = False) -> None:
    """Clean stderr logging: ``12:00:00.123 INFO run_local: ...``; Azure SDK chatter only on warnings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(_NoAuthLevelNoise())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the watcher logs one line per poll itself


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.run_local",
        description="Run the app's queue-triggered function against AzureWebJobsStorage "
        "with host.json's queue semantics (no Core Tools needed).",
    )
    parser.add_argument("--app", default="function_app", help="app module to import (default: function_app)")
    parser.add_argument("--function", dest="function_name", help="the queue-triggered function, if the app has several")
    parser.add_argument("--project-dir", default=".", help="where host.json and local.settings.json are (default: .)")
    parser.add_argument("--host-json", help="host.json to use (default: PROJECT_DIR/host.json)")
    parser.add_argument("--local-settings", help="local.settings.json to use (default: PROJECT_DIR/local.settings.json)")
    parser.add_argument("--drain", action="store_true",
                        help="exit 0 once the queue holds no message (visible or delayed) and nothing is in flight")
    parser.add_argument("--max-seconds", type=float, help="give up after this many seconds (exit code 3)")
    parser.add_argument("--lease-seconds", type=int, default=DEFAULT_LEASE_SECONDS,
                        help=f"invisibility of a message being processed, renewed at half-time (default {DEFAULT_LEASE_SECONDS})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (one line per invocation)")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)

    project = Path(args.project_dir).resolve()
    try:
        settings = resolve_settings(os.environ, local_settings=args.local_settings, project_dir=project)
        # Like Core Tools: the function's process sees local.settings.json's values as environment.
        os.environ.update(settings)
        options = QueueOptions.load(args.host_json or project / "host.json")
        host = LocalHost.from_app(
            args.app, settings, options, function_name=args.function_name, project_dir=project,
            drain=args.drain, max_seconds=args.max_seconds, lease_seconds=args.lease_seconds,
        )
    except RunLocalError as error:
        log.error("%s", error)
        return EXIT_CONFIG

    signals_seen = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.info("%s: stopping (in-flight invocations finish; again to force)", signal.Signals(signum).name)
            host.stop()
        else:
            log.warning("forced exit; leased messages come back after %ds", host.lease_seconds)
            logging.shutdown()
            os._exit(EXIT_ERROR)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = host.run()
    if host.in_flight:
        # Stuck invocations would keep the interpreter alive (worker threads are joined at exit).
        logging.shutdown()
        os._exit(code or EXIT_ERROR)
    return code


if __name__ == "__main__":
    sys.exit(main())
