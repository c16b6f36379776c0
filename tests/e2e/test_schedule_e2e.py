"""End to end, the schedule: ``python -m tools.run_local --drain`` against Azurite and the simulator.

Two operations run for the same 30 s (the simulator's ``runFor`` steps, on the wall clock), one
reporting ``percentComplete`` and one not. With ``PUBLISH_PROGRESS=true`` and ``RESULT_SINK=queue``,
the progress reads arrive on the Event Grid topic as ``LroWatcher.Operation.Progress`` events (with
a predicted end only where there is progress), and the results queue holds exactly one message per
operation. About 35 s of wall time: the operations really run. How many reads each takes depends on
when run_local's first read comes (the machine's load), so this test does not compare them: the
same scenario is replayed on a virtual clock in tests/shared/test_decide.py, and across fleets by P5.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import QueueSet, run_local_process
from tests.support.e2e import fast_host_json, watcher_settings
from tools.dev.sim import Simulator

SUB = "00000000-0000-0000-0000-000000000000"


def test_two_operations_each_publish_one_result_and_the_one_with_progress_publishes_progress(queues: QueueSet, tmp_path: Path) -> None:
    with Simulator() as sim:
        for op, progress in (("with-progress", True), ("without-progress", False)):
            # started 3 s before it is scripted, so the first read already sees some progress
            sim.script(op, [{"runFor": 30, "startedAgo": 3, "progress": progress}, {"status": "Succeeded"}])
            queues.send_json({"source": "apim", "subscriptionId": SUB, "location": "westus", "operationId": op,
                              "correlationId": op})
        env = watcher_settings(sim, queues, POLL_MIN_DELAY_SECONDS="1", POLL_MAX_DELAY_SECONDS="300",
                               RESULT_SINK="queue", PUBLISH_PROGRESS="true",
                               EVENTGRID_TOPIC_ENDPOINT=sim.eventgrid_endpoint)  # Entra mode: the identity endpoint's token
        run = run_local_process(env, "--host-json", str(fast_host_json(tmp_path)), "--no-local-settings", "--drain", "--max-seconds", "90", timeout=120)
        assert run.returncode == 0, run.stderr[-4000:]
        events = sim.events()
        polls = {op: sim.polls(op) for op in ("with-progress", "without-progress")}

    results = {r["correlationId"]: r for r in queues.take_all_json(queues.results)}
    assert {k: r["outcome"] for k, r in results.items()} == {"with-progress": "Succeeded", "without-progress": "Succeeded"}
    assert {k: r["polls"] for k, r in results.items()} == polls

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
