"""``python -m tools.enqueue``, the documented name of :mod:`tools.ops.enqueue` (kept for scripts and the contract)."""

import sys

from tools.ops.enqueue import main

if __name__ == "__main__":
    sys.exit(main())
