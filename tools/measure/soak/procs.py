"""The soak's processes: the simulator (``python -m tools.simulator``) and the run_local workers.

Each runs in its own session so a Ctrl-C of the soak does not reach them half-way;
the soak ends them itself, by pid, in a ``finally``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tools.dev import orphans
from tools.measure.bench.common import stop_process  # SIGTERM, then SIGKILL: one implementation for soak and bench

__all__ = ["SimulatorProcess", "Worker", "PROJECT_ROOT", "APP_SETTINGS"]

PROJECT_ROOT = Path(__file__).resolve().parents[3]
#: Settings a developer's shell might hold; the soak decides every one of them itself.
APP_SETTINGS = (
    "AzureWebJobsStorage", "OPERATIONS_QUEUE", "RESULTS_QUEUE", "RESULT_SINK", "EVENTGRID_TOPIC_ENDPOINT",
    "EVENTGRID_TOPIC_KEY", "EVENT_SOURCE", "ARM_ENDPOINT", "ARM_SCOPE", "DEVCENTER_SCOPE", "STATUS_HOST_ALLOWLIST", "DATAPLANE_HOSTS",
    "POLL_MIN_DELAY_SECONDS", "POLL_MAX_DELAY_SECONDS", "POLL_DEFAULT_TIMEOUT_SECONDS", "POLL_MAX_FAILURES",
    "STATUS_READ_TIMEOUT_SECONDS", "LOG_LEVEL", "PUBLISH_PROGRESS", "CALLBACK_HOST_ALLOWLIST",
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
)
_STOPPED = re.compile(r"run_local: stopped: (\{.*\})")


def child_environment(settings: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS and not k.startswith("AzureWebJobsStorage__")}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env




class SimulatorProcess:
    """``python -m tools.simulator`` in a child process, driven through its ``/_sim`` control plane."""

    def __init__(self, log_path: Path, *, slow_seconds: float, max_requests: int,
                 eventgrid_key: str | None = None, identity_header: str = "sim-identity-header") -> None:
        self.log_path = log_path
        self.slow_seconds = slow_seconds
        self.max_requests = max_requests
        self.eventgrid_key = eventgrid_key
        self.identity_header = identity_header
        self.info: dict[str, str] = {}
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._http: Any = None

    def start(self, timeout: float = 30.0) -> SimulatorProcess:
        import httpx

        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tools.simulator", "--slow-seconds", str(self.slow_seconds),
             "--max-requests", str(self.max_requests), f"--identity-header={self.identity_header}",  # '=': it may start with '-'
             *([f"--eventgrid-key={self.eventgrid_key}"] if self.eventgrid_key else [])],
            cwd=PROJECT_ROOT, env=child_environment({}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log, text=True, start_new_session=True,
        )
        orphans.adopt(self._process)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(f"the simulator did not start; see {self.log_path}")
        self.info = json.loads(line[0])
        self._http = httpx.Client(base_url=self.base_url, timeout=120, trust_env=False)
        return self

    @property
    def base_url(self) -> str:
        return self.info["baseUrl"]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._http.request(method, "/_sim/" + path, json=body, params=params or None)
        response.raise_for_status()
        return response.json()

    def script(self, operations: Sequence[dict[str, Any]], chunk: int = 500) -> None:
        for start in range(0, len(operations), chunk):
            self._call("POST", "operations", list(operations[start:start + chunk]))

    def script_resources(self, resources: Sequence[dict[str, Any]], chunk: int = 500) -> None:
        """Script resources and deployments (``{resourceId, steps}``) for the resource and deployment lanes."""
        for start in range(0, len(resources), chunk):
            self._call("POST", "resources", list(resources[start:start + chunk]))

    def set_faults(self, rate: float, kinds: Sequence[str], seed: int) -> None:
        self._call("POST", "faults", {"rate": rate, "kinds": list(kinds), "seed": seed})

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def azdo_answers(self, answers: Sequence[dict[str, Any]], chunk: int = 500) -> None:
        """Script the Azure DevOps fake: ``{planId, statuses}`` items (the first TaskCompleted answers)."""
        for start in range(0, len(answers), chunk):
            self._call("POST", "azdo/answers", list(answers[start:start + chunk]))

    def events(self) -> list[dict[str, Any]]:
        """Every CloudEvent the simulator's Event Grid accepted."""
        return self._call("GET", "events")

    def tokens(self) -> list[dict[str, str]]:
        """Every token the simulator's managed identity issued (``{audience, token}``): what the audit looks for."""
        return self._call("GET", "tokens")

    def eventgrid_echo(self, correlation_ids: Sequence[str]) -> None:
        """Refuse the first publish of each of these correlationIds with a body quoting the topic key."""
        self._call("POST", "eventgrid/echo", list(correlation_ids))

    def azdo(self) -> list[dict[str, Any]]:
        """Every feed line POST and TaskCompleted the Azure DevOps fake received (no token in them)."""
        return self._call("GET", "azdo")

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            stop_process(self._process, 10)
            orphans.release(self._process)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


class Worker:
    """One ``python -m tools.run_local`` process; ``start()`` again after ``kill()`` makes a new incarnation."""

    def __init__(self, index: int, settings: Mapping[str, str], args: Sequence[str], log_dir: Path) -> None:
        self.index = index
        self.env = child_environment(settings)
        self.args = list(args)
        self.log_dir = log_dir
        self.incarnations: list[dict[str, Any]] = []
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        path = self.log_dir / f"worker-{self.index}.{len(self.incarnations) + 1}.log"
        self._log = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed when the process ends
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tools.run_local", *self.args], cwd=PROJECT_ROOT, env=self.env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        orphans.adopt(self._process)
        self.incarnations.append({"pid": self._process.pid, "log": str(path), "startedAt": time.time()})

    def serving(self) -> bool:
        """True once run_local has connected and announced its function (it logs one line then)."""
        if not self.alive:
            return False
        try:
            return "run_local: function " in Path(self.incarnations[-1]["log"]).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up at all; the messages it holds come back when their lease lapses."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(10)
        self._closed("SIGKILL")

    def stop(self, timeout: float = 60.0) -> None:
        if self._process is not None:
            stop_process(self._process, timeout)
            self._closed(f"exit {self._process.returncode}")

    def _closed(self, how: str) -> None:
        if self._process is not None:
            orphans.release(self._process)
        self.incarnations[-1]["ended"] = how
        self.incarnations[-1]["hostStats"] = self._host_stats(Path(self.incarnations[-1]["log"]))
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _host_stats(log: Path) -> dict[str, int] | None:
        """run_local's closing ``stopped: {...}`` counters (none after a SIGKILL)."""
        try:
            match = None
            for match in _STOPPED.finditer(  # noqa: B007 - the last match is the one wanted
                log.read_text(encoding="utf-8", errors="replace")):
                pass
            return ast.literal_eval(match.group(1)) if match else None
        except (OSError, ValueError, SyntaxError):
            return None
