"""Entry points: argument parsing and logging set-up for every console command.

Each top-level script calls one of these functions; they are also ``[project.scripts]``.
"""

from __future__ import annotations

from tftmon.cli.clients import forwarder_main, generator_main
from tftmon.cli.common import setup_logging
from tftmon.cli.daemon import daemon_main, keygen_main
from tftmon.cli.models import retrain_main, rollback_main
from tftmon.cli.training import calibrate_main, evaluate_main, train_main

__all__ = [
    "calibrate_main",
    "daemon_main",
    "evaluate_main",
    "forwarder_main",
    "generator_main",
    "keygen_main",
    "retrain_main",
    "rollback_main",
    "setup_logging",
    "train_main",
]
