"""Hypothesis profiles for the property tests of the ``shared`` package.

``HYPOTHESIS_PROFILE`` selects one:

* ``ci`` (the default, ``make test``): each test's own example count (hypothesis'
  default of 100 where a test names none), no deadline (the machines are shared);
* ``soak`` (``make soak``): at least :data:`SOAK_EXAMPLES` examples for every property
  test here, including those whose ``@settings`` names a smaller count.

A profile only fills in what a test's own ``@settings`` leaves out, so for ``soak`` the
collection hook below raises an explicit ``max_examples`` to the floor (it never lowers one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

SOAK_EXAMPLES = 10_000
_HERE = Path(__file__).resolve().parent

settings.register_profile("ci", deadline=None)
settings.register_profile(
    "soak", max_examples=SOAK_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    floor = settings.default.max_examples
    if settings.get_current_profile_name() != "soak":
        return
    for item in items:
        if _HERE not in Path(str(item.path)).resolve().parents:
            continue
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if not getattr(test, "is_hypothesis_test", False):
            continue
        # The settings a @given test runs with (hypothesis reads this attribute when the test is called).
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is None:
            raise pytest.UsageError(f"{item.nodeid}: cannot read its hypothesis settings to raise max_examples")
        if own.max_examples < floor:
            test._hypothesis_internal_use_settings = settings(own, max_examples=floor)
