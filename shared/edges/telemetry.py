"""The watcher's metrics for operators: OpenTelemetry, exported to Azure Monitor when configured.

With ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set (the Functions host's own convention),
:func:`metrics_from_environ` calls ``azure.monitor.opentelemetry.configure_azure_monitor``
once per process and returns :class:`OtelMetrics` on its meter. Without it, nothing is
imported or started (tests and local runs stay offline, cold start pays nothing) and the
watcher gets :data:`NO_METRICS`.

The instruments (names as they appear in Application Insights' ``customMetrics``):

==============================  ==============  =======================================================
``lro.polls``                   counter         one per message handled, by ``source`` and ``outcome``
                                                (``again``, ``deferred``, ``rejected`` or the outcome)
``lro.operations.in_flight``    up-down counter +1 at an operation's first re-enqueue, -1 when one that
                                                was re-enqueued ends: summed over instances, the
                                                operations being watched, by ``source``
``lro.outcomes``                counter         outcomes published, by ``source`` and ``outcome``
``lro.detection_lag``           histogram (s)   ``completedAt`` minus the provider's ``endTime``, by ``source``
``lro.reads_per_operation``     histogram       status reads an operation took (the result's ``polls``)
``lro.throttled``               counter         429 answers, by ``source`` and ``subscription``
==============================  ==============  =======================================================
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from shared.core import arm_budget
from shared.core.end_estimate import parse_time

__all__ = [
    "CONNECTION_SETTING",
    "NO_METRICS",
    "NoMetrics",
    "OtelMetrics",
    "WatcherMetrics",
    "detection_lag_seconds",
    "metrics_from_environ",
    "subscription_of",
]

CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
METER_NAME = "lro_watcher"
_configured = threading.Lock()
_meter: Any = None


class WatcherMetrics(Protocol):
    """What the watcher reports, one call per fact (the seam :class:`shared.watcher.Watcher` calls)."""

    def polled(self, source: str, outcome: str) -> None:
        """A message was handled: ``again``, ``deferred``, ``rejected`` or the outcome it published."""

    def started(self, source: str) -> None:
        """An operation was re-enqueued for the first time: it is in flight."""

    def finished(self, source: str, outcome: str, reads: int, lag_seconds: float | None, was_in_flight: bool) -> None:
        """An outcome was published after ``reads`` status reads; ``lag_seconds`` past the provider's endTime."""

    def throttled(self, source: str, subscription: str) -> None:
        """A status read was answered 429."""


class NoMetrics:
    """No exporter configured: every call does nothing."""

    def polled(self, source: str, outcome: str) -> None:
        return None

    def started(self, source: str) -> None:
        return None

    def finished(self, source: str, outcome: str, reads: int, lag_seconds: float | None, was_in_flight: bool) -> None:
        return None

    def throttled(self, source: str, subscription: str) -> None:
        return None


NO_METRICS = NoMetrics()


class OtelMetrics:
    """The instruments on one OpenTelemetry meter (``opentelemetry.metrics.Meter``)."""

    def __init__(self, meter: Any) -> None:
        self._polls = meter.create_counter("lro.polls", unit="{message}", description="Messages handled, by outcome")
        self._in_flight = meter.create_up_down_counter(
            "lro.operations.in_flight", unit="{operation}", description="Operations re-enqueued and not ended yet")
        self._outcomes = meter.create_counter("lro.outcomes", unit="{operation}", description="Outcomes published")
        self._lag = meter.create_histogram(
            "lro.detection_lag", unit="s", description="completedAt minus the provider's endTime")
        self._reads = meter.create_histogram(
            "lro.reads_per_operation", unit="{read}", description="Status reads per operation, at its outcome")
        self._throttled = meter.create_counter("lro.throttled", unit="{read}", description="Status reads answered 429")

    def polled(self, source: str, outcome: str) -> None:
        self._polls.add(1, {"source": source, "outcome": outcome})

    def started(self, source: str) -> None:
        self._in_flight.add(1, {"source": source})

    def finished(self, source: str, outcome: str, reads: int, lag_seconds: float | None, was_in_flight: bool) -> None:
        self._outcomes.add(1, {"source": source, "outcome": outcome})
        self._reads.record(reads, {"source": source, "outcome": outcome})
        if lag_seconds is not None:
            self._lag.record(lag_seconds, {"source": source})
        if was_in_flight:
            self._in_flight.add(-1, {"source": source})

    def throttled(self, source: str, subscription: str) -> None:
        self._throttled.add(1, {"source": source, "subscription": subscription})


def metrics_from_environ(environ: Mapping[str, str]) -> WatcherMetrics:
    """:class:`OtelMetrics` exporting to Azure Monitor when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, else no-ops.

    ``configure_azure_monitor`` runs once per process. Its log export is pointed at a logger
    nothing writes to (``lro_watcher.otel``): the Functions host already sends the watcher's
    log lines to Application Insights, and they would arrive twice. Live metrics are off.
    """
    global _meter
    connection = (environ.get(CONNECTION_SETTING) or "").strip()
    if not connection:
        return NO_METRICS
    with _configured:
        if _meter is None:
            from azure.monitor.opentelemetry import configure_azure_monitor  # only here: a heavy import (cold start)
            from opentelemetry import metrics

            configure_azure_monitor(connection_string=connection, logger_name="lro_watcher.otel", enable_live_metrics=False)
            _meter = metrics.get_meter(METER_NAME)
    return OtelMetrics(_meter)


def subscription_of(url: str) -> str:
    """The subscription id a status URL names (``/subscriptions/{id}``, read as ARM's read budget reads it), else ``-``."""
    return arm_budget.subscription_of(url).split("|", 1)[1] or "-"


def detection_lag_seconds(result: Mapping[str, Any]) -> float | None:
    """``completedAt`` minus ``endTime`` of a result, in seconds; None when the provider sent no endTime."""
    end, completed = parse_time(result.get("endTime")), parse_time(result.get("completedAt"))
    if end is None or completed is None:
        return None
    return max(0.0, (completed - end).total_seconds())
