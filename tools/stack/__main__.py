"""``python -m tools.stack``, the documented name of :mod:`tools.dev.stack` (kept for scripts and the contract)."""

import sys

from tools.dev.stack import main

if __name__ == "__main__":
    sys.exit(main())
