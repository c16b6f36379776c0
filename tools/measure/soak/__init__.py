"""``python -m tools.soak`` (``make soak``): prove under faults that no request is lost.

N operations (default 2,000) across apim, operationalinsights, devcenter, arm (Azure-AsyncOperation),
arm with Location polling, dataplane (Operation-Location), agentless callbacks, and resources
and deployments watched by ``resourceId`` (every scope; a 404 before creation, deletion), each
scripted on the simulator to end Succeeded, Failed, Canceled, TimedOut or PollingFailed,
plus invalid requests that must be poisoned; about 5 % come from the hostile lane
(``tools/measure/soak/hostile.py``: huge status strings, deep bodies, non-finite numbers, bodies
quoting the token, dripped reads, a Location too long to re-enqueue, ...). Two or more ``tools.run_local`` processes
run the real ``function_app`` against one Azurite queue (persisted on disk); the
simulator, a child process, injects faults on about 20 % of status reads (429 with
Retry-After, 500, 503, answers slower than the status client's timeout, connection
resets, malformed JSON, a 200 without ``status``, a 404 on the first reads). Mid-run
one worker is SIGKILLed and started again, and Azurite is restarted on the same port, gracefully
(SIGTERM: it saves its files; a SIGKILLed Azurite loses up to 5 s of acknowledged writes).
Outcomes go to the results queue and the simulator's Event Grid.

The report (printed, and written to ``soak/{ops}.json``, e.g. ``soak/2000.json``) counts per operation:
``lost`` (no result and no poison entry), ``wrong`` (not what the script says),
``duplicates`` (copies of one eventId: allowed, consumers drop them), ``poisoned``;
``secretsFound`` (an output holding a secret of the run) and ``notStrictJson`` (an output a strict
parser refuses), from :mod:`tools.measure.soak.audit`; plus outcomes, polls per operation, faults
injected and wall time. The exit code is 1 when anything is lost or wrong, a secret is found or an
output is not strict JSON.

Python: ``run_soak(SoakConfig(ops=60, workdir=tmp))`` returns the report.
"""

from .run import SoakConfig, run_soak

__all__ = ["SoakConfig", "run_soak"]
