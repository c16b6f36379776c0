"""Run ``python -m tools.run_local`` as a subprocess, the way a developer does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_local_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tools.run_local", *args]


def _environment(environ: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(environ or {})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_local_process(
    environ: Mapping[str, str] | None,
    *args: str,
    timeout: float = 60.0,
    cwd: str | os.PathLike[str] = PROJECT_ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run run_local to completion (use ``--drain`` or ``--max-seconds``); output captured as text.

    ``environ`` is merged over ``os.environ``. Raises ``subprocess.TimeoutExpired`` (after
    killing it) if it outlives ``timeout``.
    """
    return subprocess.run(
        run_local_command(*args),
        cwd=cwd,
        env=_environment(environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_run_local(
    environ: Mapping[str, str] | None,
    *args: str,
    log: IO[str] | None = None,
    cwd: str | os.PathLike[str] = PROJECT_ROOT,
) -> subprocess.Popen[str]:
    """Start run_local in the background; its stdout+stderr go to ``log`` (a file), else are discarded.

    Stop it with ``process.send_signal(signal.SIGTERM)`` then ``process.wait(timeout)``.
    """
    return subprocess.Popen(
        run_local_command(*args),
        cwd=cwd,
        env=_environment(environ),
        stdin=subprocess.DEVNULL,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
