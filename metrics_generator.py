"""Simulated server fleet: ``--days D --out FILE`` writes data, ``--stream`` posts to a daemon."""

import sys

from tftmon.cli import generator_main

if __name__ == "__main__":
    sys.exit(generator_main())
