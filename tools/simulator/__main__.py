"""``python -m tools.simulator``, the documented name of :mod:`tools.dev.sim` (kept for scripts and the contract)."""

import sys

from tools.dev.sim.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
