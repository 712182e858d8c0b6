"""Create (``--rotate``: add; ``--scopes ingest``: add a key for senders only) the daemon's
API key in .env; ``--show`` prints it."""

import sys

from tftmon.cli import keygen_main

if __name__ == "__main__":
    sys.exit(keygen_main())
