"""A run killed with SIGKILL leaves its Azurite behind; the next start ends it (tools.dev.orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.processes import PROJECT_ROOT, end_process
from tools.dev import orphans
from tools.dev.azurite import Azurite

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups and SIGKILL are POSIX")

OWNER = """
import json, sys
from tools.dev.azurite import Azurite
azurite = Azurite().start()
print(json.dumps({"pid": azurite.pid, "port": azurite.port}), flush=True)
sys.stdin.read()  # until killed
"""


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LRO_WATCHER_CHILDREN_DIR", str(tmp_path))
    return tmp_path


def test_an_azurite_whose_owner_was_sigkilled_is_ended_by_the_next_start(registry: Path) -> None:
    env = {**os.environ, "LRO_WATCHER_CHILDREN_DIR": str(registry), "PYTHONPATH": str(PROJECT_ROOT)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    left: psutil.Process | None = None
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
        left = psutil.Process(started["pid"])
        assert [p.name() for p in [left]] and (registry / f"{started['pid']}.json").exists()
        owner.send_signal(signal.SIGKILL)  # nothing runs in the owner any more: its Azurite lives on
        owner.wait(10)
        assert left.is_running() and left.status() != psutil.STATUS_ZOMBIE

        second = Azurite().start()  # the next run
        try:
            left.wait(10)  # ended (raises TimeoutExpired if it still runs)
            assert not list(registry.glob(f"{started['pid']}.json"))
        finally:
            second.stop()
        assert not list(registry.glob("*.json")), "a stopped Azurite leaves no record"
    finally:
        end_process(owner, 10, group=True)
        if left is not None and left.is_running():
            os.killpg(left.pid, signal.SIGKILL)


def test_a_live_owners_children_and_reused_pids_are_never_signalled(registry: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, start_new_session=True)
    try:
        orphans.adopt(child)  # owned by this (live) test process
        assert orphans.reap() == []
        record = json.loads((registry / f"{child.pid}.json").read_text())
        dead_owner = {**record, "owner": 2**22 + 7, "ownerStarted": 1.0}
        (registry / f"{child.pid}.json").write_text(json.dumps({**dead_owner, "childStarted": record["childStarted"] - 100}))
        assert orphans.reap() == [], "a pid whose start time differs is another process now"
        assert child.poll() is None and not (registry / f"{child.pid}.json").exists()
        (registry / f"{child.pid}.json").write_text(json.dumps(dead_owner))
        assert orphans.reap() == [child.pid]
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
