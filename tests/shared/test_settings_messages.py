"""Setting errors read as a person writes them, and a setting that is set but names nothing is refused."""

from __future__ import annotations

import pytest

from shared.core.errors import SettingsError
from shared.core.settings import load_settings


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"POLL_DEFAULT_TIMEOUT_SECONDS": "0"}, "setting POLL_DEFAULT_TIMEOUT_SECONDS: must be between 1 and 2592000, got 0"),
        ({"POLL_MAX_DELAY_SECONDS": "1e9"}, "setting POLL_MAX_DELAY_SECONDS: must be between 0 and 604800, got 1e9"),
        ({"POLL_MIN_DELAY_SECONDS": "2.5", "POLL_MAX_DELAY_SECONDS": "1"},
         "setting POLL_MAX_DELAY_SECONDS: must be at least POLL_MIN_DELAY_SECONDS (2.5)"),
    ],
)
def test_numbers_in_setting_errors_are_written_plainly(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env, require_storage=False)
    assert str(raised.value) == says


@pytest.mark.parametrize(
    ("setting", "value"),
    [("STATUS_HOST_ALLOWLIST", ","), ("STATUS_HOST_ALLOWLIST", " , , "), ("CALLBACK_HOST_ALLOWLIST", ","),
     ("DATAPLANE_HOSTS", ";"), ("DATAPLANE_HOSTS", " ; ")],
)
def test_an_allowlist_that_names_no_host_is_refused(setting: str, value: str) -> None:
    # Empty is the default; a value of separators only is a typo that would silently allow nothing.
    with pytest.raises(SettingsError) as raised:
        load_settings({setting: value}, require_storage=False)
    assert raised.value.setting == setting and "names no" in raised.value.reason and "leave it unset" in raised.value.reason
