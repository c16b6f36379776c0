"""How long a provider asks us to wait: ``retry-after-ms``, ``x-ms-retry-after-ms``, ``Retry-After``.

The same headers, in the same order, as azure-core's ``get_retry_after``; written
here because azure-core's version reads the wall clock for HTTP-dates, and the
decision core is pure (``now`` is an argument). The HTTP-date grammar itself is
the standard library's (``email.utils``). Never raises: a value it cannot read
is no hint at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["delay_hint", "parse_retry_after"]

_MS_HEADERS = ("retry-after-ms", "x-ms-retry-after-ms")


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds from ``now`` for a ``Retry-After`` value (delta-seconds or HTTP-date), or None."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            seconds = (moment - now).total_seconds()
        except OverflowError:
            return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def delay_hint(headers: Mapping[str, str], now: datetime) -> float | None:
    """The provider's delay hint in seconds from lower-cased ``headers``, or None when it gave none."""
    for name in _MS_HEADERS:
        raw = headers.get(name)
        if raw is not None:
            try:
                millis = float(raw.strip())
            except ValueError:
                continue
            if math.isfinite(millis):
                return max(0.0, millis / 1000.0)
    raw = headers.get("retry-after")
    return parse_retry_after(raw, now) if raw is not None else None
