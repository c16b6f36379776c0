"""``python -m tools.run_local``: see :func:`tools.dev.run_local.cli.main`."""

from __future__ import annotations

import sys

from tools.dev.run_local.cli import main

if __name__ == "__main__":
    sys.exit(main())
