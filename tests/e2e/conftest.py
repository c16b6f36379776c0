"""Every end-to-end test starts from a clean environment: the settings a developer's shell holds are removed."""

from __future__ import annotations

import pytest

from tests.support.e2e import clear_inherited_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_inherited_settings(monkeypatch)
