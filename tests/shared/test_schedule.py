"""shared.core.schedule: exact waits for given bodies and hints, and the floors and ceilings as properties."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.core import schedule
from shared.core.retry_after import delay_hint
from shared.core.schedule import Bounds, failure_delay, jitter_factor, predicted_end, progress_of, running_delay

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = "https://management.azure.com/subscriptions/s/providers/P/locations/w/operationStatuses/op?api-version=1"
BOUNDS = Bounds(min_delay=5, max_delay=300, deadline=T0 + timedelta(days=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def wait(body: dict | None, now: datetime, *, headers: dict | None = None, hint: int | None = None,
         bounds: Bounds = BOUNDS, polls: int = 3) -> schedule.Plan:
    return running_delay(progress=progress_of(body), headers=headers or {}, now=now, first_seen_at=T0, expected_seconds=hint,
                         bounds=bounds, key=KEY, polls=polls)


def expected(raw: float, polls: int = 3, floor: float = 5) -> int:
    """What the schedule makes of a raw wait: the floor, the jitter, whole seconds, the 300 s ceiling."""
    return max(round(min(max(raw, floor) * jitter_factor(KEY, polls), 300)), math.ceil(floor))


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


class TestRunningDelay:
    def test_far_from_the_predicted_end_wait_half_the_time_left(self) -> None:
        plan = wait({"percentComplete": 21}, at(210))  # likely 21.5 % -> end at 976.7 s, 766.7 s left
        assert plan.expected_end == at(210 * 100 / 21.5)
        assert plan.delay_seconds == expected(0.5 * (210 * 100 / 21.5 - 210))

    def test_a_young_estimate_may_not_jump_more_than_twice_the_time_run(self) -> None:
        assert wait({"percentComplete": 1}, at(20)).delay_seconds == expected(2.0 * 20)  # predicts 1333 s after 20 s

    def test_close_to_the_predicted_end_land_just_past_it(self) -> None:
        plan = wait({"percentComplete": 97}, at(970))  # likely 97.5 % -> 24.9 s left
        assert plan.delay_seconds == expected(970 * 100 / 97.5 - 970 + 1)

    def test_overdue_polls_every_15_s_stretching_with_the_time_overdue(self) -> None:
        assert wait({"percentComplete": 100}, at(2000)).delay_seconds == expected(15)  # 100 % and still running
        # 30 % after 300 s predicts 857 s (35 % likely); at 1200 s it is 343 s overdue
        assert wait({"percentComplete": 30}, at(1200)).delay_seconds == expected(
            min(0.5 * (1200 * 100 / 35 - 1200), 2 * 1200))
        plan = wait({"percentComplete": 99}, at(2000))
        assert plan.delay_seconds == expected(2000 * 100 / 99.5 - 2000 + 1)

    def test_without_prediction_the_wait_grows_with_the_time_running(self) -> None:
        for elapsed in (0, 600, 3600, 80_000):
            assert wait({"status": "Running"}, at(elapsed)).delay_seconds == expected(3.2 * (elapsed + 200) ** 0.3)

    def test_start_time_counts_for_the_untimed_wait_too(self) -> None:
        body = {"status": "Running", "startTime": "2026-11-22T11:00:00Z"}  # an hour before the first sighting
        assert wait(body, T0).delay_seconds == expected(3.2 * (3600 + 200) ** 0.3)

    def test_hint_aims_at_its_early_side_then_polls_every_15_s(self) -> None:
        assert wait({}, at(10), hint=1000).delay_seconds == expected(min(0.5 * (800 - 10), 2 * 10))
        assert wait({}, at(400), hint=1000).delay_seconds == expected(0.5 * (800 - 400))
        assert wait({}, at(790), hint=1000).delay_seconds == expected(800 - 790 + 1)
        assert wait({}, at(900), hint=1000).delay_seconds == expected(15)
        assert wait({}, at(1500), hint=1000).delay_seconds == expected(15)

    def test_a_long_hint_polls_every_1_percent_of_it_once_near(self) -> None:
        assert wait({}, at(70_000), hint=86_400).delay_seconds == expected(864)  # then capped at 300

    def test_retry_after_is_a_floor_not_a_target(self) -> None:
        assert wait({"percentComplete": 97}, at(970), headers={"retry-after": "60"}).delay_seconds == expected(60, floor=60)
        assert wait({"percentComplete": 20}, at(600), headers={"retry-after": "10"}).delay_seconds == 300

    def test_a_floor_near_the_predicted_end_makes_the_watcher_land_at_once(self) -> None:
        # issue 22: 82 % after 391 s (likely 82.5 %) predicts the end 83 s away. Halving that (41.5 s) is
        # under the 60 s Retry-After, so the next read would come at the floor, 23 s before the end, and the
        # landing read a floor later: 37 s late. Within two floors of the end the watcher lands at once.
        left = 391 * 100 / 82.5 - 391
        plan = wait({"percentComplete": 82}, at(391), headers={"retry-after": "60"})
        assert plan.delay_seconds == expected(left + 1, floor=60)
        # far from the end (more than two floors) it still approaches by halves, the floor a floor
        far = 200 * 100 / 51.5 - 200  # 188 s left at 51 %
        assert wait({"percentComplete": 51}, at(200), headers={"retry-after": "60"}).delay_seconds == expected(0.5 * far, floor=60)
        assert wait({"percentComplete": 82}, at(391)).delay_seconds == expected(0.5 * left)  # no floor: approach as before

    def test_ceilings_max_delay_and_deadline(self) -> None:
        assert wait({"percentComplete": 5}, at(3000)).delay_seconds == 300
        assert wait({"percentComplete": 5}, at(3000), bounds=Bounds(5, 300, at(3010), 100)).delay_seconds == 10

    def test_jitter_is_deterministic_small_and_differs_between_operations(self) -> None:
        assert jitter_factor(KEY, 4) == jitter_factor(KEY, 4)
        factors = {jitter_factor(f"{KEY}-{i}", 1) for i in range(200)}
        assert all(1.0 <= f < 1.05 for f in factors) and len(factors) == 200
        delays = {running_delay(progress=progress_of({}), headers={}, now=at(3600), first_seen_at=T0, expected_seconds=None, bounds=BOUNDS,
                                key=f"{KEY}-{i}", polls=9).delay_seconds for i in range(200)}
        assert len(delays) >= 3  # operations enqueued together do not poll in lock-step


class TestBudget:
    def test_the_budget_stretch_multiplies_the_wait_up_to_the_ceiling(self) -> None:
        # the stretch itself is shared.core.arm_budget's (tests/shared/test_arm_budget.py)
        stretched = dataclasses.replace(BOUNDS, stretch=5.0)
        assert wait({}, at(600), bounds=stretched).delay_seconds == expected(5.0 * 3.2 * 800**0.3)
        assert wait({}, at(80_000), bounds=dataclasses.replace(BOUNDS, stretch=9.0)).delay_seconds == 300
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


@given(
    body=body_strategy, headers=headers_strategy,
    elapsed=st.floats(0, 40 * 86400), to_deadline=st.floats(0, 40 * 86400),
    min_delay=st.floats(0, 600), span=st.floats(0, 7 * 86400), hint=st.one_of(st.none(), st.integers(1, 2_592_000)),
    stretch=st.floats(1.0, 9.0), polls=st.integers(0, 10**6), failures=st.integers(1, 10_000),
)
def test_never_below_a_floor_above_a_ceiling_past_the_deadline_or_negative(
    body: dict | None, headers: dict, elapsed: float, to_deadline: float, min_delay: float, span: float,
    hint: int | None, stretch: float, polls: int, failures: int,
) -> None:
    now = at(elapsed)
    bounds = Bounds(min_delay, min_delay + span, now + timedelta(seconds=to_deadline), stretch)
    running = running_delay(progress=progress_of(body), headers=headers, now=now, first_seen_at=T0, expected_seconds=hint,
                            bounds=bounds, key=KEY, polls=polls).delay_seconds
    failed = failure_delay(headers=headers, now=now, failures=failures, bounds=bounds, key=KEY, polls=polls)
    floor = min(max(min_delay, delay_hint(headers, now) or 0.0), bounds.max_delay)
    left = (bounds.deadline - now).total_seconds()  # microsecond resolution, as the schedule sees it
    for delay in (running, failed):
        assert isinstance(delay, int) and delay >= 0
        assert delay <= math.ceil(left)  # never past the deadline
        assert delay <= math.ceil(bounds.max_delay)  # never above POLL_MAX_DELAY_SECONDS
        assert delay >= min(math.ceil(floor), math.ceil(left))  # never below a floor, unless the deadline comes first
