"""make soak writes a report named by its size, so the default run never overwrites the 10,000-operation figures."""

from __future__ import annotations

from pathlib import Path

from tools.measure.soak.__main__ import default_report

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_report_is_named_by_the_number_of_operations() -> None:
    assert default_report(2000) == PROJECT_ROOT / "soak" / "2000.json"
    assert default_report(10000) == PROJECT_ROOT / "soak" / "10000.json"


def test_the_guarantees_page_names_the_committed_report_of_each_column() -> None:
    readme = (PROJECT_ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    for ops in (2000, 10000):
        assert (PROJECT_ROOT / "soak" / f"{ops}.json").exists()
        assert f"soak/{ops}.json" in readme
    assert "soak/latest.json" not in readme
