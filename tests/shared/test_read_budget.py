"""The ARM read-budget gate: the pure slot decisions (shared.core.schedule.admit / observe_budget),
the per-process estimates (shared.edges.read_budget) and the watcher putting a read off unread."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.core.decide import StatusRead
from shared.core.read_gate import BudgetEstimate, admit, observe_budget
from shared.core.schedule import ARM_READS_HEADER
from shared.edges.read_budget import ReadBudgets, budget_key
from shared.watcher import Watcher

from .helpers import T0, apim, devcenter, settings

DEADLINE = T0 + timedelta(days=1)
SLOT = timedelta(seconds=1 / 25)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestAdmit:
    def test_nothing_known_or_no_reserve_reads_now(self) -> None:
        assert admit(None, T0, 100, DEADLINE) == (None, None)
        estimate = BudgetEstimate(0, T0)
        assert admit(estimate, T0, 0, DEADLINE) == (None, estimate)

    def test_a_read_above_the_reserve_is_taken_from_the_estimate(self) -> None:
        assert admit(BudgetEstimate(150, T0), T0, 100, DEADLINE) == (None, BudgetEstimate(149, T0))
        # refilled at 25/s, at most 250
        assert admit(BudgetEstimate(90, T0), at(2), 100, DEADLINE) == (None, BudgetEstimate(139, at(2)))
        assert admit(BudgetEstimate(240, T0), at(60), 100, DEADLINE)[1] == BudgetEstimate(249, at(60))

    def test_below_the_reserve_the_read_gets_the_slot_when_the_bucket_has_refilled(self) -> None:
        slot, estimate = admit(BudgetEstimate(50, T0), T0, 100, DEADLINE)
        assert slot == at(51 / 25) and estimate == BudgetEstimate(50, T0, at(51 / 25))

    def test_later_reads_queue_behind_one_slot_apart_and_do_not_overtake(self) -> None:
        estimate: BudgetEstimate | None = BudgetEstimate(50, T0)
        slots = []
        for _ in range(3):
            slot, estimate = admit(estimate, T0, 100, DEADLINE)
            slots.append(slot)
        assert slots == [at(51 / 25), at(51 / 25) + SLOT, at(51 / 25) + 2 * SLOT]
        assert estimate is not None
        # the bucket has refilled, but reads are still queued: a new one goes to the back
        assert admit(estimate, at(2.05), 100, DEADLINE)[0] == at(51 / 25) + 3 * SLOT

    def test_a_booked_read_reads_unless_the_bucket_is_empty(self) -> None:
        assert admit(BudgetEstimate(50, T0, at(5)), at(1), 100, DEADLINE, booked=True)[0] is None
        assert admit(BudgetEstimate(0.5, T0, at(5)), T0, 100, DEADLINE, booked=True)[0] is not None

    def test_never_past_the_deadline(self) -> None:
        assert admit(BudgetEstimate(0, T0), T0, 100, at(1))[0] == at(1)
        assert admit(BudgetEstimate(0, T0), at(1), 100, at(1))[0] is None  # at the deadline: read (TimedOut needs a read)


class TestObserve:
    def test_the_lower_of_answer_and_estimate_wins(self) -> None:
        assert observe_budget(None, {ARM_READS_HEADER: "11999"}, T0) == BudgetEstimate(250, T0)
        assert observe_budget(BudgetEstimate(200, T0), {ARM_READS_HEADER: "120"}, T0) == BudgetEstimate(120, T0)
        assert observe_budget(BudgetEstimate(20, T0), {ARM_READS_HEADER: "120"}, T0) == BudgetEstimate(20, T0)

    def test_reads_taken_by_others_move_the_queue_back(self) -> None:
        estimate = BudgetEstimate(50, T0, at(3))
        assert observe_budget(estimate, {ARM_READS_HEADER: "25"}, T0) == BudgetEstimate(25, T0, at(4))

    def test_no_or_unreadable_header_changes_nothing(self) -> None:
        estimate = BudgetEstimate(50, T0)
        for headers in ({}, {ARM_READS_HEADER: "lots"}, {ARM_READS_HEADER: "nan"}):
            assert observe_budget(estimate, headers, T0) == estimate
        assert observe_budget(None, {}, T0) is None


def test_budget_key_is_per_arm_host_and_subscription() -> None:
    url = "https://management.azure.com/subscriptions/ABC/providers/P/locations/w/operationStatuses/x?api-version=1"
    assert budget_key(url) == "management.azure.com|abc"
    assert budget_key("https://management.azure.com/providers/P/operations/x") == "management.azure.com|"


def test_read_budgets_keep_one_estimate_per_key() -> None:
    budgets = ReadBudgets(100)
    budgets.observe("a", {ARM_READS_HEADER: "10"}, T0)
    assert budgets.slot("a", T0, DEADLINE) is not None
    assert budgets.slot("b", T0, DEADLINE) is None  # nothing known about b


class FakeQueues:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def reenqueue(self, text: str, delay: int, ttl: int) -> None:
        self.sent.append((text, delay))


class CountingStatus:
    def __init__(self, read: StatusRead) -> None:
        self.read_count = 0
        self._read = read

    def read(self, url: str, scope: str) -> StatusRead:
        self.read_count += 1
        return self._read


def test_the_watcher_puts_a_read_off_unread_when_the_last_answer_left_little_budget() -> None:
    low = StatusRead(200, {ARM_READS_HEADER: "3"}, b'{"status": "InProgress"}')
    status, queues = CountingStatus(low), FakeQueues()
    watcher = Watcher(settings(), status, queues, publisher=None, clock=lambda: T0)  # type: ignore[arg-type]
    assert watcher.handle(json.dumps(apim(operationId="one"))).action == "reenqueued"  # nothing known: read
    handled = watcher.handle(json.dumps(apim(operationId="two")))  # same subscription, 3 left < 100
    assert handled.action == "deferred" and status.read_count == 1
    text, delay = queues.sent[-1]
    poll = json.loads(text)["poll"]
    assert poll["polls"] == 0 and poll["readSlotAt"] == "2026-11-22T12:00:03.920Z" and delay == 4  # (100 + 1 - 3) / 25 s
    # the copy comes back at its slot: it reads, whatever the queue behind it
    later = Watcher(settings(), status, FakeQueues(), publisher=None, clock=lambda: T0 + timedelta(seconds=4))  # type: ignore[arg-type]
    later._budgets = watcher._budgets
    assert later.handle(text).action == "reenqueued" and status.read_count == 2
    # devcenter reads are not ARM reads: never gated
    dc = Watcher(settings(), status, FakeQueues(), publisher=None, clock=lambda: T0)  # type: ignore[arg-type]
    dc._budgets = watcher._budgets
    assert dc.handle(json.dumps(devcenter())).action == "reenqueued"
    # ARM_READS_RESERVE=0: no gate
    off = Watcher(settings(ARM_READS_RESERVE="0"), status, FakeQueues(), publisher=None, clock=lambda: T0)  # type: ignore[arg-type]
    off.handle(json.dumps(apim(operationId="one")))
    assert off.handle(json.dumps(apim(operationId="two"))).action == "reenqueued"
    assert datetime.fromisoformat(poll["readSlotAt"].replace("Z", "+00:00")).tzinfo == UTC
