"""Hypothesis profiles for the property tests of the ``shared`` package.

``HYPOTHESIS_PROFILE`` selects one:

* ``ci`` (the default, ``make test``): 300 examples per property test, no deadline
  (the machines are shared);
* ``soak`` (``make soak``): :data:`SOAK_EXAMPLES` examples per property test.

Property tests here name no ``max_examples`` of their own, so the profile decides.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SOAK_EXAMPLES = 10_000

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("soak", max_examples=SOAK_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
