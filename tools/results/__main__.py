"""``python -m tools.results``, the documented name of :mod:`tools.ops.results` (kept for scripts and the contract)."""

import sys

from tools.ops.results import main

if __name__ == "__main__":
    sys.exit(main())
