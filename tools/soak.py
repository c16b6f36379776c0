"""``python -m tools.soak``, the documented name of :mod:`tools.measure.soak` (kept for scripts and the contract)."""

import sys

from tools.measure.soak.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
