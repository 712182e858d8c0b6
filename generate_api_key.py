"""Create (``--rotate``: add) the daemon's API key in .env; ``--show`` prints it."""

import sys

from tftmon.cli import keygen_main

if __name__ == "__main__":
    sys.exit(keygen_main())
