"""The soak run: Azurite on disk, the simulator, competing run_local workers, chaos, and the verdict.

Timeline of :func:`run_soak`:

1. start Azurite persisting to ``{workdir}/azurite`` and the simulator (a child process);
   script every planned operation on it and switch on fault injection;
2. start ``workers`` run_local processes on one operations queue (the real ``function_app``);
3. enqueue the plan, keeping at most ``window`` operations unfinished at a time (as a
   pipeline would; it also keeps every operation's reads minutes, not hours, apart);
4. consume the results and poison queues as a consumer would (each message counted
   once, by message id);
5. chaos, by progress: at ``kill_at`` of the operations finished, SIGKILL worker 0 and
   start it again a second later; at ``restart_at``, restart Azurite on the same port,
   gracefully (SIGTERM: Azurite saves its files; the report's ``chaos.azuriteRestart.kind``);
6. done when every operation has a result or a poison entry and the operations queue
   is empty (so late duplicates are counted too); then stop the workers with SIGTERM;
7. judge (:mod:`tools.measure.soak.check`), audit every output for secrets and strict JSON
   (:mod:`tools.measure.soak.audit`: results, poison entries, Event Grid events, Azure DevOps
   posts, the workers' log files) and return the report.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.dev.azurite import Azurite
from tools.dev.sim import INJECTABLE_FAULTS

from .audit import Secret, audit
from .check import fault_counts, judge, poison_owner, result_owner
from .drain import Drain
from .hostile import DEFAULT_DRIP_SECONDS
from .plan import BODY_SECRET, TOKEN_PREFIX, PlannedOp, azdo_answers, build_plan
from .procs import PROJECT_ROOT, SimulatorProcess, Worker
from .report import build_report

__all__ = ["SoakConfig", "run_soak"]

#: shared.edges.http.HttpxTransport's read timeout, which shared.runtime uses; the slow fault must outlast it.
CLIENT_TIMEOUT_SECONDS = 10.0
OPERATIONS_QUEUE, RESULTS_QUEUE = "soak-operations", "soak-results"


@dataclass
class SoakConfig:
    ops: int = 2000
    workers: int = 2
    seed: int = 20261122
    fault_rate: float = 0.2
    fault_kinds: tuple[str, ...] = INJECTABLE_FAULTS
    window: int = 1000
    slow_seconds: float = CLIENT_TIMEOUT_SECONDS + 1
    lease_seconds: int = 5
    poll_max_delay_seconds: int = 2
    visibility_timeout: str = "00:00:02"
    batch_size: int = 16
    new_batch_threshold: int = 16
    kill_at: float | None = 0.3
    restart_at: float | None = 0.6
    max_seconds: float | None = None  # default: 180 s + 0.2 s per operation
    hostile_share: float = 0.05  # the hostile lane's share of the operations (tools/measure/soak/hostile.py)
    drip_seconds: float = DEFAULT_DRIP_SECONDS  # a dripped body takes this long (past status_read_timeout_seconds)
    status_read_timeout_seconds: int = 3  # STATUS_READ_TIMEOUT_SECONDS of the workers: the whole of one read
    poll_max_failures: int | None = None  # POLL_MAX_FAILURES of the workers (None: the default, 10)
    sink: str = "both"  # RESULT_SINK: "both" puts every outcome on the results queue and the simulator's Event Grid
    workdir: Path = field(default_factory=lambda: PROJECT_ROOT / "soak" / "run.tmp")
    verbose: bool = True

    def deadline_seconds(self) -> float:
        return self.max_seconds if self.max_seconds is not None else 180 + 0.2 * self.ops


def _host_json(config: SoakConfig) -> Path:
    host = json.loads((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"))
    host["extensions"]["queues"].update(
        visibilityTimeout=config.visibility_timeout, maxPollingInterval="00:00:00.500",
        batchSize=config.batch_size, newBatchThreshold=config.new_batch_threshold,
    )
    path = config.workdir / "host.json"
    path.write_text(json.dumps(host, indent=2), encoding="utf-8")
    return path


def _say(config: SoakConfig, text: str) -> None:
    if config.verbose:
        print(f"soak {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def run_soak(config: SoakConfig) -> dict[str, Any]:
    """Run the soak described by ``config``; the report (see tools.soak's docstring)."""
    workdir = config.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    azurite = Azurite(location=workdir / "azurite")
    eventgrid_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")  # a topic key's shape: + / = in it
    sim = SimulatorProcess(workdir / "simulator.log", slow_seconds=config.slow_seconds,
                           max_requests=config.ops * 40 + 10_000, eventgrid_key=eventgrid_key,
                           identity_header=secrets.token_urlsafe(24))
    workers: list[Worker] = []
    try:
        azurite.start()
        sim.start()
        plan = build_plan(config.ops, config.seed, sim.base_url, hostile_share=config.hostile_share,
                          drip_seconds=config.drip_seconds)
        sim.script([op.script for op in plan if op.sim_id])
        sim.script_resources([op.resource_script for op in plan if op.resource_id])
        sim.azdo_answers(azdo_answers(plan))
        sim.eventgrid_echo([op.key for op in plan if op.expect.get("eventgridEcho")])
        sim.set_faults(config.fault_rate, config.fault_kinds, config.seed)
        settings = {
            "AzureWebJobsStorage": azurite.connection_string,
            "OPERATIONS_QUEUE": OPERATIONS_QUEUE,
            "RESULTS_QUEUE": RESULTS_QUEUE,
            "RESULT_SINK": config.sink,
            "ARM_ENDPOINT": sim.base_url,
            "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
            "DATAPLANE_HOSTS": f"127.0.0.1:{sim.port}=https://cognitiveservices.azure.com/.default",
            "CALLBACK_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",  # the callback lane's Azure DevOps
            "POLL_MIN_DELAY_SECONDS": "0",
            "POLL_MAX_DELAY_SECONDS": str(config.poll_max_delay_seconds),
            "IDENTITY_ENDPOINT": sim.info["identityEndpoint"],
            "IDENTITY_HEADER": sim.info["identityHeader"],
            "STATUS_READ_TIMEOUT_SECONDS": str(config.status_read_timeout_seconds),
        }
        if config.sink != "queue":
            settings.update(EVENTGRID_TOPIC_ENDPOINT=sim.info["eventgridEndpoint"], EVENTGRID_TOPIC_KEY=eventgrid_key)
        if config.poll_max_failures is not None:
            settings["POLL_MAX_FAILURES"] = str(config.poll_max_failures)
        args = ["--host-json", str(_host_json(config)), "--no-local-settings",
                "--lease-seconds", str(config.lease_seconds)]
        workers = [Worker(i, settings, args, workdir) for i in range(config.workers)]
        run = _Run(config, plan, azurite, workers)
        run.loop()
        for worker in workers:
            worker.stop()
        run.final_sweep()
        _say(config, "reading the simulator's request log")
        records = sim.requests()
        faults = fault_counts(records, plan)
        refused = sum(1 for r in records if r.get("route") == "eventgrid" and r.get("status") == 400)
        found = run_secrets(plan, sim.tokens(), eventgrid_key, settings["IDENTITY_HEADER"])
        return run.report(faults, settings, sim.azdo(), sim.events() if config.sink != "queue" else None,
                          found, refused)
    finally:
        for worker in workers:
            if worker.alive:
                worker.stop(10)
        sim.stop()
        azurite.stop()


def run_secrets(plan: list[PlannedOp], tokens: list[dict[str, str]], eventgrid_key: str, identity_header: str) -> list[Secret]:
    """Everything no output may hold: each token the simulator issued, the topic key, the identity header,
    every callback authToken, every SAS signature, and the secret in every resource body."""
    found = [Secret(f"bearer token ({t['audience']})", t["token"]) for t in tokens]
    found += [Secret("Event Grid key", eventgrid_key), Secret("identity header", identity_header),
              Secret("callback authToken", TOKEN_PREFIX), Secret("resource body secret", BODY_SECRET)]
    found += [Secret("callback authToken", op.expect["authToken"]) for op in plan if "authToken" in op.expect]
    found += [Secret("SAS signature", op.expect["sasSignature"]) for op in plan if "sasSignature" in op.expect]
    return found


class _Run:
    """The main loop's state: what is enqueued, what is done, what chaos happened."""

    def __init__(self, config: SoakConfig, plan: list, azurite: Azurite, workers: list[Worker]) -> None:
        from shared.core.storage_connection import storage_connection_from_environ
        from shared.edges.queues import ensure_queues
        from shared.edges.storage import queue_service_client

        self.config, self.plan, self.azurite, self.workers = config, plan, azurite, workers
        service = queue_service_client(storage_connection_from_environ({"AzureWebJobsStorage": azurite.connection_string}))
        self.operations = service.get_queue_client(OPERATIONS_QUEUE)
        ensure_queues(service, (OPERATIONS_QUEUE, f"{OPERATIONS_QUEUE}-poison", RESULTS_QUEUE))
        self.results = Drain(service.get_queue_client(RESULTS_QUEUE))
        self.poison = Drain(service.get_queue_client(f"{OPERATIONS_QUEUE}-poison"))
        self.by_key = {op.key: op for op in plan}
        self.by_text = {op.text: op for op in plan}
        self.pending = list(reversed(plan))  # pop() from the end: plan order
        self.enqueued: set[str] = set()
        self.done: set[str] = set()
        self.chaos: dict[str, Any] = {}
        self.send_failures = 0
        self.started = self.finished = 0.0
        self.timed_out = False
        self.left_in_queue: int | None = None

    # -- the loop ---------------------------------------------------------------------------------

    def loop(self) -> None:
        config = self.config
        for worker in self.workers:
            worker.start()
        _say(config, f"{len(self.plan)} operations, {len(self.workers)} workers, faults on "
                     f"{config.fault_rate:.0%} of reads ({', '.join(config.fault_kinds)})")
        self.started = time.monotonic()
        deadline = self.started + config.deadline_seconds()
        next_report = self.started + 10
        restart_worker_at: float | None = None
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, args=(stop,), name="soak-producer", daemon=True)
        producer.start()
        try:
            while True:
                fresh = self._collect()
                now = time.monotonic()
                if restart_worker_at is not None and now >= restart_worker_at:
                    self.workers[0].start()
                    self.chaos["workerKill"]["restartedAtSeconds"] = round(now - self.started, 1)
                    restart_worker_at = None
                restart_worker_at = self._chaos() or restart_worker_at
                self._revive()
                if now >= next_report:
                    next_report = now + 10
                    _say(config, f"{now - self.started:5.0f}s enqueued {len(self.enqueued)}/{len(self.plan)}, "
                                 f"finished {len(self.done)}, results {len(self.results.texts)}, "
                                 f"poison {len(self.poison.texts)}")
                if (len(self.done) == len(self.plan) and not self.pending and self._chaos_over(restart_worker_at)
                        and self._queue_count() == 0):
                    break
                if now >= deadline:
                    self.timed_out = True
                    _say(config, f"giving up after {config.deadline_seconds():.0f}s")
                    break
                if not fresh:
                    time.sleep(0.25)
        finally:
            stop.set()
            producer.join(30)
        self.finished = time.monotonic()
        _say(config, f"every operation finished after {self.finished - self.started:.1f}s; stopping the workers"
             if not self.timed_out else "stopping the workers")

    def _produce(self, stop: threading.Event) -> None:
        """Enqueue the plan in order, keeping at most ``window`` operations unfinished (a thread of its own)."""
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="enqueue") as pool:
            while self.pending and not stop.is_set():
                room = self.config.window - (len(self.enqueued) - len(self.done))
                batch = [self.pending.pop() for _ in range(min(room, 32, len(self.pending)))]
                if not batch:
                    stop.wait(0.1)
                    continue
                failed = False
                for op, ok in zip(batch, pool.map(self._send, batch)):
                    if ok:
                        self.enqueued.add(op.key)
                    else:
                        self.pending.append(op)
                        self.send_failures += 1
                        failed = True
                if failed:
                    stop.wait(0.5)

    def _send(self, op: Any) -> bool:
        try:
            self.operations.send_message(op.text, retry_total=0)
            return True
        except Exception:  # noqa: BLE001 - storage restarting: sent again later (a duplicate is allowed)
            return False

    def _collect(self) -> int:
        fresh = 0
        for text in self.results.once():
            op = result_owner(text, self.by_key)
            fresh += 1
            if op is not None:
                self.done.add(op.key)
        for text in self.poison.once():
            op, _ = poison_owner(text, self.by_text, self.by_key)
            fresh += 1
            if op is not None:
                self.done.add(op.key)
        return fresh

    def _queue_count(self) -> int | None:
        try:
            return self.operations.get_queue_properties(retry_total=0).approximate_message_count
        except Exception:  # noqa: BLE001
            return None

    def _chaos(self) -> float | None:
        """Kill a worker / restart Azurite when their moment comes; the time to start the worker again."""
        now = time.monotonic()
        progress = len(self.done) / len(self.plan)
        elapsed = round(now - self.started, 1)
        config = self.config
        if config.kill_at is not None and "workerKill" not in self.chaos and progress >= config.kill_at:
            victim = self.workers[0]
            pid = victim.pid
            victim.kill()
            self.chaos["workerKill"] = {"atSeconds": elapsed, "progress": round(progress, 3), "pid": pid}
            _say(config, f"SIGKILLed worker 0 (pid {pid}) at {progress:.0%}")
            return now + 1.0
        # Restart Azurite only once the revived worker serves again, so both kinds of chaos hit a working fleet.
        if (config.restart_at is not None and "azuriteRestart" not in self.chaos and progress >= config.restart_at
                and ("workerKill" not in self.chaos or self.workers[0].serving())):
            before = self._queue_count()
            began = time.monotonic()
            self.azurite.restart()
            down = time.monotonic() - began
            after = self._queue_count()
            self.chaos["azuriteRestart"] = {"kind": {"SIGTERM": "graceful"}.get(self.azurite.last_stop or "", "forced"),
                                            "signal": self.azurite.last_stop, "atSeconds": elapsed, "progress": round(progress, 3),
                                            "downSeconds": round(down, 2), "port": self.azurite.port,
                                            "operationsQueueBefore": before, "operationsQueueAfter": after}
            _say(config, f"restarted Azurite on port {self.azurite.port} at {progress:.0%} "
                         f"(down {down:.1f}s; operations queue {before} -> {after})")
        return None

    def _chaos_over(self, restart_worker_at: float | None) -> bool:
        """Every configured chaos event has happened (at 100 % progress at the latest) and the victim is back."""
        config = self.config
        return (
            restart_worker_at is None
            and (config.kill_at is None or "workerKill" in self.chaos)
            and (config.restart_at is None or "azuriteRestart" in self.chaos)
        )

    def _revive(self) -> None:
        for worker in self.workers:
            if worker.incarnations and "ended" not in worker.incarnations[-1] and not worker.alive:
                worker.stop()  # records how it ended
                self.chaos.setdefault("unexpectedWorkerExits", []).append(worker.incarnations[-1])
                _say(self.config, f"worker {worker.index} exited by itself ({worker.incarnations[-1]['ended']}); "
                                  "starting it again")
                worker.start()

    def final_sweep(self) -> None:
        """After the workers stopped: take what is left on the results and poison queues."""
        quiet = 0
        while quiet < 2:
            quiet = quiet + 1 if not self._collect() else 0
        self.left_in_queue = self._queue_count()

    def report(self, faults: dict[str, Any], settings: dict[str, str], azdo: list[dict[str, Any]],
               events: list[dict[str, Any]] | None, found: list[Secret], eventgrid_refused: int) -> dict[str, Any]:
        logs = [(Path(i["log"]).name, Path(i["log"]).read_text(encoding="utf-8", errors="replace"))
                for worker in self.workers for i in worker.incarnations]
        outputs = audit(found, results=self.results.texts, poison=self.poison.texts, events=events or [], azdo=azdo,
                        logs=logs, producer_texts=self.by_text, eventgrid_refused=eventgrid_refused)
        verdict = judge(self.plan, self.results.texts, self.poison.texts, azdo, events)
        return build_report(
            self.config, self.plan, {**verdict, **outputs}, secrets=found,
            enqueued=len(self.enqueued), wall=self.finished - self.started, timed_out=self.timed_out,
            left_in_queue=self.left_in_queue, faults=faults, chaos=self.chaos, workers=self.workers,
            hiccups={"sendRetries": self.send_failures, "consumerErrors": self.results.errors + self.poison.errors},
            settings={k: v for k, v in settings.items()
                      if k.startswith("POLL_") or k in ("RESULT_SINK", "STATUS_READ_TIMEOUT_SECONDS")},
            client_timeout=CLIENT_TIMEOUT_SECONDS,
        )
