"""The stage for P1 and P4: Azurite, the simulator (its own process), fresh queues, worker runs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.measure.bench.common import PROJECT_ROOT, cpu_seconds, python_env, started_process

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SOURCES = ("apim", "operationalinsights", "arm", "devcenter")


class Stage:
    """Azurite + simulator; ``with Stage() as stage: stage.run(...)``."""

    def __init__(self, azurite: Any = None) -> None:
        """``azurite``: a running :class:`tools.dev.azurite.Azurite` to use; default: start one."""
        self._stack = contextlib.ExitStack()
        self.azurite: Any = azurite
        self.sim_process: subprocess.Popen[str] | None = None
        self.sim: dict[str, Any] = {}

    def __enter__(self) -> Stage:
        from tools.dev.azurite import Azurite

        if self.azurite is None:
            self.azurite = self._stack.enter_context(Azurite())
        process, info = self._stack.enter_context(
            started_process(["-m", "tools.simulator", "--max-requests", "2000"])
        )
        self.sim_process, self.sim = process, info
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- queues and operations -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.sim["baseUrl"]

    def service(self) -> Any:
        from shared.core.storage_connection import storage_connection_from_environ
        from shared.edges.storage import queue_service_client

        return queue_service_client(storage_connection_from_environ({"AzureWebJobsStorage": self.azurite.connection_string}))

    def new_queues(self) -> dict[str, str]:
        from shared.edges.queues import ensure_queues

        stem = f"bench-{uuid.uuid4().hex[:10]}"
        names = {"OPERATIONS_QUEUE": f"{stem}-ops", "RESULTS_QUEUE": f"{stem}-results"}
        ensure_queues(self.service(), (*names.values(), f"{names['OPERATIONS_QUEUE']}-poison"))
        return names

    def drop_queues(self, names: dict[str, str]) -> None:
        service = self.service()
        for name in (*names.values(), f"{names['OPERATIONS_QUEUE']}-poison"):
            with contextlib.suppress(Exception):
                service.delete_queue(name)

    def script(self, operations: list[dict[str, Any]]) -> None:
        for start in range(0, len(operations), 500):
            request = urllib.request.Request(
                f"{self.base_url}/_sim/operations", data=json.dumps(operations[start:start + 500]).encode(),
                headers={"Content-Type": "application/json"}, method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

    def requests_for(self, count: int, polls_per_op: int | None, tag: str) -> list[str]:
        """``count`` request messages (sources round-robin), each scripted to need ``polls_per_op``
        reads (InProgress, then Succeeded at the last), or to run forever when ``None``."""
        port = self.base_url.rsplit(":", 1)[1]
        texts, scripts = [], []
        for i in range(count):
            source = SOURCES[i % len(SOURCES)]
            op = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{i}"))
            steps: list[dict[str, Any]] = [{"status": "Running" if source == "devcenter" else "InProgress",
                                             "percentComplete": 50}]
            if polls_per_op is not None:
                if polls_per_op > 1:
                    steps[0]["times"] = polls_per_op - 1
                steps.append({"status": "Succeeded"})
            scripts.append({"operationId": op, "steps": steps})
            if source == "apim":
                request = {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": op}
            elif source == "operationalinsights":
                request = {"source": "operationalinsights", "subscriptionId": SUBSCRIPTION, "location": "westus", "operationId": op}
            elif source == "devcenter":
                request = {"source": "devcenter", "endpoint": self.base_url, "projectName": "web", "operationId": op}
            else:
                request = {"source": "arm", "statusUrl": f"{self.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/locations/westus/operationResults/{op}?api-version=2023-12-01"}
            request["correlationId"] = f"bench-{tag}-{i}"
            request["context"] = {"pipeline": "bench", "run": tag, "port": port}
            texts.append(json.dumps(request, separators=(",", ":")))
        self.script(scripts)
        return texts

    def enqueue(self, queue: str, texts: list[str]) -> None:
        """Send every text; a send that fails (Azurite stalls now and then under a deep queue) is
        tried again, twice. A duplicate from a send that timed out but landed is harmless here."""
        client = self.service().get_queue_client(queue)

        def send(text: str) -> None:
            for attempt in range(3):
                try:
                    client.send_message(text, read_timeout=300)
                    return
                except Exception:  # noqa: BLE001
                    if attempt == 2:
                        raise
                    time.sleep(1.0)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, texts))

    def environ(self, queues: dict[str, str], polls_per_op: int | None = None) -> dict[str, str]:
        env = {
            "AzureWebJobsStorage": self.azurite.connection_string,
            **queues,
            "ARM_ENDPOINT": self.base_url,
            "STATUS_HOST_ALLOWLIST": self.base_url.removeprefix("http://"),
            "POLL_MIN_DELAY_SECONDS": "0",
            "POLL_MAX_DELAY_SECONDS": "0",
            "IDENTITY_ENDPOINT": self.sim["identityEndpoint"],
            "IDENTITY_HEADER": self.sim["identityHeader"],
            "RESULT_SINK": "queue",
            "PYTHON_THREADPOOL_THREAD_COUNT": "24",  # as deployed (infra/main.bicep), so run_local runs 24 at once
        }
        if polls_per_op is not None:
            env["BENCH_POLLS_PER_OP"] = str(polls_per_op)
        return env

    # -- one worker run ----------------------------------------------------------------------------

    def run_worker(self, mode: str, env: dict[str, str], polls: int, *, max_seconds: float = 600.0,
                   watch_rss: bool = False) -> dict[str, Any]:
        """Run ``tools.measure.bench.worker MODE`` to ``polls`` handled messages; its JSON plus the
        CPU seconds of Azurite and the simulator (and RSS samples of the worker) over time."""
        import psutil

        log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the stage's stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.measure.bench.worker", mode, "--polls", str(polls), "--max-seconds", str(max_seconds)],
            cwd=PROJECT_ROOT, env=python_env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log, text=True,
        )
        others: list[list[float]] = []
        rss: list[list[float]] = []
        stop = threading.Event()

        def watch() -> None:
            worker = psutil.Process(process.pid)
            while not stop.is_set():
                now = time.perf_counter()
                others.append([now, cpu_seconds(self.azurite.pid), cpu_seconds(self.sim_process.pid if self.sim_process else None)])
                if watch_rss:
                    with contextlib.suppress(psutil.Error):
                        rss.append([now, worker.memory_info().rss])
                stop.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            out, _ = process.communicate(timeout=max_seconds + 60)
        finally:
            stop.set()
            watcher.join(5)
            if process.poll() is None:
                process.kill()
                process.wait(5)
        if process.returncode != 0 or not out.strip():
            log.seek(0)
            tail = log.read()[-3000:]
            log.close()
            raise RuntimeError(f"worker {mode} exited {process.returncode}:\n{tail}")
        log.seek(0, 2)
        log_bytes = log.tell()
        log.close()
        result = json.loads(out.strip().splitlines()[-1])
        result["others_cpu"] = others
        result["rss_samples"] = rss
        result["log_bytes"] = log_bytes
        return result


def window_rate(result: dict[str, Any], low: float = 0.1, high: float = 0.9) -> dict[str, float]:
    """Steady-state figures between ``low`` and ``high`` of the handled messages:
    messages/s and CPU seconds per message of the worker, Azurite and the simulator."""
    samples = result["samples"]
    total = samples[-1][1]
    first = next(s for s in samples if s[1] >= low * total)
    last = next(s for s in samples if s[1] >= high * total)
    seconds = last[0] - first[0]
    handled = last[1] - first[1]
    figures = {"rate": handled / seconds if seconds > 0 else float("nan"), "handled": handled, "seconds": seconds,
               "worker_cpu_ms": (last[2] - first[2]) / handled * 1e3 if handled else float("nan")}
    start, end = result["t0"] + first[0], result["t0"] + last[0]
    others = result.get("others_cpu") or []
    if len(others) >= 2:
        def at(t: float, index: int) -> float:
            before = [o for o in others if o[0] <= t] or others[:1]
            return before[-1][index]
        figures["azurite_cpu_ms"] = (at(end, 1) - at(start, 1)) / handled * 1e3 if handled else float("nan")
        figures["simulator_cpu_ms"] = (at(end, 2) - at(start, 2)) / handled * 1e3 if handled else float("nan")
    return figures
