"""Shared pieces of the benchmarks: helper processes, a static credential, medians, CPU sampling."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.dev import orphans

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class StaticCredential:
    """A TokenCredential that hands out one long-lived token (the bench measures reads, not Entra)."""

    def __init__(self, token: str = "bench-token") -> None:
        from azure.core.credentials import AccessToken

        self._token = AccessToken(token, int(time.time()) + 24 * 3600)
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.calls += 1
        return self._token

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.calls += 1
        return AccessTokenInfo(self._token.token, self._token.expires_on)


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@contextlib.contextmanager
def started_process(
    args: Sequence[str], env: Mapping[str, str] | None = None, *, timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``python ARGS`` in the background; waits for its first stdout line (JSON) and yields it.

    The process is stopped (SIGTERM, then SIGKILL) on exit. Its stderr is discarded.
    """
    orphans.reap()
    process = subprocess.Popen(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=python_env(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    orphans.adopt(process)  # ended at the next start if this run is SIGKILLed
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            raise RuntimeError(f"{' '.join(args)} did not start (exit code {process.poll()})")
        yield process, json.loads(line[0])
    finally:
        stop_process(process)
        orphans.release(process)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process and its children so far (0 if gone)."""
    if pid is None:
        return 0.0
    import psutil

    try:
        proc = psutil.Process(pid)
        total = sum(proc.cpu_times()[:2])
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        return total
    except psutil.Error:
        return 0.0


def machine() -> dict[str, Any]:
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load if x is not None],
    }
