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

Modules: ``common`` (constants, the logger, RunLocalError), ``options`` (host.json),
``settings`` (local.settings.json, %SETTING%), ``redaction`` (secret-free log text),
``app`` (the FunctionApp and its queue function), ``storage`` and ``dispatch`` (the
host's queue side and per-message side), ``host`` (LocalHost), ``cli`` (run, main).
"""

from __future__ import annotations

# The rest of the old single module's names, so ``tools.run_local.X`` keeps working for all of them.
from tools.dev.run_local.app import _FUNCTIONS as _FUNCTIONS
from tools.dev.run_local.app import _FUNCTIONS_LOCK as _FUNCTIONS_LOCK
from tools.dev.run_local.app import QueueFunction, find_queue_function, load_app
from tools.dev.run_local.app import _make_context as _make_context
from tools.dev.run_local.app import functions_of as functions_of
from tools.dev.run_local.cli import _NoAuthLevelNoise as _NoAuthLevelNoise
from tools.dev.run_local.cli import configure_logging, main, run
from tools.dev.run_local.common import DEFAULT_LEASE_SECONDS as DEFAULT_LEASE_SECONDS
from tools.dev.run_local.common import (
    DEFAULT_SETTINGS,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_MAX_SECONDS,
    EXIT_OK,
    RunLocalError,
)
from tools.dev.run_local.common import MAX_MESSAGES_PER_REQUEST as MAX_MESSAGES_PER_REQUEST
from tools.dev.run_local.common import MIN_POLLING_INTERVAL as MIN_POLLING_INTERVAL
from tools.dev.run_local.common import PROJECT_ROOT as PROJECT_ROOT
from tools.dev.run_local.common import STARTUP_RETRY_SECONDS as STARTUP_RETRY_SECONDS
from tools.dev.run_local.common import log as log
from tools.dev.run_local.host import LocalHost
from tools.dev.run_local.options import _TIMESPAN as _TIMESPAN
from tools.dev.run_local.options import QueueOptions, parse_timespan
from tools.dev.run_local.redaction import _brief as _brief
from tools.dev.run_local.redaction import _format_exception as _format_exception
from tools.dev.run_local.redaction import redact
from tools.dev.run_local.settings import _export as _export
from tools.dev.run_local.settings import _resolve_percent as _resolve_percent
from tools.dev.run_local.settings import _restore as _restore
from tools.dev.run_local.settings import read_local_settings, resolve_settings
from tools.dev.run_local.storage import HostStats as HostStats
from tools.dev.run_local.storage import _Lease as _Lease

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
