"""shared.core.schedule and shared.core.end_estimate: exact waits for given bodies, trends and hints, and the
floors and ceilings as properties. Each rule of issue 22 has a test that fails without it (named in its docstring)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.core import schedule
from shared.core.end_estimate import Band, Trend, hint_hazard, next_trend, predicted_end, progress_band, progress_of
from shared.core.retry_after import delay_hint
from shared.core.schedule import Bounds, failure_delay, jitter_factor, running_delay

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = "https://management.azure.com/subscriptions/s/providers/P/locations/w/operationStatuses/op?api-version=1"
BOUNDS = Bounds(min_delay=5, max_delay=300, deadline=T0 + timedelta(days=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def wait(body: dict | None, now: datetime, *, headers: dict | None = None, hint: int | None = None,
         bounds: Bounds = BOUNDS, polls: int = 3, trend: Trend | None = None) -> schedule.Plan:
    return running_delay(progress=progress_of(body), headers=headers or {}, now=now, first_seen_at=T0, expected_seconds=hint,
                         bounds=bounds, key=KEY, polls=polls, trend=trend)


def expected(raw: float, polls: int = 3, floor: float = 5) -> int:
    """What the schedule makes of a raw wait: the floor, the jitter, whole seconds, the 300 s ceiling."""
    return max(round(min(max(raw, floor) * jitter_factor(KEY, polls), 300)), math.ceil(floor))


def untimed(elapsed: float) -> float:
    return 18.2 * (elapsed + 1000) ** 0.05


class TestPrediction:
    def test_progress_and_start_time_predict_the_end(self) -> None:
        body = {"status": "Running", "percentComplete": 25, "startTime": "2026-11-22T11:50:00Z"}  # 10 min ago
        progress = progress_of(body)
        assert progress.percent == 25 and progress.started_at == datetime(2026, 11, 22, 11, 50, tzinfo=UTC)
        # 25 % after 600 s; providers round down, so 25.5 % is likely: 2352.9 s in all, from 11:50
        start = datetime(2026, 11, 22, 11, 50, tzinfo=UTC)
        assert predicted_end(progress, T0, T0, None) == start + timedelta(seconds=600 * 100 / 25.5)

    def test_a_multiple_of_ten_is_taken_as_a_coarse_step(self) -> None:
        assert predicted_end(progress_of({"percentComplete": 50}), at(600), T0, None) == at(600 * 100 / 55)

    def test_without_start_time_the_first_sighting_counts(self) -> None:
        assert predicted_end(progress_of({"percentComplete": 49}), at(490), T0, None) == at(490 * 100 / 49.5)

    def test_hint_predicts_when_progress_does_not(self) -> None:
        assert predicted_end(progress_of({"percentComplete": 0}), at(10), T0, 900) == at(900)
        assert predicted_end(progress_of({}), at(10), T0, None) is None

    def test_a_start_time_in_the_future_or_unreadable_is_ignored(self) -> None:
        for start in ("2026-11-22T13:00:00Z", "yesterday", 17, "2026-11-22T11:00:00"):  # the last: no offset
            assert predicted_end(progress_of({"percentComplete": 49, "startTime": start}), at(490), T0, None) == at(490 * 100 / 49.5)

    def test_odd_percentages(self) -> None:
        assert progress_of({"percentComplete": True}).percent is None
        assert progress_of({"percentComplete": "50"}).percent is None
        assert progress_of({"percentComplete": 250}).percent == 100
        assert progress_of({"percentComplete": -3}).percent == 0


class TestBand:
    def test_a_reading_allows_a_band_of_ends(self) -> None:
        # 40 % (a coarse step: 40..50 %) after 400 s: the end is between 800 s and 1000 s, likely 889 s
        assert progress_band(40, 400, None) == Band(800, 400 * 100 / 45, 1000)
        assert progress_band(41, 410, None) == Band(410 * 100 / 42, 410 * 100 / 41.5, 1000)
        assert progress_band(100, 900, None) is None  # 100 % and still running: nothing left to predict

    def test_zero_percent_is_below_the_first_coarse_step(self) -> None:
        """Issue 22 (P5: 0 % as "no prediction" read noisy's coarse reporters every 16 s until their first step)."""
        assert progress_band(0, 30, None) == Band(300, 300, 300)

    def test_the_rate_since_the_last_change_widens_the_band(self) -> None:
        """Issue 22 (noisy: after a slow phase the average since the start predicts the end far too late)."""
        # 50 % after 500 s predicts 1000 s on average; at 0.5 %/s since the last change the end is near 590 s
        band = progress_band(50, 500, 0.5)
        assert band == Band(500 + 40 / 0.5, 500 + 45 / 0.5, 1000)

    def test_the_trend_dates_each_percentage_at_its_first_read(self) -> None:
        first = next_trend(Trend(), 10, at(100))
        assert first == Trend(10, at(100), None)
        assert next_trend(first, 10, at(160)) == first  # unchanged: the first read's time and no rate yet
        moved = next_trend(first, 30, at(300))
        assert moved == Trend(30, at(300), 0.1)  # 20 points in the 200 s between the first reads of 10 and 30
        assert next_trend(moved, 30, at(400)) == moved
        assert next_trend(moved, 20, at(500)) == Trend(20, at(500), None)  # a restart forgets the rate
        assert next_trend(moved, None, at(500)) == Trend()
        assert next_trend(Trend(10, at(900), None), 20, at(500)) == Trend(20, at(500), None)  # a date in the future: ignored


class TestProgressWaits:
    def test_far_from_the_band_wait_half_the_time_to_its_earliest_end(self) -> None:
        """Issue 22: towards the earliest end the reading allows (was: towards the likely end)."""
        plan = wait({"percentComplete": 40}, at(400))  # 40..50 %: the end at 800 s at the earliest, 889 s likely
        assert plan.expected_end == at(400 * 100 / 45)
        assert plan.delay_seconds == expected(0.5 * (800 - 400))  # (towards the likely end: 244 s)

    def test_a_young_estimate_may_not_jump_more_than_twice_the_time_run(self) -> None:
        assert wait({"percentComplete": 1}, at(20)).delay_seconds == expected(2.0 * 20)  # 1..2 %: 1000 s at the earliest
        assert wait({"percentComplete": 0}, at(20)).delay_seconds == expected(2.0 * 20)  # 0 %: 200 s at the earliest

    def test_a_faster_recent_rate_brings_the_next_read_forward(self) -> None:
        """Issue 22: fails without the trend (the wait would be half of 500 s, towards 1000 s)."""
        body = {"percentComplete": 50}
        assert wait(body, at(500)).delay_seconds == expected(min(0.5 * (500 * 100 / 60 - 500), 1000))
        assert wait(body, at(500), trend=Trend(50, at(450), 0.5)).delay_seconds == expected(0.5 * 80)
        # a trend for another percentage (the read before this one) is not this reading's rate
        assert wait(body, at(500), trend=Trend(40, at(450), 0.5)).delay_seconds == wait(body, at(500)).delay_seconds

    def test_close_to_the_likely_end_land_just_past_it(self) -> None:
        plan = wait({"percentComplete": 98}, at(980))  # likely 98.5 % -> 14.9 s left
        assert plan.delay_seconds == expected(980 * 100 / 98.5 - 980 + 1)

    def test_just_before_the_band_read_at_the_likely_end_not_every_24_s(self) -> None:
        """Issue 22: a read before the band's earliest end can only find the operation running."""
        # a coarse 80 % after 300 s: the end between 333 s and 375 s, likely 353 s: one read at 354 s, none at 324 s
        assert wait({"percentComplete": 80}, at(300)).delay_seconds == expected(300 * 100 / 85 - 300 + 1)

    def test_inside_the_band_read_every_24_s_while_the_likely_end_is_farther(self) -> None:
        """Issue 22: a coarse 90 % after 2000 s allows any end from now to 2222 s; halving the time to the
        likely end (105 s) read once in 52 s there, the in-band spacing every 24 s (wide's long coarse reporters)."""
        assert wait({"percentComplete": 90}, at(2000)).delay_seconds == expected(24)

    def test_at_100_percent_and_still_running_poll_as_if_nothing_predicted_the_end(self) -> None:
        """Issue 22: overdue falls back to the untimed wait (was: every 15 s, stretching by a quarter of the time overdue)."""
        assert wait({"percentComplete": 100}, at(2000)).delay_seconds == expected(untimed(2000))

    def test_retry_after_is_a_floor_not_a_target(self) -> None:
        assert wait({"percentComplete": 98}, at(980), headers={"retry-after": "60"}).delay_seconds == expected(60, floor=60)
        assert wait({"percentComplete": 20}, at(600), headers={"retry-after": "10"}).delay_seconds == 300

    def test_a_floor_near_the_band_makes_the_watcher_land_at_once(self) -> None:
        """Issue 22 item 2: with a 60 s floor, a read 24 s before the band would leave the landing read a floor late."""
        # 82 % after 391 s: the end from 476.8 s (86 s away), likely 479.7 s. Halving the time to it (43 s) is under
        # the 60 s Retry-After: the next read would come at the floor, 26 s before the band, and the landing read a
        # floor later. Within two floors of the band the watcher lands at once, at the likely end.
        plan = wait({"percentComplete": 82}, at(391), headers={"retry-after": "60"})
        assert plan.delay_seconds == expected(391 * 100 / 82.5 - 391 + 1, floor=60)
        # far from the band (more than two floors) it still approaches by halves, the floor a floor
        far = 200 * 100 / 52 - 200  # 185 s to the earliest end at 51 %
        assert wait({"percentComplete": 51}, at(200), headers={"retry-after": "60"}).delay_seconds == expected(0.5 * far, floor=60)
        assert wait({"percentComplete": 82}, at(391)).delay_seconds == expected(0.5 * (391 * 100 / 83 - 391))  # no floor

    def test_ceilings_max_delay_and_deadline(self) -> None:
        assert wait({"percentComplete": 5}, at(3000)).delay_seconds == 300
        assert wait({"percentComplete": 5}, at(3000), bounds=Bounds(5, 300, at(3010), 100)).delay_seconds == 10


class TestHint:
    def spacing(self, hint: float) -> float:
        return 20.0 * (hint / 600) ** 0.15

    def test_far_before_the_hinted_end_the_watcher_skips_ahead(self) -> None:
        """Issue 22: reads no hint makes likely are skipped (was: twice the time run, 20 s after 10 s)."""
        assert wait({}, at(10), hint=1000).delay_seconds == 300  # the ceiling: the end is 1000 s +- 30 % away
        assert 150 <= wait({}, at(10), hint=300).delay_seconds <= 200  # ends before 150 s are a few per cent

    def test_near_the_hinted_end_reads_come_about_the_spacing_apart(self) -> None:
        """Issue 22: fails with the old every-15-s overdue polling (20 s near a 10-minute hint, 42 s near a day)."""
        for hint in (600, 3600, 86_400):
            got = wait({}, at(hint), hint=hint, bounds=dataclasses.replace(BOUNDS, deadline=at(10 * hint))).delay_seconds
            assert 0.8 * self.spacing(hint) <= got <= 1.4 * self.spacing(hint), (hint, got)

    def test_long_past_every_end_the_law_allows_poll_as_if_nothing_predicted_the_end(self) -> None:
        assert hint_hazard(1000 * 3.0 * math.exp(8 * 0.3) * 1.01, 1000) is None
        late = 1000 * 40.0
        assert wait({}, at(late), hint=1000).delay_seconds == expected(untimed(late))

    def test_the_hazard_is_the_laws_density_over_its_survival(self) -> None:
        # integrating the hazard from 0 to t gives -log(survival): at the hint about half the law is left
        t, total, step = 1.0, 0.0, 0.5
        while t < 1000:
            total += (hint_hazard(t + step / 2, 1000) or 0.0) * step
            t += step
        assert 0.45 < math.exp(-total) < 0.55

    def test_zero_percent_with_a_hint_follows_the_hint(self) -> None:
        assert wait({"percentComplete": 0}, at(10), hint=1000).delay_seconds == wait({}, at(10), hint=1000).delay_seconds


class TestUntimed:
    def test_without_prediction_the_wait_is_a_slowly_stretching_26_s(self) -> None:
        """Issue 22 (floors: 16 s at the start read short operations 1.28x as often as the timer)."""
        for elapsed in (0, 600, 3600, 80_000):
            assert wait({"status": "Running"}, at(elapsed)).delay_seconds == expected(untimed(elapsed))
        assert round(untimed(0)) == 26 and round(untimed(86_400)) == 32

    def test_start_time_counts_for_the_untimed_wait_too(self) -> None:
        body = {"status": "Running", "startTime": "2026-11-22T11:00:00Z"}  # an hour before the first sighting
        assert wait(body, T0).delay_seconds == expected(untimed(3600))

    def test_jitter_is_deterministic_small_and_differs_between_operations(self) -> None:
        assert jitter_factor(KEY, 4) == jitter_factor(KEY, 4)
        factors = {jitter_factor(f"{KEY}-{i}", 1) for i in range(200)}
        assert all(1.0 <= f < 1.05 for f in factors) and len(factors) == 200
        delays = {running_delay(progress=progress_of({}), headers={}, now=at(3600), first_seen_at=T0, expected_seconds=None, bounds=BOUNDS,
                                key=f"{KEY}-{i}", polls=9).delay_seconds for i in range(200)}
        assert len(delays) >= 2  # operations enqueued together do not poll in lock-step


class TestBudget:
    def test_the_budget_stretch_multiplies_the_wait_up_to_the_ceiling(self) -> None:
        # the stretch itself is shared.core.arm_budget's (tests/shared/test_arm_budget.py)
        stretched = dataclasses.replace(BOUNDS, stretch=5.0)
        assert wait({}, at(600), bounds=stretched).delay_seconds == expected(5.0 * untimed(600))
        assert wait({}, at(80_000), bounds=dataclasses.replace(BOUNDS, stretch=12.0)).delay_seconds == 300
        assert failure_delay(headers={}, now=T0, failures=1, bounds=stretched, key=KEY, polls=3) == expected(25)


class TestFailureDelay:
    def test_doubles_per_failure_with_the_hint_as_floor(self) -> None:
        got = [failure_delay(headers={}, now=T0, failures=n, bounds=BOUNDS, key=KEY, polls=3) for n in (1, 2, 3, 4)]
        assert got == [expected(5 * 2**i) for i in range(4)]
        hinted = failure_delay(headers={"retry-after": "17"}, now=T0, failures=1, bounds=BOUNDS, key=KEY, polls=3)
        assert hinted == expected(17, floor=17)


headers_strategy = st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms", "x-ms-retry-after-ms"]),
    st.one_of(st.integers(-10, 10**7).map(str), st.text(max_size=12), st.sampled_from(["nan", "inf", "-inf", "1e308"])),
)
body_strategy = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "percentComplete": st.one_of(st.floats(allow_nan=True), st.integers(-5, 500), st.booleans(), st.text(max_size=3)),
    "startTime": st.one_of(st.text(max_size=30), st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())),
}))
trend_strategy = st.one_of(st.none(), st.builds(
    Trend, st.one_of(st.none(), st.floats(0, 100)), st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    st.one_of(st.none(), st.floats(min_value=1e-300, max_value=100)),
))


@given(
    body=body_strategy, headers=headers_strategy, trend=trend_strategy,
    elapsed=st.floats(0, 40 * 86400), to_deadline=st.floats(0, 40 * 86400),
    min_delay=st.floats(0, 600), span=st.floats(0, 7 * 86400), hint=st.one_of(st.none(), st.integers(1, 2_592_000)),
    stretch=st.floats(1.0, 9.0), polls=st.integers(0, 10**6), failures=st.integers(1, 10_000),
)
def test_never_below_a_floor_above_a_ceiling_past_the_deadline_or_negative(
    body: dict | None, headers: dict, trend: Trend | None, elapsed: float, to_deadline: float, min_delay: float,
    span: float, hint: int | None, stretch: float, polls: int, failures: int,
) -> None:
    now = at(elapsed)
    bounds = Bounds(min_delay, min_delay + span, now + timedelta(seconds=to_deadline), stretch)
    running = running_delay(progress=progress_of(body), headers=headers, now=now, first_seen_at=T0, expected_seconds=hint,
                            bounds=bounds, key=KEY, polls=polls, trend=trend).delay_seconds
    failed = failure_delay(headers=headers, now=now, failures=failures, bounds=bounds, key=KEY, polls=polls)
    floor = min(max(min_delay, delay_hint(headers, now) or 0.0), bounds.max_delay)
    left = (bounds.deadline - now).total_seconds()  # microsecond resolution, as the schedule sees it
    for delay in (running, failed):
        assert isinstance(delay, int) and delay >= 0
        assert delay <= math.ceil(left)  # never past the deadline
        assert delay <= math.ceil(bounds.max_delay)  # never above POLL_MAX_DELAY_SECONDS
        assert delay >= min(math.ceil(floor), math.ceil(left))  # never below a floor, unless the deadline comes first
