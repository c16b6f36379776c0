"""STATUS_READ_TIMEOUT_SECONDS (contract §5) and LOG_LEVEL: defaults, and start-up errors naming the setting."""

from __future__ import annotations

import pytest

from shared.core.errors import SettingsError
from shared.core.settings import load_settings


def test_defaults() -> None:
    settings = load_settings({}, require_storage=False)
    assert settings.status_read_timeout_seconds == 30 and settings.log_level is None


def test_values_are_read() -> None:
    settings = load_settings({"STATUS_READ_TIMEOUT_SECONDS": "2.5", "LOG_LEVEL": "debug"}, require_storage=False)
    assert settings.status_read_timeout_seconds == 2.5 and settings.log_level == "DEBUG"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("STATUS_READ_TIMEOUT_SECONDS", "0", "between 1 and 60"),
    ("STATUS_READ_TIMEOUT_SECONDS", "61", "between 1 and 60"),
    ("STATUS_READ_TIMEOUT_SECONDS", "ten", "a number"),
    ("STATUS_READ_TIMEOUT_SECONDS", "nan", "between 1 and 60"),
    ("LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
])
def test_bad_values_name_the_setting(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value}, require_storage=False)
    assert caught.value.setting == name and says in str(caught.value)
