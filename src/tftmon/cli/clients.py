"""Entry points of the processes that feed the daemon: generator and forwarder."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tftmon.cli.common import setup_logging
from tftmon.client_config import client_settings

logger = logging.getLogger(__name__)

# the incident kinds (generator.simulator.KINDS) and scenarios (SCENARIOS) in words; written
# out here so --help imports no numpy (tests/test_cli.py checks it names every one)
GENERATOR_EPILOG = """\
incidents: a lead-up, 20-90 min critical, 20 min recovery; each server at --incident-rate
per server-week, one at a time (--labels writes them as ground truth):
  memory_leak      memory climbs to ~100 % over 2-6 h; the service restarts after it
  cpu_runaway      CPU climbs to ~99 % over 30-90 min
  disk_saturation  disk I/O climbs to ~480 MB/s over 1-3 h
  latency_storm    latency climbs to ~1.4 s over 30-60 min (CPU follows a little)

scenarios (--scenario; SIGUSR1 switches to the next one; or the control API):
  healthy    random incidents at --incident-rate
  degrading  memory_leak and disk_saturation incidents across the fleet at 6x the rate
  critical   a quarter of the fleet gets a fast incident (10-20 min lead-up) now

control API (stream mode with --control-port PORT; off by default): plain HTTP on
127.0.0.1:PORT, the same X-API-Key as the daemon.
  GET  /scenario   {"scenario": "healthy", "choices": ["healthy", "degrading", "critical"]}
  POST /scenario   {"scenario": "critical"} switches now; 401 without the key, 422 unknown
  e.g. metrics_generator.py --stream --control-port 8502 &
       curl -s -X POST http://127.0.0.1:8502/scenario -H "X-API-Key: $KEY" \\
         -H 'Content-Type: application/json' -d '{"scenario": "critical"}'
"""


def generator_main(argv: Sequence[str] | None = None) -> int:
    """``metrics_generator.py``: a simulated fleet, written to a file or streamed to a daemon."""
    parser = argparse.ArgumentParser(
        prog="metrics_generator.py",
        description="Simulated server fleet with injected incidents. Batch: --days D --out FILE "
        "[--labels FILE]. Stream: --stream [--url URL] [--backfill-hours H] [--speed K].",
        epilog=GENERATOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--servers", type=int, default=20, help="fleet size (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="makes every mode reproducible")
    parser.add_argument(
        "--incident-rate", type=float, default=2.0, help="incidents per server-week (default 2)"
    )
    parser.add_argument("--labels", type=Path, help="write incident ground truth (CSV) here")
    batch = parser.add_argument_group("batch mode")
    batch.add_argument("--days", type=float, help="days of history to write")
    batch.add_argument("--out", type=Path, help="output .csv or .parquet")
    batch.add_argument(
        "--start", default="2026-01-05T00:00:00Z", help="first timestamp (batch mode)"
    )
    batch.add_argument("--step", type=float, default=300.0, help="seconds between samples")
    stream = parser.add_argument_group("stream mode")
    stream.add_argument("--stream", action="store_true", help="post to a daemon")
    stream.add_argument("--url", help="daemon URL (TFTMON_DAEMON_URL, default 127.0.0.1:8000)")
    stream.add_argument("--tick", type=float, default=5.0, help="simulated seconds per tick")
    stream.add_argument("--backfill-hours", type=float, default=0.0)
    stream.add_argument("--speed", type=float, default=1.0, help="simulated time x wall time")
    stream.add_argument("--lead-hours", type=float, help="extra history before the backfill")
    stream.add_argument(
        "--scenario",
        default="healthy",
        choices=["healthy", "degrading", "critical"],
        help="the scenario to start in (see below; default healthy)",
    )
    stream.add_argument(
        "--control-port",
        type=int,
        help="serve the control API on 127.0.0.1:PORT (see below; default: none)",
    )
    stream.add_argument("--max-ticks", type=int, help="stop after this many live ticks")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")

    from tftmon.generator import FleetSimulator, fleet_servers

    sim = FleetSimulator(fleet_servers(args.servers), args.seed, args.incident_rate)
    sim.set_scenario(args.scenario)
    if args.stream:
        return _stream(args, sim)
    if args.days is None or args.out is None:
        parser.error("batch mode needs --days and --out (or use --stream)")
    return _batch(args, sim)


def _batch(args: argparse.Namespace, sim: object) -> int:
    import time as _time

    import numpy as np

    from tftmon.generator import FleetSimulator
    from tftmon.generator.output import to_frame, write_frame, write_labels
    from tftmon.timefmt import parse_iso

    assert isinstance(sim, FleetSimulator)
    began = _time.perf_counter()
    start = parse_iso(args.start).timestamp()
    n = int(args.days * 86_400 / args.step)
    frames = []
    block = max(1, 2_000_000 // max(1, len(sim.names)))
    for first in range(0, n, block):
        times = start + args.step * np.arange(first, min(n, first + block))
        values, states = sim.sample(times)
        frames.append(to_frame(times, sim.names, sim.profiles, values, states))
    import pandas as pd

    write_frame(pd.concat(frames, ignore_index=True), args.out)
    if args.labels:
        end = start + n * args.step
        write_labels([i for i in sim.incidents if i.onset < end], sim.names, args.labels)
    logger.info(
        "wrote %d rows (%d servers x %.1f days at %g s) to %s in %.1f s; %d incidents",
        n * len(sim.names),
        len(sim.names),
        args.days,
        args.step,
        args.out,
        _time.perf_counter() - began,
        len(sim.incidents),
    )
    return 0


def _stream(args: argparse.Namespace, sim: object) -> int:
    from tftmon.client import TftmonClient
    from tftmon.errors import ClientError
    from tftmon.generator import FleetSimulator
    from tftmon.generator.stream import (
        FleetStreamer,
        StreamConfig,
        install_signal,
        serve_control,
    )

    assert isinstance(sim, FleetSimulator)
    url, key = client_settings(args.url)
    if not key:
        print("no API key: run generate_api_key.py or set TFTMON_API_KEY", file=sys.stderr)
        return 2
    config = StreamConfig(
        tick_s=args.tick,
        backfill_hours=args.backfill_hours,
        speed=args.speed,
        lead_hours=args.lead_hours,
        labels=args.labels,
        max_ticks=args.max_ticks,
    )
    with TftmonClient(url, key, retries=8, max_backoff_s=10) as client:
        streamer = FleetStreamer(sim, client, config)
        install_signal(streamer)
        if args.control_port:
            serve_control(streamer, args.control_port, key)
        try:
            streamer.run()
        except ClientError as exc:
            logger.error("stopping: %s", exc)
            return 1
    return 0


def forwarder_main(collect: object, argv: Sequence[str] | None = None) -> int:
    """``production_metrics_forwarder_TEMPLATE.py``: send ``collect()`` every interval."""
    parser = argparse.ArgumentParser(
        prog="production_metrics_forwarder_TEMPLATE.py",
        description="Send your metrics to the tftmon daemon; spools to disk while it is down.",
    )
    parser.add_argument("--url", help="daemon URL (TFTMON_DAEMON_URL, default 127.0.0.1:8000)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between collections")
    parser.add_argument("--spool-dir", type=Path, default=Path("data/forwarder-spool"))
    parser.add_argument("--local", action="store_true", help="send this machine's real metrics")
    parser.add_argument("--once", action="store_true", help="collect and send once, then exit")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")

    import signal

    from tftmon.client import TftmonClient
    from tftmon.errors import DaemonResponseError
    from tftmon.forwarder import Forwarder, Spool, key_refused, local_collector

    url, key = client_settings(args.url)
    if not key:
        print("no API key: run generate_api_key.py or set TFTMON_API_KEY", file=sys.stderr)
        return 2
    chosen = local_collector(url) if args.local else collect
    if not callable(chosen):
        raise TypeError("collect must be a function returning a list of records")
    with TftmonClient(url, key, timeout=10, retries=2, backoff_s=0.5) as client:
        forwarder = Forwarder(chosen, client, Spool(args.spool_dir), interval_s=args.interval)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: forwarder.stop_event.set())
        try:
            forwarder.run(max_ticks=1 if args.once else None)
        except NotImplementedError as exc:
            print(f"forwarder: {exc}", file=sys.stderr)
            return 2
        except DaemonResponseError as exc:
            if not key_refused(exc):
                raise
            waiting = len(forwarder.spool.pending())
            print(
                f"forwarder: the daemon refused the API key (HTTP {exc.status_code}): check "
                "TFTMON_API_KEY (or TFTMON_API_KEYS in .env) against the daemon's keys; "
                f"{waiting} batches are kept in {args.spool_dir} and are sent first once the "
                "key is accepted",
                file=sys.stderr,
            )
            return 3
    return 0


def dashboard_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-dashboard [streamlit run options]``: serve the dashboard on 127.0.0.1.

    The same as ``streamlit run tft_dashboard_web.py``; options such as
    ``--server.port 8501`` are passed on to Streamlit.
    """
    import importlib.util

    from streamlit.web import cli as streamlit_cli

    spec = importlib.util.find_spec("tftmon.dashboard.app")
    if spec is None or spec.origin is None:
        print("tftmon.dashboard is not installed", file=sys.stderr)
        return 2
    extra = list(sys.argv[1:] if argv is None else argv)
    args = ["run", spec.origin, "--server.address", "127.0.0.1", *extra]
    try:
        streamlit_cli.main(args=args, prog_name="streamlit")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
