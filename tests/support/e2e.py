"""What every end-to-end test needs: a clean environment, a fast host.json, the watcher's settings.

* :data:`INHERITED_SETTINGS`: every setting a developer's shell might hold (the app's
  settings and the identity variables) — each test decides them itself;
* :func:`fast_host_json`: the project's host.json with a 1 s visibility timeout and a
  200 ms polling interval (a retry takes a second), plus any overrides;
* :func:`watcher_settings`: the watcher pointed at the simulator (ARM, Dev Center and a
  real ManagedIdentityCredential against its identity endpoint), with zero delays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]

INHERITED_SETTINGS: tuple[str, ...] = (
    *json.loads((PROJECT_ROOT / "local.settings.example.json").read_text())["Values"],
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
    "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "CRASH_AFTER", "CRASH_ON",
)


def clear_inherited_settings(monkeypatch: Any) -> None:
    """Remove :data:`INHERITED_SETTINGS` from the environment for one test (pytest's monkeypatch)."""
    for name in INHERITED_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def fast_host_json(directory: Path, **queue_options: Any) -> Path:
    """Write the project's host.json, made fast for tests, into ``directory``; returns its path."""
    host = json.loads((PROJECT_ROOT / "host.json").read_text())
    host["extensions"]["queues"].update(visibilityTimeout="00:00:01", maxPollingInterval="00:00:00.200", **queue_options)
    path = Path(directory) / "host.json"
    path.write_text(json.dumps(host))
    return path


def watcher_settings(sim: Any, queues: Mapping[str, str], **extra: str) -> dict[str, str]:
    """Settings of a watcher polling the simulator ``sim`` on the ``queues`` of one test."""
    return {
        **queues,
        "ARM_ENDPOINT": sim.base_url,
        "STATUS_HOST_ALLOWLIST": f"127.0.0.1:{sim.port}",
        "POLL_MIN_DELAY_SECONDS": "0",
        "POLL_MAX_DELAY_SECONDS": "1",
        "IDENTITY_ENDPOINT": sim.identity_endpoint,
        "IDENTITY_HEADER": sim.identity_header,
        **extra,
    }
