"""Entry points: argument parsing and logging set-up for every console command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tftmon.errors import ConfigError

logger = logging.getLogger("tftmon")


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps (entry points only; library code never configures)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def daemon_main(argv: Sequence[str] | None = None) -> int:
    """``tft_inference_daemon.py``: run the inference daemon under uvicorn (one worker)."""
    parser = argparse.ArgumentParser(
        prog="tft_inference_daemon.py",
        description="tftmon inference daemon: POST /feed, GET /predictions/current, /status, ...",
    )
    parser.add_argument("--host", help="bind address (TFTMON_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (TFTMON_PORT, default 8000)")
    parser.add_argument("--data-dir", type=Path, help="history store folder (TFTMON_DATA_DIR)")
    args = parser.parse_args(argv)

    from tftmon.settings import load_settings

    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = load_settings(**overrides)
        settings.require_auth_configured()
    except ConfigError as exc:
        print(f"tft_inference_daemon: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)

    import uvicorn

    # Request threads wait for the GIL while the inference thread computes; a shorter
    # switch interval (default 5 ms) bounds each wait and keeps /feed latency flat.
    sys.setswitchinterval(0.0005)

    from tftmon.api import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


def keygen_main(argv: Sequence[str] | None = None) -> int:
    """``generate_api_key.py``: create, rotate or show the daemon's API key."""
    parser = argparse.ArgumentParser(
        prog="generate_api_key.py",
        description="Write a strong API key to .env (TFTMON_API_KEYS) and "
        ".streamlit/secrets.toml. Prints no key unless --show is given.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rotate", action="store_true", help="add a new key; old keys stay valid")
    group.add_argument("--show", action="store_true", help="print the current key")
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--secrets-file", type=Path, default=Path(".streamlit/secrets.toml"))
    parser.add_argument(
        "--daemon-url",
        default=os.environ.get("TFTMON_DAEMON_URL")
        or f"http://127.0.0.1:{os.environ.get('TFTMON_PORT', '8000')}",
        help="daemon URL written to the Streamlit secrets",
    )
    args = parser.parse_args(argv)

    from tftmon.keys import ensure_key, read_keys

    if args.show:
        keys = read_keys(args.env_file)
        if not keys:
            print(f"no key in {args.env_file}: run generate_api_key.py first", file=sys.stderr)
            return 1
        print(keys[-1])
        return 0
    before = len(read_keys(args.env_file))
    ensure_key(args.env_file, args.secrets_file, args.daemon_url, rotate=args.rotate)
    after = len(read_keys(args.env_file))
    if after > before:
        what = "added a new key" if before else "created a key"
        extra = f"; {before} older key(s) stay valid until removed" if before else ""
        print(
            f"{what} in {args.env_file} (TFTMON_API_KEYS, mode 0600) and {args.secrets_file}"
            f"{extra}. Print it with --show."
        )
    else:
        print(
            f"{args.env_file} already holds a key (use --rotate for a new one, --show to print it)"
        )
    return 0


def _client_settings(url: str | None) -> tuple[str, str | None]:
    """Daemon URL and API key for a client process (flags, environment, then .env)."""
    from tftmon.keys import read_keys

    port = os.environ.get("TFTMON_PORT", "8000")
    base = url or os.environ.get("TFTMON_DAEMON_URL") or f"http://127.0.0.1:{port}"
    key = os.environ.get("TFTMON_API_KEY")
    if not key:
        keys = read_keys(Path(".env")) or [
            k for k in os.environ.get("TFTMON_API_KEYS", "").split(",") if k.strip()
        ]
        key = keys[-1].strip() if keys else None
    return base, key


def generator_main(argv: Sequence[str] | None = None) -> int:
    """``metrics_generator.py``: a simulated fleet, written to a file or streamed to a daemon."""
    parser = argparse.ArgumentParser(
        prog="metrics_generator.py",
        description="Simulated server fleet with injected incidents. Batch: --days D --out FILE "
        "[--labels FILE]. Stream: --stream [--url URL] [--backfill-hours H] [--speed K].",
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
        "--scenario", default="healthy", choices=["healthy", "degrading", "critical"]
    )
    stream.add_argument("--control-port", type=int, help="serve POST /scenario on 127.0.0.1")
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
    from datetime import datetime

    import numpy as np

    from tftmon.generator import FleetSimulator
    from tftmon.generator.output import to_frame, write_frame, write_labels

    assert isinstance(sim, FleetSimulator)
    began = _time.perf_counter()
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).timestamp()
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
    url, key = _client_settings(args.url)
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
    from tftmon.forwarder import Forwarder, Spool, local_collector

    url, key = _client_settings(args.url)
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
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-train``: train a TFT on a data file or a daemon's history store."""
    parser = argparse.ArgumentParser(
        prog="tftmon-train",
        description="Train the multi-target TFT and write models/<version>/ (+ LATEST).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nab", type=Path, metavar="NAB_DIR", help="the NAB data folder")
    source.add_argument("--data", type=Path, help="CSV or parquet in the data contract")
    source.add_argument(
        "--from-history",
        type=Path,
        metavar="DATA_DIR",
        help="a daemon's data dir (reads its bucket tier)",
    )
    parser.add_argument("--out", type=Path, required=True, help="models/<version>")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=20, help="most epochs (early stopping)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--step", type=int, default=300, help="seconds per model step")
    parser.add_argument("--encoder", type=int, default=288, help="encoder steps (history)")
    parser.add_argument("--horizon", type=int, default=96, help="steps forecast")
    parser.add_argument("--min-encoder", type=int, default=6, help="cold-start history")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit-train-batches", type=int, default=200, help="batches per epoch")
    parser.add_argument("--limit-val-batches", type=int, default=60)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    parser.add_argument("--devices", default="1", help="devices for Lightning (N or auto)")
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="train on each series' first share only (hold out the rest)",
    )
    parser.add_argument("--no-latest", action="store_true", help="do not update models/LATEST")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    setup_logging()

    from tftmon.training.dataset import bucket_frame, fleet_from_history, load_frame
    from tftmon.training.train import TrainConfig, train

    try:
        if args.data is not None:
            fleet = bucket_frame(load_frame(args.data), args.step)
            source_name = str(args.data)
        elif args.nab is not None:
            from tftmon.training.nab import load_nab

            fleet = bucket_frame(load_nab(args.nab), args.step)
            source_name = f"NAB:{args.nab}"
        else:
            fleet = fleet_from_history(args.from_history, args.step)
            source_name = f"history:{args.from_history}"
        if args.train_fraction < 1.0:
            fleet = fleet.head(args.train_fraction)
            source_name += f" (first {args.train_fraction:.0%} of each series)"
        config = TrainConfig(
            step_seconds=args.step,
            encoder_steps=args.encoder,
            horizon_steps=args.horizon,
            min_encoder_steps=args.min_encoder,
            hidden_size=args.hidden,
            attention_heads=args.heads,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            patience=args.patience,
            limit_train_batches=args.limit_train_batches,
            limit_val_batches=args.limit_val_batches,
            learning_rate=args.learning_rate,
            seed=args.seed,
            accelerator=args.accelerator,
            devices=int(args.devices) if args.devices.isdigit() else args.devices,
            progress=not args.no_progress,
        )
        result = train(
            fleet,
            args.out.parent,
            args.out.name,
            config,
            make_latest=not args.no_latest,
            source=source_name,
        )
    except (ConfigError, FileNotFoundError) as exc:
        print(f"tftmon-train: {exc}", file=sys.stderr)
        return 2
    print(f"model written to {result.folder} in {result.seconds:.0f} s")
    for metric, score in result.scores.items():
        if isinstance(score, dict):
            print(
                f"  {metric:14s} p50 MAE {score['mae_p50']:.3f} (last value "
                f"{score['mae_last_value']:.3f}), 80% coverage {score['coverage_80']:.2f}"
            )
    return 0


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-evaluate``: rolling-origin backtest of a model against two baselines."""
    parser = argparse.ArgumentParser(
        prog="tftmon-evaluate",
        description="Backtest a model (and SeasonalNaive, last value) on a data file.",
    )
    parser.add_argument("--model", type=Path, required=True, help="models/<version>")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="CSV or parquet in the data contract")
    source.add_argument("--nab", type=Path, metavar="NAB_DIR", help="the NAB data folder")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument(
        "--eval-from-fraction",
        type=float,
        default=0.0,
        help="score only targets after each series' first share",
    )
    parser.add_argument("--stride", type=int, default=12, help="steps between origins")
    parser.add_argument(
        "--labels",
        type=Path,
        help="incident labels CSV (server_name,start,end,kind): adds alert "
        "recall/precision/lead time and probability reliability",
    )
    parser.add_argument(
        "--incident-stride",
        type=int,
        default=3,
        help="steps between origins of the incident replay (default 15 min)",
    )
    args = parser.parse_args(argv)
    setup_logging()

    import json
    from dataclasses import replace

    from tftmon.forecast.tft import TFTForecaster
    from tftmon.training.dataset import bucket_frame, load_frame
    from tftmon.training.evaluate import (
        BacktestConfig,
        backtest,
        default_baselines,
        format_incidents,
        format_table,
    )

    try:
        model = TFTForecaster.load(args.model.parent, args.model.name, device="auto")
        meta = model.meta
        if args.nab is not None:
            from tftmon.training.nab import load_nab

            frame = load_nab(args.nab)
        else:
            frame = load_frame(args.data)
        fleet = bucket_frame(frame, meta.step_seconds)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"tftmon-evaluate: {exc}", file=sys.stderr)
        return 2
    models = {
        "tft": model,
        **default_baselines(meta.horizon_steps, meta.step_seconds, meta.quantiles),
    }
    config = BacktestConfig(
        stride_steps=args.stride,
        eval_from_fraction=args.eval_from_fraction,
        min_history_steps=meta.min_encoder_steps,
        encoder_steps=max(meta.encoder_steps, 86_400 // meta.step_seconds),
    )
    report = backtest(fleet, models, meta.quantiles, meta.horizon_steps, config)
    report["model"] = meta.version
    report["data"] = str(args.nab or args.data)
    print(format_table(report))
    if args.labels is not None or args.nab is not None:
        import pandas as pd

        from tftmon.risk import Thresholds
        from tftmon.training.incidents import evaluate_incidents
        from tftmon.training.nab import load_labels

        labels = pd.read_csv(args.labels) if args.labels is not None else load_labels(args.nab)
        incident_config = replace(config, stride_steps=args.incident_stride, eval_from_fraction=0.0)
        report["incident_evaluation"] = evaluate_incidents(
            fleet, labels, model, Thresholds.load(), incident_config
        )
        print(format_incidents(report["incident_evaluation"]))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.report}")
    return 0


def calibrate_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-calibrate``: fit the probability calibration of a model on a data file."""
    parser = argparse.ArgumentParser(
        prog="tftmon-calibrate",
        description="Replay data through a model and the risk engine, fit isotonic maps from "
        "raw to observed critical-crossing frequency, and store them with the model.",
    )
    parser.add_argument("--model", type=Path, required=True, help="models/<version>")
    parser.add_argument(
        "--data", type=Path, required=True, help="CSV or parquet (not the data you evaluate on)"
    )
    parser.add_argument("--stride", type=int, default=3, help="steps between origins")
    parser.add_argument("--thresholds", type=Path, help="thresholds TOML (default: shipped)")
    args = parser.parse_args(argv)
    setup_logging()

    from tftmon import calibration
    from tftmon.forecast.tft import TFTForecaster
    from tftmon.risk import Thresholds
    from tftmon.training.dataset import bucket_frame, load_frame
    from tftmon.training.evaluate import BacktestConfig
    from tftmon.training.incidents import reliability, run_risk

    try:
        model = TFTForecaster.load(args.model.parent, args.model.name, device="auto")
        fleet = bucket_frame(load_frame(args.data), model.meta.step_seconds)
        thresholds = Thresholds.load(args.thresholds)
    except ConfigError as exc:
        print(f"tftmon-calibrate: {exc}", file=sys.stderr)
        return 2
    meta = model.meta
    config = BacktestConfig(
        stride_steps=args.stride,
        min_history_steps=meta.min_encoder_steps,
        encoder_steps=max(meta.encoder_steps, 86_400 // meta.step_seconds),
    )
    rows = run_risk(fleet, model, thresholds, config, calibrated=False)
    raw = {"critical_within_30m": rows["p30"], "critical_within_8h": rows["p8"]}
    seen = {"critical_within_30m": rows["o30"], "critical_within_8h": rows["o8"]}
    fitted = calibration.fit(raw, seen, {"fitted_on": str(args.data), "stride_steps": args.stride})
    path = fitted.save(args.model)
    print(f"calibration written to {path} ({fitted.meta['points']} server-origins)")
    for window in calibration.WINDOWS:
        before = reliability(raw[window], seen[window])["brier"]
        after = reliability(fitted.apply(window, raw[window]), seen[window])["brier"]
        print(f"  {window}: Brier {before} raw -> {after} calibrated (in-sample)")
    return 0
