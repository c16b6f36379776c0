"""Process groups left behind by a tool or test run that was SIGKILLed, ended at the next start.

A run stops what it started (process groups, :mod:`tools.dev.azurite`), but nothing runs in a
process killed with SIGKILL (a CI runner's hard cancel, an OOM kill, ``kill -9`` on pytest), and
its Azurite or workers would go on holding ports and CPU, breaking the next run. So every child
started in a group of its own is recorded here (:func:`adopt`) with its owner, and every start
first ends the groups whose owner is gone (:func:`reap`). A record names the processes by pid *and*
start time, so a pid the system has since reused is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["adopt", "release", "reap"]


def registry() -> Path:
    """Where the records live: one directory per user under the system's temporary directory."""
    return Path(os.environ.get("LRO_WATCHER_CHILDREN_DIR") or Path(tempfile.gettempdir()) / f"lro-watcher-children-{os.getuid()}")


def _started(pid: int) -> float | None:
    """The process's start time, or None when it is gone (or psutil is not installed)."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # noqa: BLE001 - no such process, no access, or no psutil: treat as gone
        return None


def adopt(process: subprocess.Popen[Any]) -> None:
    """Record ``process`` (the leader of a process group of its own) as this process's child."""
    if os.name != "posix":
        return
    record = {"owner": os.getpid(), "ownerStarted": _started(os.getpid()), "child": process.pid, "childStarted": _started(process.pid)}
    with contextlib.suppress(OSError):
        registry().mkdir(parents=True, exist_ok=True)
        (registry() / f"{process.pid}.json").write_text(json.dumps(record), encoding="utf-8")


def release(process: subprocess.Popen[Any]) -> None:
    """Forget ``process``: it was stopped by its owner."""
    with contextlib.suppress(OSError):
        (registry() / f"{process.pid}.json").unlink(missing_ok=True)


def _alive(pid: object, started: object) -> bool:
    return isinstance(pid, int) and started is not None and _started(pid) == started


def reap() -> list[int]:
    """End (SIGKILL) every recorded group whose owner is gone; the group ids ended."""
    ended: list[int] = []
    if os.name != "posix" or not registry().is_dir():
        return ended
    for path in registry().glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or _alive(record.get("owner"), record.get("ownerStarted")):
            continue
        child = record.get("child")
        if isinstance(child, int) and _alive(child, record.get("childStarted")):
            with contextlib.suppress(OSError):
                os.killpg(child, signal.SIGKILL)
                ended.append(child)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    return ended
