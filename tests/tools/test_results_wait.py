"""tools.results --correlation-id ID --wait: one pipeline's outcome only, its exit code, others never taken."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest

from tests.support import QueueSet
from tools.ops import results
from tools.ops.results.wait import wait_for

from .test_results import a_result, json_lines, run


def outcome(correlation_id: str, name: str = "Succeeded", **request: Any) -> dict[str, Any]:
    result = a_result(correlationId=correlation_id, **request)
    result["outcome"] = name
    return result


def test_waits_for_its_own_outcome_and_takes_nothing(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    for cid in ("other-1", "mine", "other-2"):
        queues.send_json(outcome(cid, operationId=cid), queue=queues.results)
    code, out, err = run(capsys, dict(queues), "--correlation-id", "mine", "--wait", "--timeout", "30", "--json")
    assert (code, err) == (0, "")
    (line,) = json_lines(out)
    assert line["result"]["correlationId"] == "mine" and line["result"]["operationId"] == "mine"
    assert len(queues.peek(queues.results)) == 3, "without --consume nothing is taken"


def test_event_ids_tell_apart_two_operations_handed_over_with_one_correlation_id(capsys: pytest.CaptureFixture[str],
                                                                                 queues: QueueSet) -> None:
    """Two steps of one job keep the Action's default correlation-id: each waits for its own outcome, by its eventIds."""
    first = {**outcome("run/1", "Succeeded"), "eventId": "11111111-1111-5111-8111-111111111111"}
    second = {**outcome("run/1", "Failed"), "eventId": "22222222-2222-5222-8222-222222222222"}
    for result in (first, second):
        queues.send_json(result, queue=queues.results)
    code, out, err = run(capsys, dict(queues), "--correlation-id", "run/1", "--event-id", "0", "--event-id", second["eventId"],
                         "--wait", "--timeout", "30", "--json")
    assert code == 10 and json_lines(out)[0]["result"]["eventId"] == second["eventId"], err
    code, out, err = run(capsys, dict(queues), "--correlation-id", "run/1", "--event-id", "3", "--wait", "--timeout", "0.5")
    assert code == 3 and "another eventId is on the queue" in err


def test_consume_takes_only_its_own_outcome_and_the_others_stay_visible(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    for cid in ("other-1", "mine", "other-2"):
        queues.send_json(outcome(cid), queue=queues.results)
    code, _, _ = run(capsys, dict(queues), "--correlation-id", "mine", "--wait", "--consume", "--json")
    assert code == 0
    left = [json.loads(text)["correlationId"] for text in queues.peek(queues.results)]
    assert sorted(left) == ["other-1", "other-2"], "the others are visible again at once, not after a lease"


@pytest.mark.parametrize(("name", "code"), [("Succeeded", 0), ("Failed", 10), ("Canceled", 11), ("TimedOut", 12), ("PollingFailed", 13)])
def test_the_exit_code_is_the_outcomes(capsys: pytest.CaptureFixture[str], queues: QueueSet, name: str, code: int) -> None:
    queues.send_json(outcome("c", name), queue=queues.results)
    assert run(capsys, dict(queues), "--correlation-id", "c", "--wait")[0] == code


def test_finds_its_outcome_behind_more_than_a_peek_and_releases_the_rest(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    for n in range(40):
        queues.send_json(outcome(f"other-{n}"), queue=queues.results)
    queues.send_json(outcome("mine", "Failed"), queue=queues.results)
    code, out, err = run(capsys, dict(queues), "--correlation-id", "mine", "--wait", "--consume", "--json", "--timeout", "60")
    assert code == 10 and json_lines(out)[0]["result"]["correlationId"] == "mine"
    assert "scanning by receiving" in err
    assert len(queues.take_all(queues.results)) == 40, "every other result is visible again at once, none deleted"


class _ArrivesLater:
    """The results queue, where the outcome arrives between the first and the second pass."""

    def __init__(self, queues: QueueSet) -> None:
        self.client = queues.client(queues.results)
        self.queues = queues
        self.peeks = 0

    def peek_messages(self, **kwargs: Any) -> Any:
        self.peeks += 1
        if self.peeks == 2:
            self.queues.send_json(outcome("late", "Canceled"), queue=self.queues.results)
        return self.client.peek_messages(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_waits_across_passes_until_the_outcome_arrives(queues: QueueSet) -> None:
    queues.create()
    queues.send_json(outcome("someone-else"), queue=queues.results)
    queue = _ArrivesLater(queues)
    args = argparse.Namespace(correlation_id="late", wait=True, timeout=60.0, interval=0.01, consume=False, lease_seconds=5)
    shown: list[Any] = []
    assert wait_for(queue, args, shown.append) == 11
    assert queue.peeks == 2 and len(shown) == 1


class _CreatedLater(_ArrivesLater):
    """A results queue that does not exist at the first pass; the outcome is published (creating it) after it."""

    def peek_messages(self, **kwargs: Any) -> Any:
        self.peeks += 1
        if self.peeks == 2:
            self.queues.send_json(outcome("early-bird"), queue=self.queues.results)
        return self.client.peek_messages(**kwargs)


def test_a_wait_started_before_the_results_queue_exists_waits_for_it(queues: QueueSet) -> None:
    assert not queues.exists(queues.results)
    queue = _CreatedLater(queues)
    args = argparse.Namespace(correlation_id="early-bird", wait=True, timeout=60.0, interval=0.01, consume=False, lease_seconds=5)
    err = io.StringIO()
    shown: list[Any] = []
    assert wait_for(queue, args, shown.append, err=err) == 0
    assert queue.peeks == 2 and len(shown) == 1
    assert err.getvalue().count("does not exist yet") == 1


def test_without_wait_a_missing_results_queue_is_an_error_naming_it(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    code, out, err = run(capsys, dict(queues), "--correlation-id", "c")
    assert code == 1 and out == "" and "does the queue exist?" in err


def test_no_outcome_within_the_timeout_exits_3(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.send_json(outcome("someone-else"), queue=queues.results)
    code, out, _ = run(capsys, dict(queues), "--correlation-id", "mine", "--wait", "--timeout", "0.2", "--interval", "0.05", "--json")
    assert (code, out) == (3, "")
    assert len(queues.peek(queues.results)) == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--wait"], "--wait, --timeout, --message-id and --event-id need --correlation-id"),
        (["--event-id", "e"], "--event-id need --correlation-id"),
        (["--correlation-id", "c", "--follow"], "not with --follow"),
        (["--correlation-id", "c", "--wait", "--timeout", "0"], "--timeout must be more than 0"),
    ],
)
def test_bad_flag_combinations_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code = results.main(argv, environ={})
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and says in err and err.count("\n") == 1


def test_the_docs_sample_header_is_what_the_tool_prints(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    from pathlib import Path

    queues.send_json(outcome("c"), queue=queues.results)
    _, out, _ = run(capsys, dict(queues))
    header = out.splitlines()[0]
    readme = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text(encoding="utf-8")
    assert f"$ python -m tools.results\n{header}\n" in readme


def _rejected_by_the_watcher(queues: QueueSet, request: dict[str, Any]) -> str:
    """The real Watcher takes ``request`` off the operations queue and poisons it; the message id it had."""
    from shared.runtime import build_watcher

    queues.create()
    message_id = queues.send_json(request, queue=queues.operations)
    [message] = list(queues.client(queues.operations).receive_messages(max_messages=1))
    watcher = build_watcher(dict(queues), credential=object(), http=object())
    assert watcher.handle(message.content, message.dequeue_count, message_id=message.id).action == "poisoned"
    return message_id


def test_a_wait_for_a_rejected_request_says_so_at_once(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    request = {"source": "apim", "subscriptionId": "00000000-0000-0000-0000-000000000000", "location": "westus",
               "operationID": "typo", "correlationId": "release-42"}
    _rejected_by_the_watcher(queues, request)
    # Without the poison check this waits the whole --timeout and exits 3.
    code, out, err = run(capsys, dict(queues), "--correlation-id", "release-42", "--wait", "--timeout", "600", "--json")
    assert code == 4
    (said,) = [line for line in err.splitlines() if line.startswith("rejected at ")]  # (other lines: the watcher's log)
    assert "Field 'operationID'" in said and f"on {queues.poison} " in said
    (line,) = json_lines(out)
    assert line["rejected"]["reason"].startswith("Field 'operationID'")
    assert len(queues.peek(queues.poison)) == 1, "the entry stays for tools.poison"


def test_the_message_id_from_enqueue_finds_the_rejection(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    request = {"source": "apim", "subscriptionId": "nope", "location": "westus", "operationId": "op-1"}  # no correlationId
    message_id = _rejected_by_the_watcher(queues, request)
    code, _, err = run(capsys, dict(queues), "--correlation-id", "unknown", "--message-id", message_id,
                       "--wait", "--timeout", "600")
    assert code == 4 and "Field 'subscriptionId'" in err


def test_a_rejection_that_arrives_during_the_wait_ends_it(queues: QueueSet) -> None:
    from tools.ops.results.wait import Rejection

    queues.create()
    poison = queues.client(queues.poison)

    class _RejectedLater:
        peeks = 0

        def peek_messages(self, **kwargs: Any) -> Any:
            self.peeks += 1
            if self.peeks == 3:
                _rejected_by_the_watcher(queues, {"source": "apim", "correlationId": "late", "nope": 1})
            return poison.peek_messages(**kwargs)

    args = argparse.Namespace(correlation_id="late", wait=True, timeout=600.0, interval=0.01, consume=False,
                              lease_seconds=5, message_id=None)
    seen: list[Rejection] = []
    assert wait_for(queues.client(queues.results), args, print, poison=_RejectedLater(), rejected=seen.append) == 4
    assert seen[0].reason and seen[0].message_id is not None
