"""The soak's hostile lane (issue 18): answers and requests built to break the watcher, each with a fixed end.

About 5 % of the plan (``hostile_share``): operation ``i`` is hostile when ``floor((i + 1) * share)``
passes ``floor(i * share)``, and the k-th hostile operation plays ``VARIANTS[k % len(VARIANTS)]``,
so a short run still covers the first variants and the order is the same for every seed. Each
variant is scripted so that exactly one end is right (contract 3, §1, §2.5, §3). An answer that
makes the watcher fail the invocation (a copy too large to re-enqueue) is served six times, more
than host.json's ``maxDequeueCount``: the retries cannot read past it, so the failure shows as a
poison entry instead of hiding behind the next scripted step. The simulator injects no faults into
the lane's reads (a fault answered in between would let a copy escape the retries the same way).

=========================  ===========================================================  ===============
variant                    script (on the simulator, ``tools/dev/sim/hostile.py``)       must end
=========================  ===========================================================  ===============
huge-status                a running read whose ``status`` is 70 KB, then ``Succeeded``  Succeeded
deep-1000                  status bodies holding a value nested 1,000 levels             Succeeded
non-finite                 ``NaN``, ``1e999``, ``-1e999`` in percentComplete and         Succeeded,
                           properties, the terminal read too                             percentComplete null
echo-403                   a 403 whose message quotes ``Authorization``                 PollingFailed 403
drip-once                  a ``Failed`` body dripped past STATUS_READ_TIMEOUT_SECONDS   Succeeded
                           (twice), then ``Succeeded`` (a drip is a timed-out read)
long-location-near-64k     a ~63,000-byte request; its 202 moves the Location to a      PollingFailed
                           3 KB URL (the copy cannot fit 64 KiB)                         (any code)
eventgrid-echo             Succeeded; Event Grid refuses its first publish quoting      Succeeded
                           the topic key (raw, URL-encoded, a prefix)
sas                        a dataplane statusUrl with a SAS ``sig=``                    Succeeded
poison-non-finite-context  ``context`` holding ``1e999``                                poison (context)
echo-body                  ``Succeeded`` whose body quotes the token and a prefix       Succeeded
deep-100000                a running read nested 100,000 levels, then ``Succeeded``     Succeeded
echo-failed                ``Failed`` whose error quotes the URL-encoded header          Failed (Conflict)
drip-forever               every read dripped                                           PollingFailed
                                                                                        TooManyFailures
long-location-fits         a 202 moving the Location to a 2 KB URL (small request)      Succeeded there
huge-status-failed         a 70 KB running status, then Failed with a 70 KB message     Failed (HugeFailure)
echo-transient             a 500 quoting the token, then ``Succeeded``                  Succeeded
echo-location              Location polling: a 400 quoting ``Authorization``            Failed 400
poison-deep-context        ``context`` nested 65 levels                                 poison (context)
poison-duplicate-key       ``correlationId`` twice                                      poison
poison-forged-first-seen   ``poll.firstSeenAt`` 9999-01-01 with timeoutSeconds 60       poison (poll)
poison-forged-polls        ``poll.polls`` 10^30 and a numeric ``firstSeenAt``           poison (poll)
=========================  ===========================================================  ===============

A poison variant may name the field or say "The message ..." (``expect["field"]`` lists what is
accepted). Every output of every variant is also scanned for the credentials it was sent
(:mod:`tools.measure.soak.audit`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

__all__ = ["VARIANTS", "is_hostile", "hostile_op", "variant_summary", "HUGE_STATUS_CHARS", "DEFAULT_DRIP_SECONDS"]

#: The status string of the huge-status variants: over a queue message on its own.
HUGE_STATUS_CHARS = 70_000
#: A dripped body takes this long: far past the soak's STATUS_READ_TIMEOUT_SECONDS, each chunk far inside 10 s.
DEFAULT_DRIP_SECONDS = 9.0
_NEAR_64K_BYTES = 63_000
_SUBSCRIPTION = "5f1c1a52-3c7e-4d43-9a4e-2a8d1f9b0c11"
_DATAPLANE_PATH = "/documentintelligence/documentModels/operations/{}?api-version=2024-11-30"
#: A hostile answer that breaks a delivery is served this often: more than host.json's maxDequeueCount (5), so
#: a watcher that fails the invocation on it ends the message in the poison queue instead of reading past it.
_BEYOND_RETRIES = 6
_DRIPPED = {"status": "Failed", "error": {"code": "DripReadCompleted", "message": "A dripped read was waited out."}}
_ECHO_403 = "The client with Authorization '{{authorization}}' has no access to the operation."


def is_hostile(i: int, share: float) -> bool:
    """Whether operation ``i`` belongs to the hostile lane (an exact share, spread evenly)."""
    return share > 0 and int((i + 1) * share) > int(i * share)


def _nest(levels: int, leaf: str = "0") -> str:
    return "[" * levels + leaf + "]" * levels


def _nest_objects(levels: int) -> str:
    return '{"a":' * levels + "0" + "}" * levels


def _arm_url(base_url: str, sim_id: str, kind: str = "operationStatuses", region: str = "westus") -> str:
    return (f"{base_url}/subscriptions/{_SUBSCRIPTION}/providers/Microsoft.Web/locations/{region}/{kind}/{sim_id}"
            "?api-version=2023-12-01")


def _sas_signature(seed: int, i: int) -> str:
    """A SAS ``sig`` value as Storage makes one: base64 of an HMAC-SHA256 (``+``, ``/``, ``=`` in it)."""
    return base64.b64encode(hashlib.sha256(f"sas/{seed}/{i}".encode()).digest()).decode("ascii")


# Each variant: (context) -> (request fields, steps, style, expect).
Step = dict[str, Any]
Built = tuple[dict[str, Any], list[Step], str, dict[str, Any]]


class _Ctx:
    def __init__(self, seed: int, i: int, base_url: str, drip: float) -> None:
        self.seed, self.i, self.base_url, self.drip = seed, i, base_url, drip
        self.sim_id = f"soak-{seed}-{i:06d}-h"

    def arm(self, kind: str = "operationStatuses") -> dict[str, Any]:
        return {"source": "arm", "statusUrl": _arm_url(self.base_url, self.sim_id, kind)}

    def location(self) -> dict[str, Any]:
        return {"source": "arm", "statusUrl": _arm_url(self.base_url, self.sim_id, "operationResults"),
                "statusHeader": "Location"}

    def moved(self, pad: int) -> str:
        """The Location a 202 moves to: the same operation, east, with a query of ``pad`` characters (relative)."""
        url = _arm_url(self.base_url, self.sim_id, "operationResults", "eastus").replace(self.base_url, "")
        return f"{url}&pad={'p' * pad}"


def _huge_status(c: _Ctx) -> Built:
    steps: list[Step] = [{"status": "Running-" + "x" * HUGE_STATUS_CHARS, "times": _BEYOND_RETRIES}, {"status": "Succeeded"}]
    return c.arm(), steps, "status", {"outcome": "Succeeded", "status": "Succeeded"}


def _huge_status_failed(c: _Ctx) -> Built:
    steps: list[Step] = [{"status": "InProgress " + "y" * HUGE_STATUS_CHARS, "times": _BEYOND_RETRIES},
             {"status": "Failed", "error": {"code": "HugeFailure", "message": "z" * HUGE_STATUS_CHARS}}]
    return c.arm(), steps, "status", {"outcome": "Failed", "status": "Failed", "errorCode": "HugeFailure"}


def _deep(levels: int, terminal_too: bool) -> Callable[[_Ctx], Built]:
    def build(c: _Ctx) -> Built:
        deep = {"raw": {"deep": _nest(levels) if levels > 2000 else _nest_objects(levels)}}
        steps: list[Step] = [{"status": "Running", **deep}, {"status": "Succeeded", **(deep if terminal_too else {})}]
        return c.arm(), steps, "status", {"outcome": "Succeeded", "status": "Succeeded"}
    return build


def _non_finite(c: _Ctx) -> Built:
    steps: list[Step] = [{"status": "Running", "raw": {"percentComplete": "NaN"}},
             {"status": "Running", "raw": {"percentComplete": "1e999", "properties": '{"size":-1e999}'}},
             {"status": "Succeeded", "raw": {"percentComplete": "1e999", "properties": '{"cost":-1e999,"ok":true}'}}]
    return c.arm(), steps, "status", {"outcome": "Succeeded", "status": "Succeeded", "percentComplete": None}


def _echo_403(c: _Ctx) -> Built:
    steps: list[Step] = [{"status": "Running"}, {"http": 403, "echo": True, "error": {"code": "AuthorizationFailed", "message": _ECHO_403}}]
    return c.arm(), steps, "status", {"outcome": "PollingFailed", "httpStatus": 403, "errorCode": "AuthorizationFailed"}


def _echo_failed(c: _Ctx) -> Built:
    message = "Request rejected: Authorization={{authorization.url}}; token starting {{token.prefix}}."
    steps: list[Step] = [{"status": "Running"}, {"status": "Failed", "echo": True, "error": {"code": "Conflict", "message": message}}]
    return c.arm(), steps, "status", {"outcome": "Failed", "status": "Failed", "errorCode": "Conflict"}


def _echo_body(c: _Ctx) -> Built:
    properties = {"request": {"headers": {"Authorization": "{{authorization}}"}}, "tokenStart": "{{token.prefix}}"}
    return c.arm(), [{"status": "Succeeded", "echo": True, "properties": properties}], "status", \
        {"outcome": "Succeeded", "status": "Succeeded"}


def _echo_transient(c: _Ctx) -> Built:
    steps: list[Step] = [{"http": 500, "echo": True, "error": {"code": "InternalServerError", "message": "Upstream said: {{token}}"}},
             {"status": "Succeeded"}]
    return c.arm(), steps, "status", {"outcome": "Succeeded", "status": "Succeeded"}


def _echo_location(c: _Ctx) -> Built:
    error = {"code": "InvalidParameter", "message": "Header Authorization: {{authorization}} is not valid here."}
    return c.location(), [{"http": 202}, {"http": 400, "echo": True, "error": error}], "location", \
        {"outcome": "Failed", "errorCode": "InvalidParameter", "httpStatus": 400}


def _drip(forever: bool) -> Callable[[_Ctx], Built]:
    def build(c: _Ctx) -> Built:
        steps: list[Step] = [{**_DRIPPED, "drip": c.drip, "times": 2}] + ([] if forever else [{"status": "Succeeded"}])
        expect = ({"outcome": "PollingFailed", "errorCode": "TooManyFailures"} if forever
                  else {"outcome": "Succeeded", "status": "Succeeded"})
        return c.arm(), steps, "status", expect
    return build


def _long_location(near_64k: bool) -> Callable[[_Ctx], Built]:
    def build(c: _Ctx) -> Built:
        request = c.location()
        moved = c.moved(3000 if near_64k else 2000)
        moving = {"http": 202, "headers": {"Location": moved}, **({"times": _BEYOND_RETRIES} if near_64k else {})}
        steps: list[Step] = [moving, {"http": 202}, {"http": 204}]
        if near_64k:
            size = len(json.dumps({**request, "context": {"pad": ""}, "correlationId": "op-000000"}, separators=(",", ":")))
            request["context"] = {"pad": "n" * (_NEAR_64K_BYTES - size)}
            return request, steps, "location", {"outcome": "PollingFailed", "errorCode": "*"}
        return request, steps, "location", {"outcome": "Succeeded", "status": None, "statusUrl": c.base_url + moved}
    return build


def _eventgrid_echo(c: _Ctx) -> Built:
    return c.arm(), [{"status": "Running"}, {"status": "Succeeded"}], "status", \
        {"outcome": "Succeeded", "status": "Succeeded", "eventgridEcho": True}


def _sas(c: _Ctx) -> Built:
    sig = _sas_signature(c.seed, c.i)
    url = c.base_url + _DATAPLANE_PATH.format(c.sim_id) + f"&sv=2024-11-04&se=2030-01-01&sp=r&sig={quote(sig, safe='')}"
    return {"source": "dataplane", "statusUrl": url}, [{"status": "Running"}, {"status": "Succeeded"}], "status", \
        {"outcome": "Succeeded", "status": "Succeeded", "sasSignature": sig}


def _poison(fields: tuple[str, ...], text: Callable[[_Ctx, dict[str, Any]], str]) -> Callable[[_Ctx], Built]:
    """An invalid request (``text`` makes it from a valid one): it must be poisoned, never polled."""
    def build(c: _Ctx) -> Built:
        return {"text": text(c, c.arm())}, [{"status": "Succeeded"}], "status", {"field": fields}
    return build


def _dumps(request: dict[str, Any], c: _Ctx, tail: str = "") -> str:
    body = json.dumps({**request, "correlationId": f"op-{c.i:06d}"}, separators=(",", ":"))
    return body[:-1] + tail + "}"


VARIANTS: dict[str, Callable[[_Ctx], Built]] = {
    "huge-status": _huge_status,
    "deep-1000": _deep(1000, terminal_too=True),
    "non-finite": _non_finite,
    "echo-403": _echo_403,
    "drip-once": _drip(forever=False),
    "long-location-near-64k": _long_location(near_64k=True),
    "eventgrid-echo": _eventgrid_echo,
    "sas": _sas,
    "poison-non-finite-context": _poison(("context", "message"), lambda c, r: _dumps(r, c, ',"context":{"x":1e999}')),
    "echo-body": _echo_body,
    "deep-100000": _deep(100_000, terminal_too=False),
    "echo-failed": _echo_failed,
    "drip-forever": _drip(forever=True),
    "long-location-fits": _long_location(near_64k=False),
    "huge-status-failed": _huge_status_failed,
    "echo-transient": _echo_transient,
    "echo-location": _echo_location,
    "poison-deep-context": _poison(("context", "message"), lambda c, r: _dumps(r, c, f',"context":{_nest_objects(65)}')),
    "poison-duplicate-key": _poison(("correlationId", "message"),
                                    lambda c, r: _dumps(r, c, f',"correlationId":"op-{c.i:06d}"')),
    "poison-forged-first-seen": _poison(("poll",), lambda c, r: _dumps(
        {**r, "timeoutSeconds": 60, "poll": {"firstSeenAt": "9999-01-01T00:00:00Z", "polls": 0, "failures": 0}}, c)),
    "poison-forged-polls": _poison(("poll",), lambda c, r: _dumps(
        {**r, "poll": {"firstSeenAt": 1767225600, "polls": 10**30, "failures": 0}}, c)),
}


def hostile_op(k: int, i: int, seed: int, base_url: str, drip_seconds: float = DEFAULT_DRIP_SECONDS) -> dict[str, Any]:
    """The k-th hostile operation (plan position ``i``): ``{variant, text, sim_id, steps, style, expect}``."""
    variant = list(VARIANTS)[k % len(VARIANTS)]
    c = _Ctx(seed, i, base_url, drip_seconds)
    request, steps, style, expect = VARIANTS[variant](c)
    key = f"op-{i:06d}"
    if "text" in request:
        return {"variant": variant, "kind": "poison", "text": request["text"], "sim_id": c.sim_id, "steps": steps,
                "style": style, "expect": {**expect, "variant": variant}}
    request["correlationId"] = key
    text = json.dumps(request, separators=(",", ":"))
    expect.update(variant=variant, source=request["source"], correlationId=key, context=request.get("context"),
                  eventUrl=request["statusUrl"])
    return {"variant": variant, "kind": expect["outcome"], "text": text, "sim_id": c.sim_id, "steps": steps,
            "style": style, "expect": expect}


def variant_summary(variants: dict[str, str], lost: set[str], wrong: set[str]) -> dict[str, dict[str, int]]:
    """Per variant: operations, lost, wrong (``variants`` maps an operation's key to its variant)."""
    out: dict[str, dict[str, int]] = {}
    for key, variant in variants.items():
        row = out.setdefault(variant, {"operations": 0, "lost": 0, "wrong": 0})
        row["operations"] += 1
        row["lost"] += key in lost
        row["wrong"] += key in wrong
    return dict(sorted(out.items()))
