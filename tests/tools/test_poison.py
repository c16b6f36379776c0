"""python -m tools.poison against Azurite: listing wrapped and raw entries, replay, and its ordering.

Wrapped entries are written by the real Watcher (an invalid request never reaches the
status client, so its seams are dummies); raw entries are put on the poison queue as the
host puts them there: the message text as it was.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.core.poll_state import rfc3339
from shared.runtime import build_watcher
from tests.support import QueueSet
from tools.dev.run_local import QueueOptions
from tools.ops import poison

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOCAL_DEVCENTER = "http://127.0.0.1:8125"
MAX_DEQUEUE = QueueOptions.load(poison.HOST_JSON).max_dequeue_count


def apim(**extra: Any) -> dict[str, Any]:
    return {"source": "apim", "subscriptionId": SUBSCRIPTION, "location": "West US", "operationId": "op-1", **extra}


def devcenter(**extra: Any) -> dict[str, Any]:
    return {"source": "devcenter", "endpoint": LOCAL_DEVCENTER, "projectName": "web",
            "operationId": "fa067167-e49d-41bd-8dd8-de719b9de3b3", **extra}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = poison.main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, env, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def watcher_rejects(queues: QueueSet, text: str, message_id: str | None = None) -> None:
    """The real Watcher poisons ``text`` (wrapped), with the default settings."""
    queues.create()
    watcher = build_watcher(dict(queues), credential=object(), http=object())
    assert watcher.handle(text, message_id=message_id).action == "poisoned"


def fixed(queues: QueueSet) -> dict[str, str]:
    """The settings after the operator's fix: the local Dev Center host is allowed."""
    return {**queues, "STATUS_HOST_ALLOWLIST": "127.0.0.1:8125"}


def test_wrapped_and_raw_entries_are_explained(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(apim(operationID="typo", correlationId="c-typo")))
    watcher_rejects(queues, json.dumps(devcenter(correlationId="c-dc")))
    watcher_rejects(queues, "not json at all")
    queues.send(json.dumps(apim(correlationId="c-host")), queue=queues.poison)  # the host's copy after maxDequeueCount
    queues.send("neither", queue=queues.poison)

    entries = listed(capsys, dict(queues))
    typo, dc, junk, host, unknown = entries
    assert [e["kind"] for e in entries] == ["wrapped", "wrapped", "wrapped", "raw", "raw"]
    assert "'operationID'" in typo["reason"] and "Did you mean 'operationId'?" in typo["reason"]
    assert (typo["source"], typo["operationId"], typo["correlationId"], typo["valid"]) == ("apim", "op-1", "c-typo", False)
    assert dc["reason"].startswith("Field 'endpoint'") and dc["valid"] is False and dc["correlationId"] == "c-dc"
    assert junk["source"] is None and junk["original"] == "not json at all"
    assert host["reason"] == f"poisoned by the host after {MAX_DEQUEUE} dequeues (the function failed each time: see its logs)"
    assert host["valid"] is True and host["correlationId"] == "c-host"
    assert host["rejectedAt"] == host["insertedOn"]
    assert unknown["reason"].startswith("unknown") and unknown["valid"] is False
    for entry in entries:
        datetime.fromisoformat(entry["rejectedAt"])
    assert len(queues.peek(queues.poison)) == 5, "listing takes nothing"


def test_the_table_shows_reason_source_and_ids(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(devcenter(correlationId="c-dc")))
    queues.send(json.dumps(apim()), queue=queues.poison)
    code, out, _ = run(capsys, dict(queues))
    header, wrapped, raw, note = out.splitlines()
    assert header.split() == ["MESSAGE", "ID", "REJECTED", "AT", "KIND", "SOURCE", "OPERATION", "ID", "CORRELATION", "ID", "NOW", "REASON"]
    assert code == 0
    assert "devcenter" in wrapped and "fa067167-e49d-41bd-8dd8-de719b9de3b3" in wrapped and "c-dc" in wrapped
    assert " invalid " in wrapped and "Field 'endpoint'" in wrapped
    assert "apim" in raw and " ok " in raw and "poisoned by the host" in raw
    # The function's reason names the field; the tool adds the setting to fix before a replay, and where it came from.
    assert note.startswith(f"note: {wrapped.split()[0]} is invalid now: Field 'endpoint' has host '127.0.0.1:8125'")
    assert "STATUS_HOST_ALLOWLIST is '*.devcenter.azure.com', its default (not set); to allow 127.0.0.1:8125" in note
    assert run(capsys, fixed(queues))[1].count(" ok ") == 2, "the fixed settings make the devcenter entry valid"


def test_a_raw_entry_too_large_to_wrap_is_the_watchers_rejection(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    text = json.dumps(apim(context={"blob": "x" * 63_990}))[:64_000]  # truncated: not JSON, and too big to wrap
    watcher_rejects(queues, text)
    (entry,) = listed(capsys, dict(queues))
    assert entry["kind"] == "raw" and entry["reason"].startswith("rejected by the watcher, too large to wrap: ")


def test_empty_queue(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    assert run(capsys, dict(queues))[1] == "no poison entries\n"
    assert listed(capsys, dict(queues)) == []


def test_all_reads_past_the_peek_limit_and_leaves_every_entry_visible(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    for n in range(40):
        queues.send(json.dumps(apim(operationId=f"op-{n}")), queue=queues.poison)
    code, out, _ = run(capsys, dict(queues))
    assert code == 0 and out.count("poisoned by the host") == 32
    assert "note: showing the first 32 of about 40 entries; --all reads them all" in out
    entries = listed(capsys, dict(queues), "--all")
    assert sorted(e["operationId"] for e in entries) == sorted(f"op-{n}" for n in range(40))
    assert len(queues.peek(queues.poison)) == 32 and queues.count(queues.poison) == 40
    assert len(queues.take_all(queues.poison)) == 40, "all visible again at once"


def test_replay_moves_the_valid_entries_and_keeps_the_invalid(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(devcenter(correlationId="c-dc")))
    watcher_rejects(queues, json.dumps(apim(operationID="typo")))
    host_copy = json.dumps(apim(correlationId="c-host"))
    queues.send(host_copy, queue=queues.poison)

    code, out, _ = run(capsys, fixed(queues), "--replay", "--dry-run")
    assert code == 0 and out.count("would replay") == 2 and "kept: Field 'operationID'" in out
    assert queues.count(queues.operations) == 0 and len(queues.peek(queues.poison)) == 3

    entries = listed(capsys, fixed(queues), "--replay")
    actions = {e["correlationId"]: e["action"] for e in entries}
    assert actions["c-dc"].startswith("replayed as message ") and actions["c-host"].startswith("replayed as message ")
    assert actions[None].startswith("kept: Field 'operationID'")
    replayed = sorted(queues.take_all(queues.operations))
    assert replayed == sorted([json.dumps(devcenter(correlationId="c-dc")), host_copy]), "the originals, as they were"
    (left,) = [json.loads(text) for text in queues.peek(queues.poison)]
    assert "operationID" in left["original"], "the invalid entry stays, visible at once"


def test_replay_only_the_chosen_ids(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    first = queues.send(json.dumps(apim(operationId="a")), queue=queues.poison)
    queues.send(json.dumps(apim(operationId="b")), queue=queues.poison)
    code, out, _ = run(capsys, dict(queues), "--replay", "--id", first)
    assert code == 0 and first in out
    assert [json.loads(t)["operationId"] for t in queues.take_all(queues.operations)] == ["a"]
    assert [json.loads(t)["operationId"] for t in queues.peek(queues.poison)] == ["b"]


def test_replay_deletes_nothing_when_the_send_fails(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.send(json.dumps(apim()), queue=queues.poison)  # the operations queue does not exist: every send fails
    code, out, _ = run(capsys, dict(queues), "--replay")
    assert code == 1 and "kept: sending to" in out
    assert len(queues.peek(queues.poison)) == 1, "the entry stays, and is visible again at once"


class _Recorder:
    """A queue client double that records the calls of one replay."""

    def __init__(self, name: str, calls: list[tuple[str, str]], messages: list[Any] = (), fail_send: bool = False) -> None:
        self.queue_name, self.calls, self.messages, self.fail_send = name, calls, list(messages), fail_send

    def receive_messages(self, **_: Any) -> list[Any]:
        page, self.messages = self.messages, []
        return page

    def send_message(self, text: str, **_: Any) -> Any:
        from azure.core.exceptions import ServiceRequestError

        self.calls.append(("send", text))
        if self.fail_send:
            raise ServiceRequestError("down")
        return type("Sent", (), {"id": f"new-{len(self.calls)}"})()

    def delete_message(self, message_id: str, pop_receipt: str) -> None:
        self.calls.append(("delete", message_id))

    def update_message(self, message_id: str, pop_receipt: str, **_: Any) -> None:
        self.calls.append(("release", message_id))


@pytest.mark.parametrize("fail_send", [False, True])
def test_each_entry_is_deleted_only_after_its_replay_was_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fail_send: bool
) -> None:
    message = type("M", (), {"id": "p-1", "pop_receipt": "r", "content": json.dumps(apim()),
                             "inserted_on": datetime.now(UTC)})()
    calls: list[tuple[str, str]] = []
    clients = {"operations-poison": _Recorder("operations-poison", calls, [message]),
               "operations": _Recorder("operations", calls, fail_send=fail_send)}
    service = type("Service", (), {"get_queue_client": staticmethod(lambda name: clients[name])})()
    monkeypatch.setattr(poison, "queue_service", lambda args, env: service)
    code, _, _ = run(capsys, {}, "--replay")
    if fail_send:
        assert (code, calls) == (1, [("send", message.content), ("release", "p-1")])
    else:
        assert (code, calls) == (0, [("send", message.content), ("delete", "p-1")])


def test_poll_is_kept_by_default_and_dropped_with_reset_deadline(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    long_ago = rfc3339(datetime.now(UTC) - timedelta(days=3))
    copy = apim(timeoutSeconds=3600, poll={"firstSeenAt": long_ago, "polls": 4, "failures": 0, "lastStatus": "InProgress",
                                           "lastHttpStatus": 200})
    queues.create()
    queues.send(json.dumps(copy), queue=queues.poison)
    (entry,) = listed(capsys, dict(queues))
    assert entry["valid"] is True and entry["deadlinePassed"] is True
    out = run(capsys, dict(queues))[1]
    assert " late " in out and "past its deadline" in out and "--reset-deadline" in out

    assert run(capsys, dict(queues), "--replay")[0] == 0
    (kept,) = queues.take_all(queues.operations)
    assert json.loads(kept)["poll"]["firstSeenAt"] == long_ago

    queues.send(json.dumps(copy), queue=queues.poison)
    assert run(capsys, dict(queues), "--replay", "--reset-deadline")[0] == 0
    (fresh,) = queues.take_all(queues.operations)
    assert json.loads(fresh) == {k: v for k, v in copy.items() if k != "poll"}


def test_discard_deletes_only_the_chosen_entries(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(apim(operationID="typo")))
    queues.send(json.dumps(apim(operationId="keep")), queue=queues.poison)
    typo = next(e for e in listed(capsys, dict(queues)) if e["kind"] == "wrapped")["messageId"]

    code, _, err = run(capsys, dict(queues), "--discard")
    assert code == 2 and "--discard needs --id" in err
    code, out, _ = run(capsys, dict(queues), "--discard", "--id", typo, "--dry-run")
    assert code == 0 and "would discard" in out and len(queues.peek(queues.poison)) == 2
    code, out, _ = run(capsys, dict(queues), "--discard", "--id", typo)
    assert code == 0 and "discarded" in out
    assert [json.loads(t)["operationId"] for t in queues.peek(queues.poison)] == ["keep"]


def test_id_takes_a_unique_prefix_and_says_when_none_or_several_match(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    ids = [queues.send(json.dumps(apim(operationId=f"op-{n}")), queue=queues.poison) for n in range(17)]
    target = ids[3]
    # A first digit two of the entries left after the target's discard share (16 ids, 16 hex digits: a
    # shared one is likely, not certain; with none, the 17th id makes one).
    left = [i for i in ids if i != target]
    while not any(sum(i.startswith(c) for i in left) >= 2 for c in "0123456789abcdef"):
        left.append(queues.send(json.dumps(apim(operationId=f"op-{len(left) + 1}")), queue=queues.poison))
    shared_first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in left) >= 2)
    kept = len(left)
    code, out, _ = run(capsys, dict(queues), "--discard", "--id", f"{target[:8]}-…")
    assert code == 0 and "discarded" in out and target in out
    assert len(queues.peek(queues.poison)) == kept

    code, out, err = run(capsys, dict(queues), "--discard", "--id", shared_first)
    assert code == 2 and out == "" and f"--id {shared_first}: " in err and "entries" in err and "give more of the id" in err
    code, out, err = run(capsys, dict(queues), "--discard", "--id", target[:8])
    assert code == 2 and f"--id {target[:8]}: no entry on {queues.poison}" in err
    assert len(queues.peek(queues.poison)) == kept, "nothing was deleted"


def test_the_message_id_in_the_log_line_finds_the_entry(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(apim(operationID="typo", correlationId="c-typo")), message_id="0442c9da-aaaa-bbbb")
    watcher_rejects(queues, json.dumps(apim(operationID="typo", correlationId="c-other")), message_id="77d1e0f2-cccc-dddd")
    (entry,) = listed(capsys, dict(queues), "--id", "0442c9da")
    assert entry["originalMessageId"] == "0442c9da-aaaa-bbbb" and entry["correlationId"] == "c-typo"
    assert entry["messageId"] != "0442c9da-aaaa-bbbb", "the entry has its own id; the rejected message's is kept beside"
    (by_own_id,) = listed(capsys, dict(queues), "--id", entry["messageId"])
    assert by_own_id["originalMessageId"] == "0442c9da-aaaa-bbbb"


def test_correlation_id_chooses_the_entries(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    watcher_rejects(queues, json.dumps(apim(operationID="typo", correlationId="c-typo")))
    watcher_rejects(queues, json.dumps(apim(operationID="typo", correlationId="c-other")))
    queues.send(json.dumps(apim(correlationId="c-typo")), queue=queues.poison)  # the host's raw copy
    entries = listed(capsys, dict(queues), "--correlation-id", "c-typo")
    assert [(e["kind"], e["correlationId"]) for e in entries] == [("wrapped", "c-typo"), ("raw", "c-typo")]
    code, out, _ = run(capsys, dict(queues), "--discard", "--correlation-id", "c-other")
    assert code == 0 and out.count("discarded") == 1
    assert len(queues.peek(queues.poison)) == 2
