"""``python -m tools.bench`` (``make bench``): lro-watcher's performance figures P1-P4, each
against a reference measured in the same run, printed as a table and written to
``bench/latest.json``.

* P1 throughput  (:mod:`tools.measure.bench.p1`): polls/s through run_local vs a bare storage loop, target >= 0.7x
* P2 CPU/read    (:mod:`tools.measure.bench.p2`): watcher status read (httpx) vs azure-core LROPoller+ARMPolling, target <= 0.6x
* P3 cold start  (:mod:`tools.measure.bench.p3`): import function_app vs import its dependencies, target <= 1.15x
* P4 memory      (:mod:`tools.measure.bench.p4`): worker RSS, 10,000 vs 100 operations in flight, target <= 1.1x

Benchmarks only: nothing here is a timed test. ``tests/tools/test_bench_smoke.py`` runs the
harness with tiny sizes to prove it works.
"""

from __future__ import annotations

from tools.measure.bench.run import FULL, SMOKE, BenchConfig, format_table, run

__all__ = ["BenchConfig", "FULL", "SMOKE", "format_table", "run"]
