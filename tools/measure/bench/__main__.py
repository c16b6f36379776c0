"""``python -m tools.bench``: see :mod:`tools.bench`."""

import sys

from tools.measure.bench.run import main

sys.exit(main())
