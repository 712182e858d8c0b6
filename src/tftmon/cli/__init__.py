"""Entry points: argument parsing and logging set-up for every console command.

Each top-level script calls one of these functions; they are also ``[project.scripts]``.
The top layer: it may import every part, and it is the only place that changes the process
(logging, GC, thread counts, switch interval).
"""

from __future__ import annotations

from tftmon.cli.adapters import (
    elasticsearch_adapter_main,
    mongodb_adapter_main,
    prometheus_adapter_main,
)
from tftmon.cli.clients import dashboard_main, forwarder_main, generator_main
from tftmon.cli.common import setup_logging
from tftmon.cli.daemon import daemon_main, keygen_main
from tftmon.cli.models import retrain_main, rollback_main
from tftmon.cli.training import calibrate_main, evaluate_main, train_main

__all__ = [
    "calibrate_main",
    "daemon_main",
    "dashboard_main",
    "elasticsearch_adapter_main",
    "evaluate_main",
    "forwarder_main",
    "generator_main",
    "keygen_main",
    "mongodb_adapter_main",
    "prometheus_adapter_main",
    "retrain_main",
    "rollback_main",
    "setup_logging",
    "train_main",
]
