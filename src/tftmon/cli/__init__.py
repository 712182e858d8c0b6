"""Entry points: argument parsing and logging set-up for every console command.

Each top-level script calls one of these functions; they are also ``[project.scripts]``.
The top layer: it may import every part, and it is the only place that changes the process
(logging, GC, thread counts, switch interval).

Entry points of parts that need an extra (``daemon``, ``dashboard``) are wrapped by
``extras.needs_extra``: without the extra they exit with one line naming the install.
"""

from __future__ import annotations

from tftmon.cli import clients, daemon, models, training
from tftmon.cli.adapters import (
    elasticsearch_adapter_main,
    mongodb_adapter_main,
    prometheus_adapter_main,
)
from tftmon.cli.clients import forwarder_main
from tftmon.cli.common import setup_logging
from tftmon.cli.daemon import keygen_main
from tftmon.cli.extras import TRAINING_MODULES, needs_extra

daemon_main = needs_extra("daemon", "fastapi", "uvicorn", "numpy", "prometheus_client")(
    daemon.daemon_main
)
generator_main = needs_extra("daemon", "numpy")(clients.generator_main)
dashboard_main = needs_extra("dashboard", "streamlit", "plotly")(clients.dashboard_main)
train_main = needs_extra("daemon", *TRAINING_MODULES)(training.train_main)
evaluate_main = needs_extra("daemon", *TRAINING_MODULES)(training.evaluate_main)
calibrate_main = needs_extra("daemon", *TRAINING_MODULES)(training.calibrate_main)
retrain_main = needs_extra("daemon", *TRAINING_MODULES)(models.retrain_main)
rollback_main = needs_extra("daemon", "numpy")(models.rollback_main)

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
    "needs_extra",
    "prometheus_adapter_main",
    "retrain_main",
    "rollback_main",
    "setup_logging",
    "train_main",
]
