"""``python -m tools.poison``, the documented name of :mod:`tools.ops.poison` (kept for scripts and the contract)."""

import sys

from tools.ops.poison import main

if __name__ == "__main__":
    sys.exit(main())
