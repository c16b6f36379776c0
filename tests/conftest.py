"""Session-wide fixtures.

* ``azurite``: one Azurite queue service for the whole session, on a free loopback port
  (started on first use, so unit tests never need Node).
* ``queues``: fresh, uniquely named queues for one test, as an env-like dict
  (``AzureWebJobsStorage``, ``OPERATIONS_QUEUE``, ``RESULTS_QUEUE``) with helpers; see
  ``tests/support/queues.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.queues import QueueSet, unique_queue_prefix
from tools.dev.azurite import Azurite, AzuriteError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    instance = Azurite()
    try:
        instance.start()
    except AzuriteError as error:
        pytest.fail(f"cannot start Azurite (run `make setup`): {error}", pytrace=False)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def queues(azurite: Azurite, request: pytest.FixtureRequest) -> QueueSet:
    return QueueSet(azurite.connection_string, unique_queue_prefix(request.node.name))
