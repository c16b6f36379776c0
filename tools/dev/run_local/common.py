"""What every part of run_local shares: exit codes, default settings, limits, the logger, RunLocalError."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_SETTINGS",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_MAX_SECONDS",
    "EXIT_OK",
    "MAX_MESSAGES_PER_REQUEST",
    "MIN_POLLING_INTERVAL",
    "PROJECT_ROOT",
    "STARTUP_RETRY_SECONDS",
    "RunLocalError",
    "StorageUnavailable",
    "read_json_object",
    "log",
]

log = logging.getLogger("run_local")

PROJECT_ROOT = Path(__file__).resolve().parents[3]

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


class StorageUnavailable(RuntimeError):
    """The queues cannot be used: storage unreachable, or it refused the credentials (exit code 1, one line)."""


def read_json_object(path: Path) -> Mapping[str, Any]:
    """The JSON object in ``path`` (a BOM allowed, as Core Tools allow); RunLocalError otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise RunLocalError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, Mapping):
        raise RunLocalError(f"{path}: expected a JSON object")
    return data
