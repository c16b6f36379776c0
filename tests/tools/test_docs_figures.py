"""The docs' figures are the files' figures: the soak table against the reports it names, ``make soak``'s
stated duration in the Makefile and the docs, and every metric the watcher exports in docs/operating.md."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUARANTEES = PROJECT_ROOT / "docs" / "guarantees.md"


def _lanes(counts: dict[str, int]) -> str:
    shown = [f"{name} {count:,}" for name, count in sorted(counts.items()) if name != "poisoned"]
    return ", ".join(shown + ([f"poisoned {counts['poisoned']:,}"] if "poisoned" in counts else []))


def _lane(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: _lanes(r["outcomesBySource"][name]) if name in r["outcomesBySource"] else "–"


def _restart(r: dict[str, Any]) -> str:
    restart = r["chaos"]["azuriteRestart"]
    return (f"at {restart['atSeconds']} s ({restart['downSeconds']} s); "
            f"{restart['operationsQueueBefore']:,} → {restart['operationsQueueAfter']:,} messages")


#: Each row of the table (its label) and how a report file's figures read in its cell.
ROWS: dict[str, Callable[[dict[str, Any]], str]] = {
    "**lost**": lambda r: f"**{r['lost']:,}**",
    "**wrong**": lambda r: f"**{r['wrong']:,}**",
    "duplicates (copies beyond the first of one `eventId`)": lambda r: f"{r['duplicates']:,} (in {r['opsWithDuplicates']:,} operations)",
    "poisoned (every invalid request once, the reason naming the field)": lambda r: f"{r['poisoned']:,}",
    "outcomes": lambda r: ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items()) if k != "poisoned"),
    "arm-location lane": _lane("arm-location"),
    "dataplane lane": _lane("dataplane"),
    "polls per operation: mean / p50 / p95 / max": lambda r: " / ".join(str(r["pollsPerOperation"][k]) for k in ("mean", "p50", "p95", "max")),
    "status reads; faults injected": lambda r: (f"{r['faults']['statusReads']:,}; {r['faults']['faultsInjected']:,} "
                                                f"({r['faults']['faultShare'] * 100:.1f} %)"),
    "faults by kind": lambda r: ", ".join(f"{k} {v:,}" for k, v in r["faults"]["faultsByKind"].items()),
    "worker 0 SIGKILLed / started again": lambda r: f"at {r['chaos']['workerKill']['atSeconds']} s / {r['chaos']['workerKill']['restartedAtSeconds']} s",
    "Azurite restarted (down for); operations queue before → after": _restart,
    "wall time (first enqueue to empty queue)": lambda r: f"{r['wallSeconds']} s ({r['operationsPerSecond']} operations/s)",
    "finished": lambda r: r["finishedAt"][:10],
}


def soak_table() -> tuple[list[str], list[list[str]]]:
    """The header cells and rows of the table under "Measured: `make soak`"."""
    text = GUARANTEES.read_text(encoding="utf-8")
    section = text[text.index("### Measured: `make soak`"):]
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines[first:end]]
    return cells[0], cells[2:]


def test_the_soak_table_shows_the_figures_of_the_files_it_names() -> None:
    header, rows = soak_table()
    files = [re.search(r"soak/\d+\.json", cell) for cell in header[1:]]
    assert all(files) and len(files) == 2, f"every column names its report: {header}"
    reports = [json.loads((PROJECT_ROOT / match.group(0)).read_text(encoding="utf-8")) for match in files if match]
    assert [row[0] for row in rows] == list(ROWS), "the table's rows changed: update ROWS with them"
    for label, *cells in rows:
        assert cells == [ROWS[label](report) for report in reports], label


def test_make_soaks_duration_is_the_same_in_the_makefile_and_the_docs() -> None:
    said = re.compile(r"[Aa]bout (\d+ to \d+ minutes) on 2 vCPUs")
    makefile = said.search((PROJECT_ROOT / "Makefile").read_text(encoding="utf-8"))
    docs = said.search(GUARANTEES.read_text(encoding="utf-8"))
    assert makefile and docs and makefile.group(1) == docs.group(1)


@pytest.mark.parametrize("name", ["lro.polls", "lro.operations.in_flight", "lro.outcomes", "lro.detection_lag",
                                  "lro.reads_per_operation", "lro.throttled"])
def test_every_metric_has_a_row_and_a_query_in_the_operators_docs(name: str) -> None:
    from shared.edges import telemetry

    assert name in (telemetry.__doc__ or ""), "the list follows the instruments"
    text = (PROJECT_ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    assert f"| `{name}` |" in text and f'name == "{name}"' in text


def test_the_schedule_tables_show_the_figures_of_bench_latest() -> None:
    """docs/schedule.md's P5 table and the README's summary are bench/latest.json's P5, cell for cell."""
    from tools.measure.bench import p5

    latest = json.loads((PROJECT_ROOT / "bench" / "latest.json").read_text(encoding="utf-8"))["p5"]
    schedule = (PROJECT_ROOT / "docs" / "schedule.md").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for line in p5.side_by_side(latest).splitlines():
        assert line in schedule, f"docs/schedule.md lacks the P5 row: {line[:80]}"
    for line in p5.summary(latest).splitlines()[2:]:
        assert line in readme, f"the README lacks the P5 row: {line}"
