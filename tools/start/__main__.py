"""``python -m tools.start``, the documented name of :mod:`tools.ops.start`."""

import sys

from tools.ops.start import main

if __name__ == "__main__":
    sys.exit(main())
