"""checkov (the IaC scanner) over infra/: no failed check, no file it could not parse.

checkov runs from its own virtual environment, .venv-checkov (`make test` and `make checkov` build it
from requirements-checkov.txt). Every check the templates do not meet is skipped next to the resource with
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


def run_checkov(directory: Path) -> dict[str, Any]:
    """checkov's JSON report for a directory of Bicep."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov`, which builds .venv-checkov from requirements-checkov.txt")
    skips = [arg for path in SKIP_PATHS for arg in ("--skip-path", path)]
    done = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--framework", "bicep", *skips, "--output", "json", "--skip-download"],
        cwd=directory, capture_output=True, text=True, timeout=300, check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {done.returncode}): {done.stderr[-2000:]}")
    if isinstance(report, list):  # one entry per framework; only bicep runs here
        report = next(r for r in report if r.get("check_type") == "bicep")
    return report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run (it takes seconds to start) over a copy of infra/ and, beside it, a copy of
    function.bicep with FTPS allowed again: the proof that the same gate fails a broken template."""
    root = tmp_path_factory.mktemp("checkov")
    shutil.copytree(ROOT / "infra", root / "infra")
    source = (ROOT / "infra" / "app" / "function.bicep").read_text(encoding="utf-8")
    assert "ftpsState: 'Disabled'" in source
    (root / "broken").mkdir()
    (root / "broken" / "function.bicep").write_text(source.replace("ftpsState: 'Disabled'", "ftpsState: 'AllAllowed'"), encoding="utf-8")
    return run_checkov(root)


def results(report: dict[str, Any], kind: str, top: str) -> list[dict[str, Any]]:
    """The ``kind`` results (failed_checks, skipped_checks) of files under ``top``/ of the scanned copy."""
    return [c for c in report.get("results", {}).get(kind, []) if c["file_path"].lstrip("/").startswith(f"{top}/")]


def test_checkov_passes_on_the_templates(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0, "checkov could not parse a template, so it checked nothing in it"
    assert report["summary"]["resource_count"] >= 20  # it really read the templates
    assert [f"{c['check_id']} {c['resource']}" for c in results(report, "failed_checks", "infra")] == []
    skipped = results(report, "skipped_checks", "infra")
    assert skipped and all((c["check_result"].get("suppress_comment") or "").strip() for c in skipped)


def test_checkov_fails_a_template_that_breaks_a_check(report: dict[str, Any]) -> None:
    assert "CKV_AZURE_78" in {c["check_id"] for c in results(report, "failed_checks", "broken")}
