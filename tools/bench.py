"""``python -m tools.bench``, the documented name of :mod:`tools.measure.bench` (kept for scripts and the contract)."""

import sys

from tools.measure.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
