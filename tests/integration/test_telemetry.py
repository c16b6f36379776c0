"""OpenTelemetry for operators: the watcher's metrics after a run of a few operations, read in memory.

The real Watcher handles real queue messages on Azurite against the simulator, with the
instruments of :class:`shared.edges.telemetry.OtelMetrics` on a meter whose reader is an
``InMemoryMetricReader``; without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` nothing is
imported or exported (checked in a fresh interpreter).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared.edges.http import HttpxTransport
from shared.edges.telemetry import NO_METRICS, OtelMetrics, metrics_from_environ
from shared.runtime import build_watcher
from tests.support import QueueSet
from tests.support.processes import PROJECT_ROOT
from tools.dev.sim import Simulator

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    points: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def _by(points: list[Any], **attributes: str) -> list[Any]:
    return [p for p in points if all(p.attributes.get(k) == v for k, v in attributes.items())]


def test_a_run_of_a_few_operations_shows_every_metric(sim: Simulator, queues: QueueSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    for name in ("AZURE_CLIENT_ID", "MSI_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    queues.create()
    env = {**queues, "ARM_ENDPOINT": sim.base_url, "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
           "IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header,
           "POLL_MIN_DELAY_SECONDS": "0", "POLL_MAX_DELAY_SECONDS": "0"}
    ended = (datetime.now(UTC) - timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    sim.script("op-slow", [{"status": "InProgress"}, {"status": "InProgress"}, {"status": "Succeeded", "endTime": ended}])
    sim.script("op-throttled", [{"http": 429, "retryAfter": "0"}, {"status": "Failed", "error": {"code": "E", "message": "m"}}])
    sim.script("op-fast", [{"status": "Succeeded"}])
    for operation in ("op-slow", "op-throttled", "op-fast"):
        queues.send_json({"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "westus", "operationId": operation},
                         queue=queues.operations)
    queues.send_json({"source": "apim", "operationID": "typo"}, queue=queues.operations)

    reader = InMemoryMetricReader()
    metrics = OtelMetrics(MeterProvider(metric_readers=[reader]).get_meter("lro_watcher"))
    operations = queues.client(queues.operations)
    with closing(HttpxTransport(timeout_seconds=5)) as http:
        watcher = build_watcher(env, http=http, metrics=metrics)
        for _ in range(20):  # each pass takes what is visible (delays are 0 s); done when the queue is empty
            batch = list(operations.receive_messages(max_messages=32, visibility_timeout=30))
            if not batch and queues.count(queues.operations) == 0:
                break
            for message in batch:
                watcher.handle(message.content, message.dequeue_count, message_id=message.id)
                operations.delete_message(message.id, message.pop_receipt)
    assert len(queues.take_all(queues.results)) == 3

    points = _points(reader)
    polls = points["lro.polls"]
    assert sum(p.value for p in _by(polls, source="apim", outcome="again")) == 3  # two for op-slow, one after the 429
    assert [p.value for p in _by(polls, outcome="Succeeded")] == [2] and [p.value for p in _by(polls, outcome="Failed")] == [1]
    assert [p.value for p in _by(polls, source="apim", outcome="rejected")] == [1]  # the source as far as it reads
    assert [p.value for p in _by(points["lro.outcomes"], source="apim", outcome="Succeeded")] == [2]
    (in_flight,) = points["lro.operations.in_flight"]
    assert in_flight.value == 0, "two operations went in flight (+1 each) and both ended (-1 each)"
    reads = {tuple(sorted(p.attributes.items())): (p.count, p.sum) for p in points["lro.reads_per_operation"]}
    assert reads[(("outcome", "Succeeded"), ("source", "apim"))] == (2, 3 + 1)  # op-slow 3 reads, op-fast 1
    assert reads[(("outcome", "Failed"), ("source", "apim"))] == (1, 2)
    (lag,) = points["lro.detection_lag"]  # the simulator sends endTime with every terminal status; op-slow's is 90 s old
    assert lag.count == 3 and 90 <= lag.max < 600
    (throttled,) = points["lro.throttled"]
    assert throttled.value == 1 and throttled.attributes == {"source": "apim", "subscription": SUBSCRIPTION}


def test_no_exporter_without_the_connection_string() -> None:
    assert metrics_from_environ({}) is NO_METRICS and metrics_from_environ({"APPLICATIONINSIGHTS_CONNECTION_STRING": " "}) is NO_METRICS
    code = ("import sys, function_app; from shared.runtime import build_watcher; "
            "from shared.edges.telemetry import metrics_from_environ; metrics_from_environ({}); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('azure.monitor', 'opentelemetry.sdk')))))")
    done = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "", "PYTHONPATH": str(PROJECT_ROOT),
                                                  "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [], "cold start imports no exporter"


def test_with_the_connection_string_the_azure_monitor_exporter_reads_the_meter() -> None:
    code = """
import json
from opentelemetry import metrics
from shared.edges.telemetry import OtelMetrics, metrics_from_environ
m = metrics_from_environ({"APPLICATIONINSIGHTS_CONNECTION_STRING":
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"})
provider = metrics.get_meter_provider()
readers = [type(r).__name__ + ":" + type(getattr(r, "_exporter", None)).__name__
           for r in provider._metric_readers]
print(json.dumps({"metrics": type(m).__name__, "readers": readers}))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "", "PYTHONPATH": str(PROJECT_ROOT), "OTEL_TRACES_EXPORTER": "none",
                               "OTEL_LOGS_EXPORTER": "none", "TMPDIR": "/tmp"})
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["metrics"] == "OtelMetrics"
    assert "PeriodicExportingMetricReader:AzureMonitorMetricExporter" in shown["readers"], shown
