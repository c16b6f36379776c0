"""``make demo`` works: the whole demo runs and checks its own outcome (exit 0)."""

from __future__ import annotations

import re

import pytest

from tools.dev import demo


def test_demo_runs_to_the_end_and_shows_every_source(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARM_ENDPOINT", "STATUS_HOST_ALLOWLIST", "DATAPLANE_HOSTS", "RESULT_SINK", "EVENTGRID_TOPIC_KEY", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert demo.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    for source, outcome in (("apim", "Succeeded"), ("devcenter", "Failed"), ("operationalinsights", "Succeeded"), ("arm", "Canceled"),
                            ("arm", "vm-delete-2b9e"), ("dataplane", "Succeeded")):
        assert any(line.startswith(source) and outcome in line for line in out.splitlines()), (source, outcome)
    assert any("vm-delete-2b9e" in line and "Succeeded" in line for line in out.splitlines())
    assert any(line.startswith("arm") and " main " in line and "Succeeded" in line for line in out.splitlines()), "the deployment by id"
    assert "resourceId" in out
    assert "Did you mean 'operationId'?" in out
    assert "same eventIds as the queue: yes" in out
    assert "Progress events on Event Grid" in out
    assert any(line.startswith("apim-upgrade-7f3a") and "InProgress" in line and "10" in line for line in out.splitlines())
    # the agentless Azure Pipelines wait: live log lines and one TaskCompleted at the simulator's Azure DevOps
    assert '"accepted": true, "correlationId": "release-42/sql-mi"' in out
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d InProgress 20% \(next read in \d+ s\)", line.strip()) for line in out.splitlines())
    assert any(line.strip().endswith("Succeeded (status Succeeded, 3 reads)") for line in out.splitlines())
    assert any(line.startswith("plan-4711") and "succeeded" in line and " ok" in line for line in out.splitlines())
    assert "The job token in a result: no." in out


def test_make_demo_does_not_build_checkovs_venv() -> None:
    """``make demo`` (through ``setup``) builds what the demo runs on: the venv and Azurite, never .venv-checkov."""
    import shutil
    import subprocess
    from pathlib import Path

    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    root = Path(__file__).resolve().parents[2]
    plans = {target: subprocess.run([make, "-n", "-B", target], cwd=root, capture_output=True, text=True, timeout=60)
             for target in ("demo", "test")}
    assert all(plan.returncode == 0 for plan in plans.values()), {t: p.stderr for t, p in plans.items()}
    assert "tools.demo" in plans["demo"].stdout and ".venv-checkov" not in plans["demo"].stdout
    assert ".venv-checkov" in plans["test"].stdout  # the checkov test still gets its venv
