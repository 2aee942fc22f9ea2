"""``python -m ai_system.local``: the console script without its installed wrapper."""

import sys

from ai_system.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
