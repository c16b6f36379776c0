"""Start and stop an Azurite service (queue by default, or blob) on a free loopback port.

Used by the tests, ``make demo``, the soak and the benchmarks::

    with Azurite() as azurite:                      # in-memory, fresh every time
        environ = {"AzureWebJobsStorage": azurite.connection_string}

    with Azurite(location="soak/azurite") as azurite:   # persistent on disk
        ...
        azurite.restart()                           # same port, messages kept

Readiness is read from Azurite's own output ("... successfully listens on
http://127.0.0.1:PORT"), never guessed with a sleep. Azurite is started as
``node <the package's script>`` (the ``bin`` entry of ``node_modules/azurite/package.json``),
not through the POSIX shim in ``node_modules/.bin``, so it starts the same way on
Windows. It runs in its own process group (a new session on POSIX,
``CREATE_NEW_PROCESS_GROUP`` on Windows), and ``stop()`` ends it: SIGTERM (Windows:
CTRL_BREAK) first, so Azurite saves its database, which ``--location`` persistence
needs; SIGKILL (Windows: TerminateProcess) if it does not close in time.

``python -m tools.azurite`` starts one, prints a JSON line with the connection
string and serves until SIGTERM / Ctrl-C (then exits 143 / 130 with one line saying so).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tools.dev import orphans

__all__ = [
    "ACCOUNT_NAME",
    "ACCOUNT_KEY",
    "Azurite",
    "AzuriteError",
    "connection_string_for",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Azurite's fixed development account (the well-known emulator name and key, not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

SERVICES = ("queue", "blob")
_ADDRESS_IN_USE = "EADDRINUSE"
_WINDOWS = os.name == "nt"


def _listening(service: str) -> re.Pattern[str]:
    return re.compile(rf"Azurite {service.capitalize()} service successfully listens on https?://[^\s:]+:(\d+)")


def azurite_script(service: str = "queue") -> Path:
    """The JavaScript entry point of ``azurite-{service}``, read from the package's ``bin`` map."""
    package = PROJECT_ROOT / "node_modules" / "azurite"
    try:
        bins = json.loads((package / "package.json").read_text(encoding="utf-8"))["bin"]
        return (package / bins[f"azurite-{service}"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        raise AzuriteError(f"Azurite is not installed in {PROJECT_ROOT / 'node_modules'}: run `npm ci` (or `make setup`)") from None


class AzuriteError(RuntimeError):
    """Azurite could not be started (the message carries its last output lines)."""


def connection_string_for(port: int, host: str = "127.0.0.1", *, blob_port: int | None = None) -> str:
    """The explicit devstoreaccount1 connection string for a queue endpoint on ``host:port`` (and a blob one)."""
    blob = f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT_NAME};" if blob_port is not None else ""
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};"
        f"AccountKey={ACCOUNT_KEY};"
        f"{blob}"
        f"QueueEndpoint=http://{host}:{port}/{ACCOUNT_NAME};"
    )


class Azurite:
    """One ``azurite-queue`` (or ``azurite-blob``) process.

    :param location: a directory for persistent storage (``--location``); ``None``
        (the default) keeps everything in memory (``--inMemoryPersistence``).
    :param port: the port to listen on; 0 (default) lets the OS choose a free one.
        ``restart()`` always reuses the port of the first start.
    :param host: the listening address, loopback by default.
    :param executable: a command to run instead of ``node <the package's azurite-{service} script>``
        (``npm ci`` / ``make setup`` installs the package).
    :param service: ``queue`` (default) or ``blob``.
    :param startup_timeout: seconds to wait for Azurite to report that it listens.
    :param debug_log: a file for Azurite's debug log (``--debug``), for investigations.
    """

    def __init__(
        self,
        *,
        location: str | os.PathLike[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        executable: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        debug_log: str | os.PathLike[str] | None = None,
        service: str = "queue",
    ) -> None:
        if service not in SERVICES:
            raise AzuriteError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        self.service = service
        self.location = Path(location).resolve() if location is not None else None
        self.host = host
        self.executable = Path(executable) if executable else None
        self.startup_timeout = startup_timeout
        self.debug_log = Path(debug_log).resolve() if debug_log is not None else None
        self._requested_port = port
        self._port: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()
        #: How the last stop() ended it: "SIGTERM" (graceful, files saved), "SIGKILL" (after ``timeout``) or "exited".
        self.last_stop: str | None = None

    # -- public surface -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise AzuriteError("Azurite has not been started")
        return self._port

    @property
    def connection_string(self) -> str:
        return connection_string_for(self.port, self.host)

    @property
    def queue_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def persistent(self) -> bool:
        return self.location is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def environ(self) -> dict[str, str]:
        """The settings that point the function app at this Azurite."""
        return {"AzureWebJobsStorage": self.connection_string}

    def start(self) -> Azurite:
        """Start Azurite and wait until it listens. Returns ``self``."""
        with self._lock:
            if self.running:
                raise AzuriteError("Azurite is already running")
            port = self._port if self._port is not None else self._requested_port
            deadline = time.monotonic() + self.startup_timeout
            while True:
                try:
                    self._port = self._spawn(port, deadline)
                    return self
                except _AddressInUse:
                    # Only on restart() of a fixed port: the old socket may not be released yet.
                    if time.monotonic() >= deadline:
                        raise AzuriteError(f"port {port} stayed in use for {self.startup_timeout:.0f}s") from None
                    time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Azurite (its whole process group): SIGTERM, then SIGKILL after ``timeout``."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                self.last_stop = _end_process_group(process, timeout)
                orphans.release(process)
            if self._reader is not None:
                self._reader.join(timeout=5)
                self._reader = None
            if self._workdir is not None:
                self._workdir.cleanup()
                self._workdir = None

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port (with ``location``, messages are kept)."""
        if self._port is None:
            raise AzuriteError("restart() before start()")
        self.stop(timeout)
        self.start()

    def output_tail(self) -> str:
        """Azurite's last output lines (for error messages)."""
        return "\n".join(self._tail)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self.running else "stopped"
        mode = f"location={self.location}" if self.location else "in-memory"
        return f"Azurite({state}, {mode})"

    # -- internals -------------------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        """The command line that starts this Azurite on ``port`` (a seam: tests check or change its flags)."""
        if self.executable is not None:
            head = [str(self.executable)]
        else:
            node = shutil.which("node")
            if node is None:
                raise AzuriteError("Azurite needs Node.js: `node` is not on PATH (install Node.js 18 or later)")
            head = [node, str(azurite_script(self.service))]
        command = [
            *head,
            f"--{self.service}Host", self.host,
            f"--{self.service}Port", str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",  # no access log: one line per request is noise here
        ]
        if self.location is not None:
            command += ["--location", str(self.location)]
        else:
            command += ["--inMemoryPersistence"]
        if self.debug_log is not None:
            command += ["--debug", str(self.debug_log)]
        return command

    def _spawn(self, port: int, deadline: float) -> int:
        if self.executable is not None and not self.executable.exists():
            raise AzuriteError(f"{self.executable} not found")
        command = self.command(port)
        if self.location is not None:
            self.location.mkdir(parents=True, exist_ok=True)
            cwd = str(self.location)
        else:
            # Azurite creates its default location (the working directory) even in memory mode:
            # give it a private one so nothing lands in the project.
            if self._workdir is None:
                self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
            cwd = self._workdir.name
        self._tail.clear()
        self._lines = queue.Queue()
        orphans.reap()  # an earlier run killed with SIGKILL left its Azurite running: end it first
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            **own_process_group(),  # stop() ends everything it started
        )
        self._process = process
        orphans.adopt(process)
        self._reader = threading.Thread(
            target=self._read_output, args=(process, self._lines), name=f"azurite-output-{process.pid}", daemon=True
        )
        self._reader.start()
        try:
            return self._wait_listening(process, deadline)
        except BaseException:
            self._process = None
            _end_process_group(process, 5.0)
            orphans.release(process)
            self._reader.join(timeout=5)
            self._reader = None
            raise

    def _read_output(self, process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        # Keeps reading until Azurite exits, so its pipe never fills up.
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            self._tail.append(line)
            lines.put(line)
        lines.put(None)

    def _wait_listening(self, process: subprocess.Popen[str], deadline: float) -> int:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AzuriteError(
                    f"Azurite did not report listening within {self.startup_timeout:.0f}s:\n{self.output_tail()}"
                )
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:  # output closed: Azurite exited
                process.wait(timeout=5)
                if _ADDRESS_IN_USE in self.output_tail() and self._port is not None:
                    raise _AddressInUse()
                raise AzuriteError(f"Azurite exited with code {process.returncode}:\n{self.output_tail()}")
            match = _listening(self.service).search(line)
            if match:
                return int(match.group(1))


class _AddressInUse(Exception):
    pass


def own_process_group() -> dict[str, object]:
    """Popen options that put a child in a process group of its own (POSIX session; Windows' new group)."""
    if _WINDOWS:
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def _signal_group(process: subprocess.Popen[str], force: bool) -> None:
    try:
        if _WINDOWS:
            if force:
                process.kill()
            else:
                process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            os.killpg(process.pid, signal.SIGKILL if force else signal.SIGTERM)
    except (ProcessLookupError, OSError):
        pass


def _end_process_group(process: subprocess.Popen[str], timeout: float) -> str:
    """How it ended: ``"exited"`` (already), ``"SIGTERM"`` (graceful: Azurite saved its files) or ``"SIGKILL"``."""
    # Signals go to the group only while its leader is alive and not yet reaped, so the
    # group id is still ours (Azurite starts no children of its own).
    if process.poll() is not None:
        return "exited"
    _signal_group(process, force=False)
    try:
        process.wait(timeout=timeout)
        return "SIGTERM"
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process, force=True)
    process.wait(timeout=10)
    return "SIGKILL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.azurite",
        description="Run Azurite's queue service on a free loopback port; print its connection string as JSON.",
    )
    parser.add_argument("--location", help="persist to this directory (default: in memory)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port < 65536:
        parser.error(f"--port must be 0 to 65535, got {args.port}")

    stop = threading.Event()
    signals: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    azurite = Azurite(location=args.location, port=args.port)
    try:
        azurite.start()
    except AzuriteError as error:
        print(f"tools.azurite: {error}", file=sys.stderr)
        return 1
    try:
        print(
            json.dumps(
                {
                    "AzureWebJobsStorage": azurite.connection_string,
                    "connectionString": azurite.connection_string,
                    "queueEndpoint": azurite.queue_endpoint,
                    "port": azurite.port,
                    "pid": azurite.pid,
                }
            ),
            flush=True,
        )
        while not stop.is_set():
            if not azurite.running:
                print(f"tools.azurite: Azurite exited:\n{azurite.output_tail()}", file=sys.stderr)
                return 1
            stop.wait(1.0)
    finally:
        azurite.stop()
    if signals:  # stopped as it is meant to be, but by a signal: never 0, as every long-running tool
        from tools.ops._cli import interrupted_line

        print(interrupted_line(signals[0], "Azurite is stopped" + (f"; its data stays in {args.location}" if args.location
                                                                    else " (it kept its queues in memory only)")),
              file=sys.stderr, flush=True)
        return 128 + signals[0]
    return 0


if __name__ == "__main__":
    sys.exit(main())
