"""Run the tftmon inference daemon: ``python tft_inference_daemon.py [--host H] [--port P]``."""

import sys

from tftmon.cli import daemon_main

if __name__ == "__main__":
    sys.exit(daemon_main())
