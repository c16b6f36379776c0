"""Property: whatever a request and a status read hold, everything the watcher writes is strict JSON within its limit.

Inputs are built as text, so they hold what Python's json reads and strict parsers refuse or
cannot write back: ``1e999``, ``NaN``, nesting from 0 to 30,000 levels, strings up to 70 KB,
lone surrogates, duplicate keys, and 202s naming long Locations. Outputs are every queue write
(re-enqueued copy, result, poison entry) and every Event Grid POST (outcome and progress
events), each parsed with a strict parser (no ``NaN``/``Infinity``) and measured against its
limit (a queue message 64 KiB; an Event Grid event 1 MB). A request that is valid never ends
in poison, and its copy is valid on the next delivery (issue 18 classes 1 and 2).
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from shared.core import jsonio
from shared.core.errors import InvalidRequest
from shared.core.interpretation import StatusAnswer
from shared.core.message_text import MAX_MESSAGE_BYTES
from shared.core.request_parser import RequestParser
from shared.core.trimming import MAX_QUEUE_MESSAGE_BYTES
from shared.edges.eventgrid import MAX_BATCH_BYTES, EventGridSink
from shared.edges.sinks import Publisher, QueueSink
from shared.edges.tokens import TokenCache
from shared.watcher import Watcher
from tests.support.builders import T0, apim, arm, settings
from tests.support.fakes import CountingCredential, RecordingQueues, ScriptedStatus
from tests.support.http import FakeTransport
from tests.support.strict_json import strict_loads as strict

CONFIG = settings(RESULT_SINK="both", EVENTGRID_TOPIC_ENDPOINT="https://topic-1.westus-1.eventgrid.azure.net/api/events",
                  EVENTGRID_TOPIC_KEY="k3y==")
OPERATIONS = "https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Web/locations/westus/operationResults"
BASES = [apim(), arm(), arm(statusHeader="Location")]




# -- inputs, as JSON text -------------------------------------------------------------------------------

numbers = st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "0.5", "1" * 400, "-0"])
chars = st.sampled_from(["x", "é", "😀", "\\u0000", "\\ud800", "\\\""])
strings = st.builds(lambda char, n: '"' + char * n + '"', chars, st.sampled_from([0, 1, 300, 5_000, 64_000, 70_000]))
depths = st.sampled_from([0, 1, 63, 64, 65, 980, 30_000])
values = st.one_of(numbers, strings, depths.map(lambda n: "[" * n + "1" + "]" * n), st.just('{"k":1,"k":2}'))


@st.composite
def messages(draw: st.DrawFn) -> str:
    text = jsonio.dumps(draw(st.sampled_from(BASES)))
    extra = draw(st.lists(st.tuples(st.sampled_from(["context", "correlationId", "k"]), values), max_size=2))
    fields = "".join(f',"{name}":' + (f'{{"v":{value}}}' if name == "context" else value) for name, value in extra)
    return text[:-1] + fields + "}"


@st.composite
def reads(draw: st.DrawFn) -> StatusAnswer:
    code = draw(st.sampled_from([200, 202, 400, 500]))
    status = draw(st.sampled_from(['"Running"', '"Succeeded"', '"Failed"']) | strings)
    body = '{"status":' + status + ',"percentComplete":' + draw(numbers) + ',"x":' + draw(values) + "}"
    headers = {}
    if code == 202 and draw(st.booleans()):
        headers["location"] = f"{OPERATIONS}/op-9?api-version=1&t=" + "a" * draw(st.sampled_from([0, 400, 3_000, 60_000]))
    return StatusAnswer(code, headers, body.encode("utf-8", "surrogatepass"))


# -- the property -----------------------------------------------------------------------------------------


@given(messages(), reads(), st.sampled_from([1, 5]))
def test_everything_the_watcher_writes_is_strict_json_within_its_limit(message: str, answer: StatusAnswer, dequeue: int) -> None:
    assume(len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES)  # Storage delivers nothing larger
    queues, topic = RecordingQueues(), FakeTransport()
    credential = CountingCredential()
    events = EventGridSink(CONFIG, TokenCache(credential, clock=lambda: credential.now), topic)
    watcher = Watcher(CONFIG, ScriptedStatus(answer), queues, Publisher([QueueSink(queues), events]),  # type: ignore[arg-type]
                      clock=lambda: T0, progress=events)
    watcher.handle(message, dequeue)
    for text, _, _ in queues.reenqueued:
        strict(text)
        assert len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES
    for text in queues.published:
        strict(text)
        assert len(text.encode("utf-8")) <= MAX_QUEUE_MESSAGE_BYTES
    for text in queues.poisoned:  # the wrapper; an original too large to wrap goes as it is (the host's way)
        assert len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES
        assert text == message or strict(text)["reason"]
    for sent in topic.seen:
        assert sent.body is not None and len(sent.body) <= MAX_BATCH_BYTES
        strict(sent.body)
    try:
        RequestParser(CONFIG).parse(message, T0)
    except InvalidRequest:
        assert len(queues.poisoned) == 1
        return
    assert queues.poisoned == [], "a valid request ended in poison"
    assert len(queues.reenqueued) + len(queues.published) == 1
    for text, _, _ in queues.reenqueued:
        RequestParser(CONFIG).parse(text, T0)  # the copy is valid on its next delivery
