"""``python -m tools.demo``, the documented name of :mod:`tools.dev.demo` (kept for scripts and the contract)."""

import sys

from tools.dev.demo import main

if __name__ == "__main__":
    sys.exit(main())
