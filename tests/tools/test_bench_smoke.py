"""The benchmark harness (``make bench``) runs end to end with tiny sizes.

This proves the harness works and that its JSON has the promised shape; it asserts
nothing about speed (benchmarks are never timed tests). A few seconds: one Azurite
(the session's), the simulator, the status server and a handful of short worker processes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tools.dev.azurite import Azurite
from tools.measure.bench import SMOKE, format_table, run
from tools.measure.bench.cost_model import simulate
from tools.measure.bench.run import write

TARGETS = {"p1": 0.75, "p2": 0.6, "p3": 1.15, "p4": 1.1}


def test_the_harness_measures_p1_to_p4_and_writes_the_json(azurite: Azurite, tmp_path: Path) -> None:
    result = run(SMOKE, azurite=azurite)

    for key, target in TARGETS.items():
        figure = result[key]
        assert figure["target"] == target
        assert isinstance(figure["ratio"], float) and math.isfinite(figure["ratio"]) and figure["ratio"] > 0
        assert isinstance(figure["pass"], bool)
        assert figure["pass"] == (figure["ratio"] >= target if key == "p1" else figure["ratio"] <= target)
    p1 = result["p1"]
    cpu = p1["worker_cpu_over_queue_app"]
    assert cpu["target"] == 1.3 and cpu["ratio"] > 0 and cpu["pass"] == (cpu["ratio"] <= 1.3)
    assert p1["watcher_polls_per_s"] > 0 and p1["bare_loop_polls_per_s"] > 0 and p1["queue_only_app_polls_per_s"] > 0
    assert p1["raw"]["watcher"][0]["stats"]["succeeded"] == SMOKE.p1_operations * SMOKE.p1_polls_per_op
    assert p1["raw"]["watcher"][0]["stats"]["failed"] == 0
    assert result["p2"]["watcher_cpu_us_per_read"] > 0 and result["p2"]["azure_core_cpu_us_per_read"] > 0
    others = result["p2"]["watcher_over_other_transports"]
    assert set(others) == {"http.client", "urllib3"} and all(other["cpu_us_per_read"] > 0 for other in others.values())
    assert "shared.edges.http.HttpxTransport.request" in result["p2"]["http_stack_cpu_us_per_get"]
    assert result["p3"]["import_function_app_ms"] > 0 and result["p3"]["import_deps_ms"] > 0
    assert result["p4"]["small_peak_rss_mb"] > 0 and result["p4"]["large_peak_rss_mb"] > 0

    out = write(result, tmp_path / "latest.json")
    assert {"p1", "p2", "p3", "p4"} <= json.loads(out.read_text()).keys()
    table = format_table(result)
    assert all(name in table for name in ("P1", "P2", "P3", "P4"))


def test_the_cost_model_follows_the_decision_core() -> None:
    one_minute = simulate(60)
    # no prediction: UNTIMED_K * (elapsed + UNTIMED_OFFSET_SECONDS) ** UNTIMED_POWER, plus up to 5 % jitter
    assert all(25 <= delay <= 28 for delay in one_minute["first_delays_s"][:2])
    assert one_minute["outcome"] == "Succeeded" and one_minute["noticed_after_s"] >= 60
    assert one_minute["queue_transactions"] == 1 + 3 * one_minute["status_reads"]
    day = simulate(86400)
    assert max(day["first_delays_s"]) <= 300  # POLL_MAX_DELAY_SECONDS
    assert 30 <= day["poll_interval_at_d_s"] <= 35  # the wait after a day running without progress


def test_p5_fleet_replay_smoke() -> None:
    """Small fleets of every model: the structure is there and every figure is finite (no timing, no targets)."""
    from tools.measure.bench import fleet, p5

    result = p5.measure(operations=60)
    assert list(result["models"]) == [model.name for model in fleet.MODELS] and len(result["models"]) >= 3
    assert len({figures["seed"] for figures in result["models"].values()}) == len(result["models"])  # each its own seed
    for figures in result["models"].values():
        assert set(figures["by_kind"]) == set(p5.KINDS)
        for kind, row in figures["by_kind"].items():
            for name in p5.SCHEDULES:
                s = row[name]
                assert s["operations"] == row["fixed_30s_timer"]["operations"]
                if s["operations"]:
                    assert all(math.isfinite(s[key]) for key in ("reads_per_op", "mean_lag_s", "p95_lag_s")), (kind, name)
                    assert s["mean_lag_s"] >= 0 and s["reads_per_op"] >= 1
        assert isinstance(figures["pass"], bool)
    assert isinstance(result["pass"], bool)
    assert "| arm-mix | percentComplete" in p5.table(result) and "`wide`" in p5.side_by_side(result)
    assert any(line.startswith("P5 floors percentComplete") for line in format_table({"p5": result}).splitlines())


def test_the_fleet_models_differ_as_designed() -> None:
    """Each model has the feature it was made for (so a schedule cannot pass by fitting one)."""
    from tools.measure.bench import fleet

    ops = {model.name: fleet.make_fleet(600, model=model) for model in fleet.MODELS}
    reporters = [op for op in ops["floors"] if op.kind == "percentComplete"]
    assert sum(op.retry_after is not None for op in reporters) > 0.8 * len(reporters)  # progress with floors
    noisy = [op for op in ops["noisy"] if op.kind == "percentComplete"]
    assert sum(op.coarse for op in noisy) > 0.6 * len(noisy) and all(op.knots for op in noisy)  # coarse, phased progress
    durations = sorted(op.duration_s for op in ops["wide"])
    assert durations[-30] / durations[30] > 500  # p95 / p5: nearly three orders of magnitude
    hinted = [op.hint_s / op.duration_s for op in ops["wide"] if op.hint_s]
    assert min(hinted) < 0.5 and max(hinted) > 2  # hints wrong both ways


def test_p6_budget_replay_smoke() -> None:
    from tools.measure.bench import p6

    result = p6.measure(operations=60, seed=1)
    for replay in (result["budget_on"], result["budget_off"]):
        assert replay["outcomes"] == {"Succeeded": 60}  # every operation ends with one outcome
        assert replay["reads"] >= 60 and replay["throttled_429"] >= 0 and replay["mean_lag_s"] >= 0
    assert result["budget_off"]["arm_reads_reserve"] == 0 and result["budget_on"]["arm_reads_reserve"] == 100
    four = result["instances4"]
    assert set(four) == {"instances", "reads", "throttled", "mean_lag_s"} and four["instances"] == 4
    assert four["reads"] == result["budget_on_4_instances"]["reads"] >= 60


def test_p6_throttles_as_arm_does_both_buckets_shared_by_every_instance() -> None:
    from tools.measure.bench.p6 import Arm

    arm = Arm()
    answers = [arm.read(0.0) for _ in range(251)]
    assert all(ok for ok, _ in answers[:250]) and not answers[250][0]  # the principal's 250, one bucket for all
    ok, headers = answers[249]
    assert headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    assert headers["x-ms-routing-request-id"].startswith("WESTUS:")
    assert int(headers["x-ms-ratelimit-remaining-subscription-global-reads"]) == 3750 - 250
    assert int(answers[250][1]["retry-after"]) >= 1
    assert arm.read(1.0)[0]  # 25/s refill
    drained = Arm()
    drained.global_.tokens = 0.5  # the other principals spent the global bucket: 429 with the principal's full
    ok, headers = drained.read(0.0)
    assert not ok and headers["x-ms-ratelimit-remaining-subscription-reads"] == "250"


def test_a_subset_run_merges_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"p1": {"ratio": 0.8}, "p5": {"old": True}}))
    write({"p5": {"new": True}, "config": {"only": ["p5"]}, "started": "now", "machine": {}}, path, merge=True)
    merged = json.loads(path.read_text())
    assert merged["p1"] == {"ratio": 0.8} and merged["p5"] == {"new": True}


def test_the_hint_bound_trades_reads_for_lag_as_mu_grows() -> None:
    """tools.measure.bench.hint_bound: the best fixed read list for one hinted operation (issue 22's bound)."""
    from tools.measure.bench import fleet, hint_bound

    op = next(o for o in fleet.make_fleet(200, model=fleet.FLOORS) if o.kind == "expectedSeconds" and o.duration_s > 120)
    cheap, dear = hint_bound.best_schedule(fleet.FLOORS, op, 0.05), hint_bound.best_schedule(fleet.FLOORS, op, 5.0)
    assert 1.0 <= cheap[0] < dear[0] and dear[1] < cheap[1] and dear[1] >= 0


def test_the_untimed_bound_is_the_weighted_figures_of_the_schedule_it_finds() -> None:
    """tools.measure.bench.untimed_bound: g(a, b) is the Lagrangian of the schedule it returns (the two are
    computed apart: the programme's cost to go, and a walk of its read list per model), and weighting
    one model's reads only finds a schedule reading that model less than the timer does."""
    from tools.measure.bench import untimed_bound

    grid = untimed_bound.Grid(step=10.0)
    weights = (0.3, 0.1, 0.05, 0.05, 0.2, 0.05, 0.1, 0.15)
    got = untimed_bound.bound(weights, grid)
    ratios = got["ratios"]
    assert isinstance(ratios, dict) and isinstance(got["g"], float)
    names = list(ratios)
    lagrangian = sum(weights[i] * (ratios[n][0] - untimed_bound.TARGET) + weights[4 + i] * (ratios[n][1] - untimed_bound.TARGET)
                     for i, n in enumerate(names))
    assert abs(got["g"] - lagrangian) < 1e-6
    reads_only = untimed_bound.bound((1.0, 0, 0, 0, 0, 0, 0, 1e-3), grid)["ratios"]
    assert isinstance(reads_only, dict) and reads_only["arm-mix"][0] < 0.5


def test_one_assumed_hint_law_gives_read_lists_that_keep_the_floor_and_ceiling() -> None:
    """tools.measure.bench.hint_bound under one assumed law (what one law for every fleet costs): the read list
    keeps Retry-After and the 300 s ceiling between reads, and weighing lag more buys less lag with more reads."""
    import dataclasses

    from tools.measure.bench import fleet, hint_bound

    assumed = dataclasses.replace(fleet.WIDE, hint_sigma=0.3, hint_stale_share=0.05, hint_stale_factor=3.0,
                                  median_duration_s=600.0, duration_sigma=1.5)
    op = next(o for o in fleet.make_fleet(400, model=fleet.FLOORS)
              if o.kind == "expectedSeconds" and o.retry_after == 30 and o.duration_s > 120)
    times = [op.first_seen_s, *hint_bound.read_times(assumed, op, 1.0)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= 2 and all(30 - 1e-9 <= gap <= 300 + 1e-9 for gap in gaps)
    cheap = hint_bound.under_assumed_law(assumed, fleet.FLOORS, 0.1, sample=15)
    dear = hint_bound.under_assumed_law(assumed, fleet.FLOORS, 3.0, sample=15)
    assert cheap["operations"] == dear["operations"] == 15
    assert cheap["reads_ratio"] < dear["reads_ratio"] and dear["lag_ratio"] < cheap["lag_ratio"]
