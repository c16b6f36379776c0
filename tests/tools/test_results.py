"""python -m tools.results against Azurite: tail without consuming, --follow, --max, --json, --consume."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shared.core.decide import decide
from shared.core.interpretation import StatusAnswer
from tests.support import QueueSet
from tests.support.builders import T0, apim, arm, parse, settings
from tools.ops import results

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def a_result(status: str = "Succeeded", **request: Any) -> dict[str, Any]:
    body = json.dumps({"status": status}).encode()
    return decide(parse(apim(**request)), StatusAnswer(200, {}, body), T0, settings()).result


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = results.main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_one_shot_prints_a_line_per_outcome_and_takes_nothing(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    ok = a_result(correlationId="rel-1")
    failed = a_result("Failed", operationId="op-2")
    for result in (ok, failed, ok):
        queues.send_json(result, queue=queues.results)
    queues.send("not json", queue=queues.results)

    code, out, err = run(capsys, dict(queues))
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["INSERTED", "OUTCOME", "SOURCE"] and header.split()[-3:] == ["POLLS", "COPY", "ERROR"]
    assert len(rows) == 4
    assert rows[0].split()[1:5] == ["Succeeded", "apim", "op-1", "rel-1"] and ok["eventId"] in rows[0]
    assert rows[0].split()[-3:] == ["1", "1", "-"] and rows[2].split()[-2] == "2", "the second copy of one eventId"
    assert rows[1].split()[1:5] == ["Failed", "apim", "op-2", "-"]
    assert "not a result" in rows[3]
    assert len(queues.peek(queues.results)) == 4, "peeking takes nothing"


def test_json_lines_and_max(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    first, second = a_result(operationId="a"), a_result(operationId="b")
    for result in (first, second):
        queues.send_json(result, queue=queues.results)
    queues.send("junk", queue=queues.results)
    lines = json_lines(run(capsys, dict(queues), "--json")[1])
    assert [line["result"] for line in lines] == [first, second, None]
    assert lines[2]["text"] == "junk" and lines[0]["copy"] == 1 and lines[0]["messageId"]
    (only,) = json_lines(run(capsys, dict(queues), "--json", "--max", "1")[1])
    assert only["result"] == first


def test_consume_deletes_what_it_printed(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    sent = [a_result(operationId=f"op-{n}") for n in range(40)]
    for result in sent:
        queues.send_json(result, queue=queues.results)
    lines = json_lines(run(capsys, dict(queues), "--json", "--consume", "--max", "35")[1])
    assert [line["result"] for line in lines] == sent[:35]
    assert queues.count(queues.results) == 5
    lines = json_lines(run(capsys, dict(queues), "--json", "--consume")[1])
    assert [line["result"] for line in lines] == sent[35:]
    assert queues.count(queues.results) == 0


def test_more_than_32_waiting_is_said(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    for n in range(33):
        queues.send_json(a_result(operationId=f"op-{n}"), queue=queues.results)
    code, out, err = run(capsys, dict(queues))
    assert code == 0 and len(out.splitlines()) == 33  # the header and the first 32
    assert "about 33 results wait; peek sees the first 32 only" in err


def test_follow_prints_new_outcomes_as_they_arrive(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    early, late = a_result(operationId="early"), a_result("Canceled", **{"operationId": "late"})
    queues.send_json(early, queue=queues.results)

    def send_later() -> None:
        time.sleep(0.5)  # after the first read: this one must be picked up by a later pass
        queues.send_json(late, queue=queues.results)

    sender = threading.Thread(target=send_later)
    sender.start()
    code, out, _ = run(capsys, dict(queues), "--follow", "--json", "--interval", "0.1", "--max", "2", "--max-seconds", "20")
    sender.join()
    assert code == 0
    assert [line["result"] for line in json_lines(out)] == [early, late], "each message once, in arrival order"
    assert queues.count(queues.results) == 2


def test_follow_with_max_not_reached_exits_3(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    queues.create()
    code, out, _ = run(capsys, dict(queues), "--follow", "--json", "--interval", "0.1", "--max", "1", "--max-seconds", "0.5")
    assert (code, out) == (results.EXIT_MAX_SECONDS, "")
    assert run(capsys, dict(queues), "--follow", "--interval", "0.1", "--max-seconds", "0.3")[0] == 0


def test_python_m_tools_results_in_a_subprocess(queues: QueueSet) -> None:
    result = decide(parse(arm(correlationId="sub")), StatusAnswer(200, {}, b'{"status":"Succeeded"}'), T0, settings()).result
    queues.send_json(result, queue=queues.results)
    done = subprocess.run(
        [sys.executable, "-m", "tools.results", "--json", "--connection-string", queues.connection_string,
         "--results-queue", queues.results],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[0]["result"] == result


def test_the_error_column_says_why_it_failed_cut_to_fit(capsys: pytest.CaptureFixture[str], queues: QueueSet) -> None:
    failed = a_result("Failed", operationId="op-2")
    failed["error"] = {"code": "EnvironmentDeploymentFailed", "message": "The ARM template failed to deploy. " * 5}
    queues.send_json(failed, queue=queues.results)
    _, out, _ = run(capsys, dict(queues))
    header, row = out.splitlines()
    cell = row[header.index("ERROR"):]
    assert cell.startswith("EnvironmentDeploymentFailed: The ARM template failed") and cell.endswith("…")
    assert len(cell) == 60


def test_help_explains_copy_and_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        results.main(["--help"], environ={})
    text = " ".join(capsys.readouterr().out.split())
    assert "COPY numbers the copies of one outcome" in text and "duplicate delivery" in text
    for code in ("4 rejected", "130", "143", "3 --max not reached"):
        assert code in text
