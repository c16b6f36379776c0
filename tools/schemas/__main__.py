"""``python -m tools.schemas``, the documented name of :mod:`tools.dev.schemas` (kept for scripts and the contract)."""

import sys

from tools.dev.schemas import main

if __name__ == "__main__":
    sys.exit(main())
