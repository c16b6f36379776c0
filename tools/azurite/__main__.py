"""``python -m tools.azurite``, the documented name of :mod:`tools.dev.azurite` (kept for scripts and the contract)."""

import sys

from tools.dev.azurite import main

if __name__ == "__main__":
    sys.exit(main())
