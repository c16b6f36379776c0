"""checkov (the IaC scanner) over infra/: no failed check, no file it could not parse.

checkov runs from its own virtual environment, .venv-checkov (`make setup` builds it from
requirements-checkov.txt). Every check the templates do not meet is skipped next to the resource with
`// #checkov:skip=CKV_...:reason` (their form: infra_checks.check_checkov_skips). checkov exits 0 even
when it cannot parse a file, so this test reads its JSON report instead of its exit code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# checkov's Bicep parser (pycep) does not know fail(); guards.bicep holds the fail() guards and no
# resource (infra_checks.check_guards asserts that), so skipping it hides no finding.
SKIP_PATHS = ["infra/app/guards.bicep"]


def run_checkov(target: Path) -> dict[str, Any]:
    """checkov's JSON report for a directory (or one file) of Bicep."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup`, which builds .venv-checkov from requirements-checkov.txt")
    where = ["--directory", str(target)] if target.is_dir() else ["--file", str(target)]
    skips = [arg for path in SKIP_PATHS for arg in ("--skip-path", path)]
    done = subprocess.run(
        [str(CHECKOV), *where, "--framework", "bicep", *skips, "--output", "json", "--skip-download"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {done.returncode}): {done.stderr[-2000:]}")
    if isinstance(report, list):  # one entry per framework; only bicep runs here
        report = next(r for r in report if r.get("check_type") == "bicep")
    return report


def failed(report: dict[str, Any]) -> list[str]:
    return sorted(f"{c['check_id']} {c['resource']}" for c in report.get("results", {}).get("failed_checks", []))


def test_checkov_passes_on_the_templates() -> None:
    report = run_checkov(ROOT / "infra")
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a template, so it checked nothing in it"
    assert summary["resource_count"] >= 20  # it really read the templates
    assert failed(report) == []
    skipped = report["results"]["skipped_checks"]
    assert skipped and all((c["check_result"].get("suppress_comment") or "").strip() for c in skipped)


def test_checkov_fails_a_template_that_breaks_a_check(tmp_path: Path) -> None:
    # The same gate on a copy of function.bicep with FTPS allowed again: CKV_AZURE_78 must fail.
    copy = tmp_path / "function.bicep"
    shutil.copy(ROOT / "infra" / "app" / "function.bicep", copy)
    source = copy.read_text(encoding="utf-8")
    assert "ftpsState: 'Disabled'" in source
    copy.write_text(source.replace("ftpsState: 'Disabled'", "ftpsState: 'AllAllowed'"), encoding="utf-8")
    assert any(f.startswith("CKV_AZURE_78 ") for f in failed(run_checkov(copy)))
