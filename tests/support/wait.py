"""Wait for a condition by polling it, with a deadline (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline (an AssertionError, so pytest shows it as a failure)."""


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    description: str | None = None,
) -> T:
    """Call ``condition`` until it returns something truthy; return that value.

    Raises :class:`WaitTimeout` after ``timeout`` seconds, naming ``description`` and the
    last value (or exception) seen. Exceptions raised by ``condition`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
        except Exception as error:  # noqa: BLE001 - e.g. a queue that does not exist yet
            value, last = None, error
        else:
            last = value
            if value:
                return value
        if time.monotonic() >= deadline:
            what = description or getattr(condition, "__name__", "condition")
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")
        time.sleep(interval)
