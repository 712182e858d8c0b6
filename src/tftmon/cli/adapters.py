"""Entry points of the adapter daemons: ``adapters/<source>_adapter.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from tftmon.cli.common import setup_logging
from tftmon.cli.extras import missing_module
from tftmon.client_config import client_settings
from tftmon.errors import ClientError, ConfigError, SourceError
from tftmon.fileio import atomic_write_text

logger = logging.getLogger(__name__)

# the driver each source needs, installed by the extra of the same name
DRIVERS = {"mongodb": "pymongo", "elasticsearch": "elasticsearch"}


def mongodb_adapter_main(argv: Sequence[str] | None = None) -> int:
    """``adapters/mongodb_adapter.py``."""
    return adapter_main("mongodb", argv)


def elasticsearch_adapter_main(argv: Sequence[str] | None = None) -> int:
    """``adapters/elasticsearch_adapter.py``."""
    return adapter_main("elasticsearch", argv)


def prometheus_adapter_main(argv: Sequence[str] | None = None) -> int:
    """``adapters/prometheus_adapter.py``."""
    return adapter_main("prometheus", argv)


def adapter_main(kind: str, argv: Sequence[str] | None = None) -> int:
    """Run one adapter: once, in the foreground, or detached with ``--daemon``."""
    parser = argparse.ArgumentParser(
        prog=f"{kind}_adapter.py",
        description=f"Move metrics from {kind} to the tftmon daemon, each record exactly once.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the adapter's JSON config")
    parser.add_argument("--once", action="store_true", help="poll until caught up, then exit")
    parser.add_argument(
        "--dry-run", action="store_true", help="fetch and map one page; send nothing"
    )
    parser.add_argument("--daemon", action="store_true", help="detach and run in the background")
    parser.add_argument("--interval", type=float, help="seconds between polls (config interval_s)")
    parser.add_argument("--url", help="daemon URL (config daemon_url, TFTMON_DAEMON_URL)")
    parser.add_argument("--log-file", type=Path, help=f"with --daemon (logs/{kind}_adapter.log)")
    parser.add_argument("--pid-file", type=Path, help=f"with --daemon (run/{kind}_adapter.pid)")
    parser.add_argument("--verbose", action="store_true", help="log every page; print samples")
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")
    if kind in DRIVERS and missing_module((DRIVERS[kind],)):
        print(
            f"{kind} adapter: needs the '{kind}' extra ({DRIVERS[kind]} is not installed): "
            f"pip install 'tftmon[{kind}]'",
            file=sys.stderr,
        )
        return 2

    from tftmon.adapters import ADAPTERS
    from tftmon.adapters.base import load_config
    from tftmon.client import TftmonClient

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{kind} adapter: {exc}", file=sys.stderr)
        return 2
    url, key = client_settings(args.url or config.daemon_url)
    if not key and not args.dry_run:
        print("no API key: run generate_api_key.py or set TFTMON_API_KEY", file=sys.stderr)
        return 2
    if args.daemon:
        _detach(
            args.log_file or Path(f"logs/{kind}_adapter.log"),
            args.pid_file or Path(f"run/{kind}_adapter.pid"),
        )
    module, _, name = ADAPTERS[kind].partition(":")
    adapter_class = getattr(importlib.import_module(module), name)
    with TftmonClient(url, key, timeout=30, retries=3, backoff_s=1.0) as client:
        try:
            adapter = adapter_class(config, None if args.dry_run else client)
        except ConfigError as exc:
            print(f"{kind} adapter: {exc}", file=sys.stderr)
            return 2
        try:
            if args.once or args.dry_run:
                return _once(adapter, dry_run=args.dry_run, verbose=args.verbose)
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            logger.info("%s adapter: %s → %s", kind, adapter.source_id(), url)
            adapter.run(stop, args.interval)
        except ConfigError as exc:
            logger.error("%s", exc)
            return 2
        finally:
            adapter.close()
    return 0


def _once(adapter: object, *, dry_run: bool, verbose: bool) -> int:
    from tftmon.adapters.base import BaseAdapter

    assert isinstance(adapter, BaseAdapter)
    try:
        report = adapter.poll(dry_run=dry_run)
    except (SourceError, ClientError) as exc:
        print(f"{adapter.kind} adapter: {exc} (position kept)", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    if verbose or dry_run:
        for record in report.sample:
            print(f"  sample: {record}")
    return 0


def _detach(log_file: Path, pid_file: Path) -> None:
    """Fork into the background (POSIX): new session, output to ``log_file``, PID written."""
    if not hasattr(os, "fork"):
        raise SystemExit("--daemon needs a POSIX system; on Windows run it as a service")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # whoever reads the PID file never sees it half written
    atomic_write_text(pid_file, f"{os.getpid()}\n", mode=0o644)
