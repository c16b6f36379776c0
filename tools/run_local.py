"""``python -m tools.run_local``, the documented name of :mod:`tools.dev.run_local` (kept for scripts and the contract)."""

import sys

from tools.dev.run_local.cli import main

if __name__ == "__main__":
    sys.exit(main())
