"""SSRF corpus: hostile status URLs and devcenter endpoints never get a request, let alone a token.

The whole path runs: ``python -m tools.run_local --drain`` drives the real ``function_app``
against Azurite, with the simulator as ARM / Dev Center / managed identity. ``ARM_ENDPOINT``
is the simulator and ``STATUS_HOST_ALLOWLIST`` is ``*.devcenter.azure.com`` plus the
simulator. Next to it listens a TRAP: a loopback socket (IPv4 and IPv6, one port) that
records every connection it accepts, and answers a Succeeded status if one ever came.

* Each hostile request (userinfo, suffix/prefix tricks, trailing dot, mixed-case scheme,
  backslashes, encoded slashes and dots, IP literals in decimal/octal/hex/short form,
  IPv6 (and garbage after an IPv6 literal), IDN look-alikes and punycode, port confusion
  (a port that wraps past 65535, port 0), names that start with ``127.``, http off loopback, path-field
  traversal; ARM paths that are not an async-operation resource by ARM's path grammar) is **rejected**: one poison entry whose reason names the field, no result.
* Each status endpoint that answers a redirect to the trap (301, 302, 303, 307, 308) is
  **refused**: outcome PollingFailed, ``RedirectNotFollowed``, one read.
* The same hostile URLs as ``dataplane`` statusUrls (plus pattern tricks on
  ``DATAPLANE_HOSTS``) are rejected naming ``statusUrl``.
* Each Location poll that answers 202 with a new ``Location`` pointing at the trap (or
  otherwise off the rules) is **refused**: outcome PollingFailed, ``LocationRefused``, one
  read, and the moved URL is never requested.
* The trap saw no connection at all (so no token), and the simulator saw status reads
  only for the redirecting and moving operations.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueSet, run_local_process
from tests.support.e2e import clear_inherited_settings, fast_host_json
from tools.dev.sim import Simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"

#: (name, statusUrl) for source arm; {S} is the simulator's (ARM's) port, {T} the trap's, {P} a status path.
ARM_STATUS_URLS = [
    ("port confusion: the trap's port on the ARM host", "http://127.0.0.1:{T}{P}"),
    ("userinfo: the ARM host as user name, the trap as host", "http://127.0.0.1:{S}@127.0.0.1:{T}{P}"),
    ("userinfo with a password on the ARM host", "http://user:secret@127.0.0.1:{S}{P}"),
    ("a fragment hiding the real host", "http://127.0.0.1:{T}#@127.0.0.1:{S}{P}"),
    ("backslash before @ (WHATWG vs RFC 3986 parsers)", "http://127.0.0.1:{T}\\@127.0.0.1:{S}{P}"),
    ("backslashes as slashes", "http:\\\\127.0.0.1:{T}{P}"),
    ("localhost: another name of the trap", "http://localhost:{T}{P}"),
    ("localhost: another name of the ARM host", "http://localhost:{S}{P}"),
    ("decimal IP literal", "http://2130706433:{T}{P}"),
    ("hex IP literal", "http://0x7f000001:{T}{P}"),
    ("octal IP literal", "http://0177.0.0.1:{T}{P}"),
    ("short IP literal", "http://127.1:{T}{P}"),
    ("zero-padded IP literal on the ARM port", "http://127.000.000.001:{S}{P}"),
    ("IPv6 loopback", "http://[::1]:{T}{P}"),
    ("IPv4-mapped IPv6 on the ARM port", "http://[::ffff:127.0.0.1]:{S}{P}"),
    ("IPv6 with a zone id", "http://[::1%25lo]:{T}{P}"),
    ("trailing dot", "http://127.0.0.1.:{S}{P}"),
    ("suffix trick: the ARM host as a label", "http://127.0.0.1.trap.example:{S}{P}"),
    ("prefix trick: the ARM host in the path", "http://trap.example/127.0.0.1:{S}{P}"),
    ("mixed-case scheme to the trap", "HtTp://127.0.0.1:{T}{P}"),
    ("https to the trap", "https://127.0.0.1:{T}{P}"),
    ("two ports", "http://127.0.0.1:{S}:{T}{P}"),
    ("percent-encoded colon in the host", "http://127.0.0.1%3a{T}{P}"),
    ("full-width dots (IDN)", "http://127\u30020\u30020\u30021:{T}{P}"),
    ("look-alike letters (U+217C for l)", "http://\u217Cocalhost:{T}{P}"),
    ("encoded NUL before @", "http://127.0.0.1:{S}%00@127.0.0.1:{T}{P}"),
    ("tab inside the host", "http://127.0.0.1\t:{T}{P}"),
    ("empty host", "http://:{T}{P}"),
    ("scheme-relative", "//127.0.0.1:{T}{P}"),
    ("no scheme", "127.0.0.1:{T}{P}"),
    ("gopher", "gopher://127.0.0.1:{T}/_GET%20/"),
    ("file", "file:///etc/passwd?api-version=1"),
    ("encoded slashes in the path", "http://127.0.0.1:{S}/subscriptions/x%2f..%2f..%2fadmin?api-version=1"),
    ("encoded dots in the path", "http://127.0.0.1:{S}/subscriptions/%2e%2e/%2E%2E/admin?api-version=1"),
    ("encoded backslashes in the path", "http://127.0.0.1:{S}/subscriptions/x%5c..%5cadmin?api-version=1"),
    ("dot segments in the path", "http://127.0.0.1:{S}/subscriptions/x/../../admin?api-version=1"),
    ("garbage after an IPv6 literal (read as [::1]:port by urlsplit)", "http://[::1]x:{T}{P}"),
    ("two closing brackets after an IPv6 literal", "http://[::1]]:{T}{P}"),
    ("a name that starts with 127. on the ARM port", "http://127.evil.example.com:{S}{P}"),
    ("localhost with a trailing dot on the ARM port", "http://localhost.:{S}{P}"),
    ("port 0", "http://127.0.0.1:0{P}"),
    ("a port past 65535 that wraps to the ARM port", "http://127.0.0.1:{W}{P}"),
    ("a port in full-width digits", "http://127.0.0.1:\uff18\uff10{P}"),
]
#: (name, path) for source arm on the ARM host itself: ARM resources that are not an async-operation
#: status resource (a word search for "operation" passed each one; the path grammar refuses them).
ARM_NOT_OPERATIONS = [
    ("a collection in a namespace holding the word", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces"),
    ("a resource in a namespace holding the word", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"),
    ("a resource group named operations-rg", "/subscriptions/x/resourceGroups/operations-rg"),
    ("a resource group named operations", "/subscriptions/x/resourceGroups/operations"),
    ("a resource in a group named operations", "/subscriptions/x/resourceGroups/operations/providers/Microsoft.KeyVault/vaults/v"),
    ("Microsoft.OperationsManagement", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationsManagement/solutions/s"),
    ("a provider's operation listing", "/subscriptions/x/providers/Microsoft.Compute/operations"),
    ("an operation collection", "/subscriptions/x/providers/Microsoft.Compute/locations/westus/operations"),
    ("a resource under an operation", "/subscriptions/x/providers/Microsoft.Web/locations/w/operationResults/1/extra"),
    ("an extension after an operation", "/subscriptions/x/providers/Microsoft.Web/operationResults/1/providers/Microsoft.KeyVault/vaults/v"),
    ("an empty segment", "/subscriptions/x//providers/Microsoft.Web/locations/w/operationResults/1"),
    ("a namespace that is not one", "/subscriptions/x/providers/operations/locations/w/operationResults/1"),
    ("a tenant path without providers", "/operations/1"),
]
#: (name, endpoint) for source devcenter.
DEVCENTER_ENDPOINTS = [
    ("the allowlist's apex", "https://devcenter.azure.com"),
    ("suffix trick", "https://tenant.devcenter.azure.com.trap.example"),
    ("prefix trick", "https://tenantdevcenter.azure.com"),
    ("port confusion", "https://tenant.devcenter.azure.com:8443"),
    ("http off loopback", "http://tenant.devcenter.azure.com"),
    ("trailing dot", "https://tenant.devcenter.azure.com."),
    ("IDN look-alike (Cyrillic e)", "https://tenant.d\u0435vcenter.azure.com"),
    ("punycode look-alike", "https://tenant.xn--dvcenter-f1a.azure.com"),
    ("userinfo: the allowed host as user name", "https://tenant.devcenter.azure.com@127.0.0.1:{T}"),
    ("backslash before @", "https://tenant.devcenter.azure.com\\@127.0.0.1:{T}"),
    ("the trap itself", "http://127.0.0.1:{T}"),
    ("mixed-case scheme and host to the trap", "HTTP://LOCALHOST:{T}"),
    ("decimal IP literal", "http://2130706433:{T}"),
    ("a query smuggling another host", "http://127.0.0.1:{S}?@127.0.0.1:{T}"),
    ("encoded dots after the allowed host", "http://127.0.0.1:{S}/%2e%2e/%2e%2e"),
    ("IPv6 loopback", "http://[::1]:{T}"),
    ("garbage after an IPv6 literal", "http://[::1]x:{T}"),
    ("a name that starts with 127.", "http://127.evil.example.com:{S}"),
    ("a port past 65535 that wraps to the allowed port", "http://127.0.0.1:{W}"),
]
#: (name, source, field, value): path fields that try to climb out of their segment.
PATH_FIELDS = [
    ("operationId climbing to another ARM API", "apim", "operationId", "../../../providers/Microsoft.Authorization/roleAssignments"),
    ("location climbing out", "operationalinsights", "location", "westus/../../../x"),
    ("operationId carrying a query", "apim", "operationId", "x?api-version=1&$expand=secrets"),
    ("operationId carrying a fragment", "operationalinsights", "operationId", "x#"),
    ("projectName climbing out", "devcenter", "projectName", "../../x"),
]
#: (name, statusUrl) for source dataplane, beyond ARM_STATUS_URLS; {S}, {T}, {P} as there.
DATAPLANE_URLS = [
    ("the apex of a wildcard pattern", "https://cognitiveservices.azure.com{P}"),
    ("a data-plane host of no pattern", "https://acct.openai.azure.com{P}"),
    ("suffix trick on the pattern", "https://acct.cognitiveservices.azure.com.trap.example{P}"),
    ("prefix trick on the pattern", "https://acctcognitiveservices.azure.com{P}"),
    ("http off loopback on a pattern host", "http://acct.cognitiveservices.azure.com{P}"),
    ("port confusion on a pattern host", "https://acct.cognitiveservices.azure.com:8443{P}"),
    ("userinfo: a pattern host as user name", "https://acct.cognitiveservices.azure.com@127.0.0.1:{T}{P}"),
    ("no api-version", "http://127.0.0.1:{S}/formrecognizer/operations/x"),
]
#: (name, source, Location the 202 names): a Location poll moving somewhere the rules refuse.
MOVED_LOCATIONS = [
    ("moved to the trap", "arm", "http://127.0.0.1:{T}{P}"),
    ("moved to the trap by another name", "arm", "http://localhost:{T}{P}"),
    ("moved with userinfo", "arm", "http://127.0.0.1:{S}@127.0.0.1:{T}{P}"),
    ("moved to a non-operation ARM resource", "arm", "/subscriptions/" + SUB + "/resourceGroups/rg?api-version=1"),
    ("moved with encoded dots", "arm", "/subscriptions/" + SUB + "/providers/x/%2e%2e/operationResults/y?api-version=1"),
    ("moved scheme-relative to the trap", "arm", "//127.0.0.1:{T}{P}"),
    ("moved to garbage after an IPv6 literal", "arm", "http://[::1]x:{T}{P}"),
    ("moved to a port that wraps to the ARM port", "arm", "http://127.0.0.1:{W}{P}"),
    ("dataplane moved to the trap", "dataplane", "http://127.0.0.1:{T}{P}"),
    ("dataplane moved to another pattern's host", "dataplane", "https://acct.purview.azure.com{P}"),
]
#: (name, source, HTTP status): the status endpoint answers a redirect to the trap.
REDIRECTS = [("302 to the trap", "arm", 302), ("301 to the trap", "apim", 301), ("307 to the trap", "devcenter", 307),
             ("308 to the trap", "operationalinsights", 308), ("303 to localhost", "arm", 303)]


class Trap:
    """Loopback listener on 127.0.0.1 and ::1 (same port) that records every connection."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closing = False

    def start(self) -> Trap:
        v4 = socket.create_server(("127.0.0.1", 0))
        self.port = v4.getsockname()[1]
        self._sockets.append(v4)
        try:
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass  # no IPv6 here: the IPv6 cases are still rejected, just not trapped
        for sock in self._sockets:
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        return self

    def _serve(self, sock: socket.socket) -> None:
        while not self._closing:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                    body = b'{"status":"Succeeded"}'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                except OSError:
                    data = b""
            with self._lock:
                self.hits.append({"peer": peer, "data": data.decode("latin-1")})

    def stop(self) -> None:
        self._closing = True
        for sock in self._sockets:
            sock.close()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_inherited_settings(monkeypatch)


@pytest.fixture
def trap() -> Any:
    instance = Trap().start()
    yield instance
    instance.stop()


def corpus(sim: Simulator, trap: Trap) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rejected cases, redirect cases): each with the exact message text and what must happen."""
    fill = {"S": str(sim.port), "T": str(trap.port), "W": str(sim.port + 65536)}
    rejected = []
    for i, (name, template) in enumerate(ARM_STATUS_URLS):
        path = f"/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/ssrf-arm-{i}?api-version=2023-12-01"
        url = template.replace("{P}", path).format(**fill)
        sim.script(f"ssrf-arm-{i}", [{"status": "Succeeded"}])  # so a leaked read would find something
        rejected.append({"name": name, "field": "statusUrl", "message": {"source": "arm", "statusUrl": url}})
    for name, path in ARM_NOT_OPERATIONS:
        url = f"{sim.base_url}{path}?api-version=2024-01-01"
        for header in ("Azure-AsyncOperation", "Location"):
            rejected.append({"name": f"arm path grammar ({header}): {name}", "field": "statusUrl",
                             "message": {"source": "arm", "statusUrl": url, "statusHeader": header}})
    dp_path = "/formrecognizer/documentModels/operations/ssrf-dp?api-version=2024-11-30"
    for name, template in [*ARM_STATUS_URLS, *DATAPLANE_URLS]:
        url = template.replace("{P}", dp_path).format(**fill)
        rejected.append({"name": f"dataplane: {name}", "field": "statusUrl", "message": {"source": "dataplane", "statusUrl": url}})
    for name, template in DEVCENTER_ENDPOINTS:
        op = str(uuid.uuid4())
        sim.script(op, [{"status": "Succeeded"}])
        rejected.append({"name": f"devcenter: {name}", "field": "endpoint", "message": {
            "source": "devcenter", "endpoint": template.format(**fill), "projectName": "web", "operationId": op}})
    for name, source, field, value in PATH_FIELDS:
        message = {"source": source, "subscriptionId": SUB, "location": "westus", "operationId": "ssrf-path"}
        if source == "devcenter":
            message = {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web", "operationId": str(uuid.uuid4())}
        rejected.append({"name": name, "field": field, "message": {**message, field: value}})
    redirects = []
    for i, (name, source, status) in enumerate(REDIRECTS):
        op = str(uuid.uuid4()) if source == "devcenter" else f"ssrf-redirect-{i}"
        host = "localhost" if "localhost" in name else "127.0.0.1"
        sim.script(op, [{"http": status, "headers": {"Location": f"http://{host}:{trap.port}/steal-the-token"}}])
        if source == "arm":
            message = {"source": "arm", "statusUrl": f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.Web/locations/westus/operationResults/{op}?api-version=2023-12-01"}
        elif source == "devcenter":
            message = {"source": "devcenter", "endpoint": sim.base_url, "projectName": "web", "operationId": op}
        else:
            message = {"source": source, "subscriptionId": SUB, "location": "westus", "operationId": op}
        redirects.append({"name": name, "status": status, "operationId": op, "message": {**message, "correlationId": f"redirect-{i}"}})
    for i, (name, source, where) in enumerate(MOVED_LOCATIONS):
        op = f"ssrf-moved-{i}"
        if source == "arm":
            path = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/operationResults/{op}?api-version=2024-03-01"
        else:
            path = f"/formrecognizer/operations/{op}?api-version=2024-11-30"
        sim.script(op, [{"http": 202, "headers": {"Location": where.replace("{P}", path).format(**fill)}}, {"http": 204}],
                   style="location")
        message = {"source": source, "statusUrl": sim.base_url + path, "statusHeader": "Location"}
        redirects.append({"name": name, "status": 202, "operationId": op, "code": "LocationRefused",
                          "message": {**message, "correlationId": f"moved-{i}"}})
    for case in rejected + redirects:
        case["text"] = json.dumps(case["message"])
    return rejected, redirects


def test_hostile_urls_are_rejected_or_refused_and_nothing_reaches_the_trap(
    queues: QueueSet, trap: Trap, tmp_path: Path
) -> None:
    fast_host_json(tmp_path)
    with Simulator() as sim:
        rejected, redirects = corpus(sim, trap)
        assert len(rejected) + len(redirects) >= 30
        for case in rejected + redirects:
            queues.send(case["text"])
        env = {
            **queues,
            "ARM_ENDPOINT": sim.base_url,
            "STATUS_HOST_ALLOWLIST": f"*.devcenter.azure.com,127.0.0.1:{sim.port}",
            "DATAPLANE_HOSTS": f"*.cognitiveservices.azure.com=https://cognitiveservices.azure.com/.default;"
                               f"127.0.0.1:{sim.port}=https://cognitiveservices.azure.com/.default;"
                               "*.purview.azure.com=https://purview.azure.net/.default",
            "POLL_MIN_DELAY_SECONDS": "0",
            "POLL_MAX_DELAY_SECONDS": "0",
            "POLL_MAX_FAILURES": "2",
            "IDENTITY_ENDPOINT": sim.identity_endpoint,
            "IDENTITY_HEADER": sim.identity_header,
        }
        finished = run_local_process(
            env, "--host-json", str(tmp_path / "host.json"), "--no-local-settings",
            "--drain", "--max-seconds", "60", timeout=90,
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        status_reads = [r for r in sim.requests() if r["route"] not in ("msi", "unknown")]

    assert trap.hits == [], "a request reached the trap"
    poison = [json.loads(text) for text in queues.take_all(queues.poison)]
    results = queues.take_all_json()
    by_original: dict[str, list[dict[str, Any]]] = {}
    for entry in poison:
        by_original.setdefault(entry["original"], []).append(entry)
    failures = []
    for case in rejected:
        entries = by_original.pop(case["text"], [])
        if len(entries) != 1 or f"'{case['field']}'" not in entries[0]["reason"]:
            failures.append(f"{case['name']}: {case['message']} -> {[e['reason'] for e in entries] or 'not rejected'}")
    assert not failures, "not rejected naming the field:\n" + "\n".join(failures)
    assert not by_original, f"unexpected poison entries: {list(by_original)}"

    by_correlation = {r["correlationId"]: r for r in results}
    assert len(results) == len(redirects) == len(by_correlation), "only the redirects were polled, once each"
    for case in redirects:
        result = by_correlation[case["message"]["correlationId"]]
        assert result["outcome"] == "PollingFailed", case["name"]
        assert result["error"]["code"] == case.get("code", "RedirectNotFollowed"), case["name"]
        assert result["error"]["httpStatus"] == case["status"]
        assert result["polls"] == 1
    assert sorted(r["operationId"] for r in status_reads) == sorted(c["operationId"] for c in redirects), (
        "the simulator saw status reads of the redirecting operations only"
    )
    assert all(r["host"] == f"127.0.0.1:{sim.port}" for r in status_reads)
