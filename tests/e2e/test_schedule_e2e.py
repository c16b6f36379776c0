"""End to end, the schedule: ``python -m tools.run_local --drain`` against Azurite and the simulator.

Two operations run for the same 30 s (the simulator's ``runFor`` steps, on the wall clock), one
reporting ``percentComplete`` and one not. The end of the one with progress is noticed within
seconds: the watcher predicts it and reads just past it (the other is read like a timer of about
26 s; on an operation this short, progress buys promptness, not fewer reads). With ``PUBLISH_PROGRESS=true`` and
``RESULT_SINK=queue``, its progress reads arrive on the Event Grid topic as
``LroWatcher.Operation.Progress`` events, and the results queue holds exactly one message per
operation. About 35 s of wall time: the operations really run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import Simulator

SUB = "00000000-0000-0000-0000-000000000000"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_operation_reporting_progress_is_noticed_sooner_and_publishes_progress(queues: QueueSet, tmp_path: Path) -> None:
    with Simulator() as sim:
        scripted = datetime.now(UTC)
        for op, progress in (("with-progress", True), ("without-progress", False)):
            # started 3 s before it is scripted, so the first read already sees some progress
            sim.script(op, [{"runFor": 30, "startedAgo": 3, "progress": progress}, {"status": "Succeeded"}])
            queues.send_json({"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": op,
                              "correlationId": op})
        env = watcher_settings(sim, queues, POLL_MIN_DELAY_SECONDS="1", POLL_MAX_DELAY_SECONDS="300",
                               RESULT_SINK="queue", PUBLISH_PROGRESS="true",
                               EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint)  # Entra mode: the identity endpoint's token
        run = run_local_process(env, "--host-json", str(fast_host_json(tmp_path)), "--local-settings",
                                str(tmp_path / "none.json"), "--drain", "--max-seconds", "90", timeout=120)
        assert run.returncode == 0, run.stderr[-4000:]
        events = sim.events()
        polls = {op: sim.polls(op) for op in ("with-progress", "without-progress")}

    results = {r["correlationId"]: r for r in queues.take_all_json(queues.results)}
    assert {k: r["outcome"] for k, r in results.items()} == {"with-progress": "Succeeded", "without-progress": "Succeeded"}
    assert {k: r["polls"] for k, r in results.items()} == polls
    ended = scripted + timedelta(seconds=30 - 3)  # runFor 30, started 3 s before it was scripted
    lag = (_moment(results["with-progress"]["completedAt"]) - ended).total_seconds()
    assert 0 <= lag < 8, (lag, polls)  # the landing read goes a second past the predicted end

    assert events, run.stderr[-3000:]
    assert all(e["type"] == "LroWatcher.Operation.Progress" for e in events)  # outcomes go to the queue only
    by_op = {}
    for event in events:
        by_op.setdefault(event["data"]["operationId"], []).append(event["data"])
    progress = by_op["with-progress"]
    assert [d["polls"] for d in progress] == list(range(1, polls["with-progress"]))  # every running read changed the percentage
    assert all(d["expectedEndAt"] for d in progress) and progress[0]["percentComplete"] >= 5
    assert [d["polls"] for d in by_op["without-progress"]] == [1]  # status seen once, then unchanged
    assert by_op["without-progress"][0]["expectedEndAt"] is None
    assert len({e["id"] for e in events}) == len(events)
