"""ARM's read budget: the headers parsed once (shared.core.arm_budget.budget_headers_of), the stretch, the gate's
decisions, the estimates per subscription × region (shared.edges.budget_estimates), the watcher acting on
Defer through its one re-enqueue path, and four instances sharing one bucket without a 429."""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared.core import arm_budget
from shared.core.arm_budget import (
    GLOBAL_READS_HEADER,
    READS_HEADER,
    ROUTING_HEADER,
    BudgetHeaders,
    Defer,
    Estimate,
    budget_headers_of,
    gate,
    observe,
    stretch,
    subscription_of,
)
from shared.core.interpretation import StatusAnswer
from shared.core.poll_state import PollState
from shared.edges.budget_estimates import BudgetEstimates
from shared.watcher import TTL_MARGIN_SECONDS, Watcher
from tests.support.builders import T0, apim, devcenter, parse, settings
from tests.support.fakes import Clock, RecordingPublisher, RecordingQueues, ScriptedStatus

DEADLINE = T0 + timedelta(days=1)
POLL = PollState(first_seen_at=T0)
ROUTED = "WESTUS:20250501T143306Z:408f77af-e36b-4f30-a1dc-a3a50dc63892"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answer(reads: int | None = None, global_reads: int | None = None, region: str = "WESTUS") -> dict[str, str]:
    headers = {ROUTING_HEADER: f"{region}:20250501T143306Z:408f77af-e36b-4f30-a1dc-a3a50dc63892"}
    if reads is not None:
        headers[READS_HEADER] = str(reads)
    if global_reads is not None:
        headers[GLOBAL_READS_HEADER] = str(global_reads)
    return headers


class TestReading:
    def test_the_three_headers_are_parsed_once_per_read(self) -> None:
        budget = budget_headers_of({READS_HEADER: "249", GLOBAL_READS_HEADER: "3749", ROUTING_HEADER: ROUTED})
        assert budget == BudgetHeaders(249.0, 3749.0, "westus")
        answer = StatusAnswer(200, {READS_HEADER: "249"})
        assert answer.budget is answer.budget  # computed once, then kept
        assert answer.budget.reads == 249.0

    def test_what_does_not_parse_is_left_out(self) -> None:
        for raw in ("many", "nan", "inf", ""):
            assert budget_headers_of({READS_HEADER: raw, GLOBAL_READS_HEADER: raw}) == BudgetHeaders()
        assert budget_headers_of({READS_HEADER: "-3"}).reads == 0.0
        for routing in ("", "WEST US:x", "../x:y", "a" * 65 + ":x"):
            assert budget_headers_of({ROUTING_HEADER: routing}).region is None

    def test_headroom_is_the_tighter_bucket_the_global_one_at_a_fifteenth(self) -> None:
        assert BudgetHeaders(249.0, 3749.0).headroom == 249.0
        assert BudgetHeaders(249.0, 600.0).headroom == 40.0  # others spent the global bucket: it binds
        assert BudgetHeaders(None, 1500.0).headroom == 100.0
        assert BudgetHeaders().headroom is None


class TestStretch:
    def test_grows_below_the_reserve(self) -> None:
        assert stretch(BudgetHeaders(11999.0), 100) == 1.0
        assert stretch(BudgetHeaders(100.0), 100) == 1.0
        assert stretch(BudgetHeaders(50.0), 100) == 1.0 + arm_budget.STRETCH * 0.5
        assert stretch(BudgetHeaders(0.0), 100) == 1.0 + arm_budget.STRETCH
        assert stretch(BudgetHeaders(0.0), 0) == 1.0  # ARM_READS_RESERVE=0: no budget logic
        assert stretch(BudgetHeaders(), 100) == 1.0

    def test_a_low_global_bucket_stretches_too(self) -> None:
        assert stretch(BudgetHeaders(249.0, 750.0), 100) == 1.0 + arm_budget.STRETCH * 0.5

    def test_decide_stretches_a_running_wait_from_the_read(self) -> None:
        from shared.core.decide import Reenqueue, decide

        request = parse(apim())
        body = b'{"status": "InProgress"}'
        plain = decide(request, StatusAnswer(200, answer(reads=249), body), T0, settings())
        low = decide(request, StatusAnswer(200, answer(reads=249, global_reads=0), body), T0, settings())
        assert isinstance(plain, Reenqueue) and isinstance(low, Reenqueue)
        assert low.delay_seconds > plain.delay_seconds


class TestGate:
    def test_nothing_known_or_no_reserve_reads_now(self) -> None:
        assert gate(None, POLL, DEADLINE, T0, 100) == (None, None)
        estimate = Estimate(0, T0)
        assert gate(estimate, POLL, DEADLINE, T0, 0) == (None, estimate)

    def test_a_read_above_the_reserve_is_taken_from_the_estimate(self) -> None:
        assert gate(Estimate(150, T0), POLL, DEADLINE, T0, 100) == (None, Estimate(149, T0, in_flight=1))
        assert gate(Estimate(90, T0), POLL, DEADLINE, at(2), 100) == (None, Estimate(139, at(2), in_flight=1))  # refilled at 25/s
        assert gate(Estimate(240, T0), POLL, DEADLINE, at(60), 100)[1] == Estimate(249, at(60), in_flight=1)  # at most 250

    def test_below_the_reserve_the_read_is_deferred_to_a_slot_in_its_copy(self) -> None:
        defer, estimate = gate(Estimate(50, T0), POLL, DEADLINE, T0, 100)
        assert isinstance(defer, Defer) and estimate is not None
        slot = at(1 / (25 * 0.5))  # paced at 25/s x 50/100
        assert defer.poll == replace(POLL, read_slot_at=slot) and defer.delay_seconds == 1 and estimate.next_slot == slot

    def test_the_pace_falls_with_the_level_so_instances_together_stay_under_the_refill(self) -> None:
        gaps = []
        for level in (99.0, 50.0, 10.0):
            defer, _ = gate(Estimate(level, T0), POLL, DEADLINE, T0, 100)
            assert defer is not None and defer.poll.read_slot_at is not None
            gaps.append((defer.poll.read_slot_at - T0).total_seconds())
        assert gaps == pytest.approx([1 / 24.75, 1 / 12.5, 1 / 2.5], abs=1e-6)  # datetimes: whole microseconds
        floor, _ = gate(Estimate(0, T0), POLL, DEADLINE, T0, 100)  # never slower than MIN_PACE
        assert floor is not None and floor.poll.read_slot_at == at(1 / (25 * arm_budget.MIN_PACE))

    def test_later_reads_queue_behind_one_pace_apart(self) -> None:
        estimate: Estimate | None = Estimate(50, T0)
        slots = []
        for _ in range(3):
            defer, estimate = gate(estimate, POLL, DEADLINE, T0, 100)
            assert defer is not None
            slots.append(defer.poll.read_slot_at)
        assert slots == [at(0.08), at(0.16), at(0.24)]

    def test_above_the_reserve_a_read_does_not_wait_behind_the_queue(self) -> None:
        assert gate(Estimate(150, T0, next_slot=at(30)), POLL, DEADLINE, T0, 100)[0] is None

    def test_a_copy_back_for_its_slot_reads_unless_the_level_is_under_the_floor(self) -> None:
        booked = replace(POLL, read_slot_at=at(0.5))
        assert gate(Estimate(50, T0, at(5)), booked, DEADLINE, T0, 100)[0] is None
        assert gate(Estimate(10, T0, at(5)), booked, DEADLINE, T0, 100)[0] is None  # the floor: 10 % of the reserve
        again, _ = gate(Estimate(9, T0, at(5)), booked, DEADLINE, T0, 100)
        assert again is not None  # under the floor: it waits again, behind the queue
        assert again.poll.read_slot_at == at(5) + timedelta(seconds=1 / (25 * 0.09))
        early = replace(POLL, read_slot_at=at(3))  # not its slot yet: gated like any read
        assert gate(Estimate(50, T0), early, DEADLINE, T0, 100)[0] is not None

    def test_never_past_the_deadline(self) -> None:
        defer, _ = gate(Estimate(0, T0), POLL, at(1), T0, 100)
        assert defer is not None and defer.poll.read_slot_at == at(1)
        assert gate(Estimate(0, T0), POLL, at(1), at(1), 100)[0] is None  # at the deadline: read (TimedOut needs a read)


class TestObserve:
    def test_the_answer_is_the_truth_less_the_reads_still_in_flight(self) -> None:
        assert observe(None, BudgetHeaders(11999.0), T0) == Estimate(250, T0)
        assert observe(Estimate(200, T0, in_flight=1), BudgetHeaders(120.0), at(1)) == Estimate(120, at(1))  # others read
        assert observe(Estimate(20, T0, in_flight=1), BudgetHeaders(120.0), T0) == Estimate(120, T0)  # the bucket is fuller
        # three reads let through, this is the first answer: the other two are not in it yet
        assert observe(Estimate(200, T0, in_flight=3), BudgetHeaders(120.0), T0) == Estimate(118, T0, in_flight=2)

    def test_the_global_bucket_counts(self) -> None:
        assert observe(Estimate(200, T0, in_flight=1), BudgetHeaders(240.0, 900.0), T0) == Estimate(60, T0)

    def test_no_or_unreadable_header_only_ends_the_read_in_flight(self) -> None:
        estimate = Estimate(50, T0, at(3), in_flight=2)
        assert observe(estimate, BudgetHeaders(region="westus"), at(1)) == Estimate(50, T0, at(3), in_flight=1)
        assert observe(None, BudgetHeaders(), T0) is None


def test_the_subscription_key_is_per_arm_host_and_subscription() -> None:
    url = "https://management.azure.com/subscriptions/ABC/providers/P/locations/w/operationStatuses/x?api-version=1"
    assert subscription_of(url) == "management.azure.com|abc"
    assert subscription_of("https://management.azure.com/providers/P/operations/x") == "management.azure.com|"


class TestEstimates:
    def test_one_estimate_per_subscription(self) -> None:
        budget = BudgetEstimates(100)
        one, other = parse(apim()), parse(apim(subscriptionId="11111111-1111-1111-1111-111111111111"))
        budget.observe(one, StatusAnswer(200, answer(reads=10)), T0)
        assert budget.gate(one, T0) is not None
        assert budget.gate(other, T0) is None  # nothing known about the other subscription

    def test_the_region_the_last_answer_came_from_picks_the_estimate(self) -> None:
        budget = BudgetEstimates(100)
        request = parse(apim())
        budget.observe(request, StatusAnswer(200, answer(reads=10, region="WESTUS")), T0)
        budget.observe(request, StatusAnswer(200, answer(reads=240, region="EASTUS")), T0)
        assert budget.gate(request, T0) is None  # routed to eastus now: its bucket is full
        assert budget.gate(request, T0) is None  # let through: in flight in eastus
        budget.observe(request, StatusAnswer(200, answer(reads=5, region="WESTUS")), T0)
        assert budget.gate(request, T0) is not None  # back in westus, 5 left: deferred

    def test_a_read_answered_from_another_region_is_no_longer_in_flight_where_it_was_let_through(self) -> None:
        budget = BudgetEstimates(100)
        request = parse(apim())
        budget.observe(request, StatusAnswer(200, answer(reads=240, region="EASTUS")), T0)
        assert budget.gate(request, T0) is None and budget.gate(request, T0) is None  # two reads in flight in eastus
        budget.observe(request, StatusAnswer(200, answer(reads=240, region="WESTUS")), T0)  # the first: served in westus
        budget.observe(request, StatusAnswer(200, answer(reads=101, region="EASTUS")), T0)  # the second: 101 left, none in flight
        assert budget.gate(request, T0) is None  # 101 - 1 leaves the reserve (counting a read still in flight would not)

    def test_only_arm_reads_are_gated_and_a_reserve_of_0_turns_it_off(self) -> None:
        budget = BudgetEstimates(100)
        budget.observe(parse(apim()), StatusAnswer(200, answer(reads=0)), T0)
        assert budget.gate(parse(devcenter()), T0) is None
        off = BudgetEstimates(0)
        off.observe(parse(apim()), StatusAnswer(200, answer(reads=0)), T0)
        assert off.gate(parse(apim()), T0) is None


def test_the_watcher_defers_a_read_unread_through_its_one_reenqueue_path() -> None:
    status, queues, clock = ScriptedStatus(StatusAnswer(200, answer(reads=3), b'{"status": "InProgress"}')), RecordingQueues(), Clock()
    watcher = Watcher(settings(), status, queues, publisher=RecordingPublisher(), clock=clock)
    first = watcher.handle(json.dumps(apim(operationId="one")))  # nothing known: read
    assert first.action == "reenqueued" and first.delay_seconds is not None
    handled = watcher.handle(json.dumps(apim(operationId="two")))  # same subscription, 3 left < 100
    assert handled.action == "deferred" and status.read_count == 1
    text, delay, ttl = queues.reenqueued[-1]
    poll = json.loads(text)["poll"]
    assert poll["polls"] == 0 and poll["readSlotAt"] == "2026-11-22T12:00:01.333Z" and delay == handled.delay_seconds == 2
    # one TTL rule for both re-enqueues: the time to the deadline, the delay and the margin
    deadline_s = int((parse(apim()).deadline - T0).total_seconds())
    assert ttl == deadline_s + delay + TTL_MARGIN_SECONDS
    assert queues.reenqueued[0][2] == deadline_s + first.delay_seconds + TTL_MARGIN_SECONDS
    # the copy comes back for its slot: with the level over the floor, it reads
    clock.now = T0 + timedelta(seconds=2)
    assert watcher.handle(text).action == "reenqueued" and status.read_count == 2


def test_a_read_reserve_of_0_never_defers() -> None:
    status = ScriptedStatus(StatusAnswer(200, answer(reads=0), b'{"status": "InProgress"}'))
    off = Watcher(settings(ARM_READS_RESERVE="0"), status, RecordingQueues(), publisher=RecordingPublisher(), clock=Clock())
    off.handle(json.dumps(apim(operationId="one")))
    assert off.handle(json.dumps(apim(operationId="two"))).action == "reenqueued" and status.read_count == 2


def test_four_instances_sharing_one_bucket_stay_under_it() -> None:
    """Four processes, each with its own estimates, each delivery to a random one, one ARM bucket:
    a burst of 2,000 reads of 100 operations. The shared answers and the pace keep every read out of 429."""
    budgets = [BudgetEstimates(100) for _ in range(4)]
    pick = random.Random(1)
    tokens, last, throttled, reads = 250.0, 0.0, 0, 0
    requests = [parse(apim(operationId=f"op-{i}")) for i in range(100)]
    due = [(0.0, i, 20) for i in range(100)]  # (time, operation, reads still to do)
    heapq.heapify(due)
    while due:
        t, i, left = heapq.heappop(due)
        now, budget = at(t), budgets[pick.randrange(4)]
        defer = budget.gate(requests[i], now)
        if defer is not None:
            requests[i] = replace(requests[i], poll=defer.poll)
            heapq.heappush(due, (t + defer.delay_seconds, i, left))
            continue
        tokens, last = min(250.0, tokens + 25.0 * (t - last)), t
        reads += 1
        if tokens < 1:
            throttled += 1
        else:
            tokens -= 1
        budget.observe(requests[i], StatusAnswer(200 if tokens >= 1 else 429, answer(reads=int(tokens))), now)
        requests[i] = replace(requests[i], poll=replace(requests[i].poll, read_slot_at=None))
        if left > 1:
            heapq.heappush(due, (t + 1.0, i, left - 1))  # each operation wants a read every second: 100/s
    assert reads >= 2000 and throttled == 0


def test_a_reserve_the_bucket_cannot_hold_is_a_setting_error() -> None:
    from shared.core.errors import SettingsError

    assert settings(ARM_READS_RESERVE="249").arm_reads_reserve == 249
    with pytest.raises(SettingsError) as raised:
        settings(ARM_READS_RESERVE="250")  # every read would wait for the deadline
    assert raised.value.setting == "ARM_READS_RESERVE"

