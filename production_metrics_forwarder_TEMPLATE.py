"""Forward your servers' metrics to tftmon: fill in ``collect_metrics()`` and run this file.

Everything else is done for you: one POST per tick through ``tftmon.client`` (timeout,
retry with exponential backoff and jitter), a bounded on-disk spool while the daemon is
down (replayed in order when it returns; nothing is lost), graceful shutdown on Ctrl-C or
SIGTERM, and a log line per batch with the daemon's answer, e.g.
``Sent 20 records | tick 151 | warm-up 20/20 servers ready``.

    python production_metrics_forwarder_TEMPLATE.py            # your collect_metrics()
    python production_metrics_forwarder_TEMPLATE.py --local    # this machine, via psutil
    python production_metrics_forwarder_TEMPLATE.py --once --verbose

The daemon URL comes from ``--url`` or ``TFTMON_DAEMON_URL`` (default
http://127.0.0.1:8000), the key from ``TFTMON_API_KEY`` or ``.env``. Exit status: 0 stopped,
2 nothing to send with (no key, ``collect_metrics()`` not filled in), 3 the daemon refused
the API key (the records wait in the spool until it accepts one). Examples of collectors
(Prometheus, InfluxDB, a log file) are in Docs/PRODUCTION_INTEGRATION_GUIDE.md.

It needs only the base install (no torch, pandas or web server): ``pip install tftmon``
(Docs/ADAPTERS.md, "Installing an agent").
"""

import sys
from datetime import UTC, datetime
from typing import Any

from tftmon.cli import forwarder_main


def collect_metrics() -> list[dict[str, Any]]:
    """Return this tick's records, one per server, in the tftmon data contract.

    Each record needs ``timestamp`` (ISO 8601, UTC), ``server_name`` and at least one of
    ``cpu_pct`` (0-100), ``mem_pct`` (0-100), ``disk_io_mb_s`` (>= 0), ``latency_ms`` (>= 0);
    ``state`` and ``profile`` are optional. Leave out what you do not measure.
    """
    now = datetime.now(UTC).isoformat()
    raise NotImplementedError(
        "fill in collect_metrics() with your own source, or run with --local to send this "
        f"machine's metrics (a record looks like {{'timestamp': '{now}', "
        "'server_name': 'web-01', 'cpu_pct': 42.0}})"
    )


if __name__ == "__main__":
    sys.exit(forwarder_main(collect_metrics))
