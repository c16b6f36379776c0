"""Run ``python -m tools.run_local`` as a subprocess, the way a developer does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def end_process(process: subprocess.Popen[str], timeout: float = 30.0, *, group: bool = False) -> None:
    """Stop a process a test started, also when the test failed: SIGTERM first, so a tool that started
    others (the stack's Azurite and simulator, each in a process group of its own) stops them, then SIGKILL.
    ``group``: signal the process's whole group (it was started with ``start_new_session=True``)."""
    import signal as signal_module

    def send(signum: int) -> None:
        try:
            os.killpg(process.pid, signum) if group else process.send_signal(signum)
        except ProcessLookupError:
            pass

    if process.poll() is None:
        send(signal_module.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            send(signal_module.SIGKILL)
            process.wait(10)


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


class ToolProcess:
    """``python -m tools.X`` in its own process group, its stderr (or both streams) read line by line by a thread.

    For signal tests: :meth:`wait_for_line` waits for a readiness line (never a sleep), then
    :meth:`signal` sends a signal to the whole group, as a terminal's Ctrl-C or a CI runner's
    cancel does. Use it as a context manager: on exit a group still running is ended (:func:`end_process`).
    """

    def __init__(self, module: str, *args: str, environ: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] = PROJECT_ROOT, merge_output: bool = False) -> None:
        import queue as queue_module
        import threading

        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=cwd, env=_environment(environ), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_output else subprocess.PIPE, text=True,
            start_new_session=True,
        )
        lines_from = self.process.stdout if merge_output else self.process.stderr
        self.lines: queue_module.Queue[str | None] = queue_module.Queue()
        self.stderr: list[str] = []
        self.stdout = ""

        def pump() -> None:
            assert lines_from is not None
            for line in lines_from:
                self.lines.put(line)
            self.lines.put(None)

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    def wait_for_line(self, text: str, timeout: float = 30.0) -> str:
        """The first stderr line containing ``text``; AssertionError if the process ends or ``timeout`` passes first."""
        import queue as queue_module
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_module.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout}s; stderr so far: {''.join(self.stderr)}") from None
            if line is None:
                raise AssertionError(f"the process ended before printing {text!r}; stderr: {''.join(self.stderr)}")
            self.stderr.append(line)
            if text in line:
                return line

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the exit code; the rest of stderr is in ``stderr``, stdout in ``stdout``."""
        if self.process.stderr is not None:  # else stdout is what the reader thread reads
            assert self.process.stdout is not None
            self.stdout = self.process.stdout.read()
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        while (line := self.lines.get_nowait() if not self.lines.empty() else None) is not None:
            self.stderr.append(line)
        return code

    def __enter__(self) -> ToolProcess:
        return self

    def __exit__(self, *_: object) -> None:
        end_process(self.process, group=True)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
