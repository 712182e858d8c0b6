"""Entry points of model training, evaluation and calibration."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tftmon.cli.common import setup_logging
from tftmon.errors import ConfigError


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
    source.add_argument(
        "--mixture",
        type=Path,
        metavar="DATASETS_DIR",
        help="the default model's mix: generated fleet dynamics plus the real NAB and "
        "Azure series under DATASETS_DIR (see tftmon.training.mixture)",
    )
    parser.add_argument(
        "--mixture-servers",
        type=int,
        default=160,
        help="generated servers with leaks, shifts and trends in the mixture",
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
    parser.add_argument(
        "--workers",
        type=int,
        help="data-loader processes (default: 0 on the CPU, up to 8 with a GPU, so the "
        "GPU does not wait for batches)",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        help="Lightning precision: auto (bf16-mixed on a GPU, 32-true otherwise), 32-true, "
        "bf16-mixed, 16-mixed",
    )
    parser.add_argument(
        "--max-minutes", type=float, help="stop training after this long (best epoch kept)"
    )
    parser.add_argument("--no-latest", action="store_true", help="do not update models/LATEST")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    setup_logging()

    from tftmon.training.dataset import bucket_frame, fleet_from_history, load_frame
    from tftmon.training.train import TrainConfig, train

    manifest = None
    try:
        if args.data is not None:
            fleet = bucket_frame(load_frame(args.data), args.step)
            source_name = str(args.data)
        elif args.mixture is not None:
            from tftmon.training.mixture import MixtureConfig, build

            mix = MixtureConfig(regime_servers=args.mixture_servers, seed=args.seed)
            fleet, manifest = build(mix, args.mixture)
            source_name = "mixture"
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
        workers, precision = loader_settings(args.accelerator, args.workers, args.precision)
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
            num_workers=workers,
            precision=precision,
            max_minutes=args.max_minutes,
        )
        result = train(
            fleet,
            args.out.parent,
            args.out.name,
            config,
            make_latest=not args.no_latest,
            source=source_name,
            manifest=manifest,
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


def loader_settings(accelerator: str, workers: int | None, precision: str) -> tuple[int, str]:
    """Data-loader processes and precision for ``accelerator``: with a GPU, up to 8 loader
    processes (one core left) and bf16 mixed precision unless asked otherwise."""
    import torch

    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if workers is None:
        workers = min(8, max((os.cpu_count() or 1) - 1, 0)) if gpu else 0
    if precision == "auto":
        precision = "bf16-mixed" if gpu else "32-true"
    return workers, precision


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
    source.add_argument(
        "--azure",
        type=Path,
        metavar="DATASETS_DIR",
        help="the Azure VMs held out of the default model's training (split by VM)",
    )
    source.add_argument(
        "--scenarios",
        action="store_true",
        help="the scenario battery: ramps, daily cycles, steady, spike and level-shift "
        "servers whose right answer is known (tftmon.training.scenarios)",
    )
    parser.add_argument("--small", action="store_true", help="with --scenarios: the CI subset")
    parser.add_argument(
        "--no-selection",
        action="store_true",
        help="serve the network alone (no forecast selection), as before it existed",
    )
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

    from tftmon.forecast.selection import DEFAULT_STEPS, window_extra
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
        if args.no_selection:
            model.selection_steps = 0
        meta = model.meta
        if args.scenarios:
            return _scenarios(model, args.small, args.report)
        if args.nab is not None:
            from tftmon.training.nab import load_nab

            fleet = bucket_frame(load_nab(args.nab), meta.step_seconds)
        elif args.azure is not None:
            from tftmon.training.mixture import azure_part

            fleet = azure_part(args.azure, "test")
        else:
            fleet = bucket_frame(load_frame(args.data), meta.step_seconds)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"tftmon-evaluate: {exc}", file=sys.stderr)
        return 2
    network_only = TFTForecaster(meta, model.network, device=model.device, selection_steps=0)
    models = {
        "tft": model,
        "tft_network": network_only,
        **default_baselines(meta.horizon_steps, meta.step_seconds, meta.quantiles),
    }
    config = BacktestConfig(
        stride_steps=args.stride,
        eval_from_fraction=args.eval_from_fraction,
        min_history_steps=meta.min_encoder_steps,
        encoder_steps=max(meta.encoder_steps, 86_400 // meta.step_seconds)
        + window_extra(DEFAULT_STEPS),
    )
    report = backtest(fleet, models, meta.quantiles, meta.horizon_steps, config)
    report["model"] = meta.version
    report["data"] = str(args.nab or args.data or f"{args.azure} (Azure test split)")
    print(format_table(report))
    if args.labels is not None or args.nab is not None:
        import pandas as pd

        from tftmon.risk.thresholds import Thresholds
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


def _scenarios(model: Any, small: bool, report_path: Path | None) -> int:
    """``tftmon-evaluate --scenarios``: run the battery, print it, write the report."""
    import json

    from tftmon.risk.thresholds import Thresholds
    from tftmon.training.scenarios import format_battery, run_battery, scenarios, summary

    thresholds = Thresholds.load()
    results = run_battery(model, thresholds, scenarios(thresholds, small=small))
    totals = summary(results)
    print(format_battery(results, totals))
    if report_path is not None:
        report = {"model": model.meta.version, "small": small, "summary": totals}
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps({**report, "scenarios": results}, indent=2) + "\n")
        print(f"report written to {report_path}")
    return 0


def calibrate_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-calibrate``: fit the probability calibration of a model on a replay."""
    parser = argparse.ArgumentParser(
        prog="tftmon-calibrate",
        description="Replay data through a model and the risk engine, fit isotonic maps from "
        "raw to observed critical-crossing frequency, and store them with the model.",
    )
    parser.add_argument("--model", type=Path, required=True, help="models/<version>")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="CSV or parquet (not the data you evaluate on)")
    source.add_argument("--from-history", type=Path, metavar="DATA_DIR", help="a daemon's data dir")
    parser.add_argument("--stride", type=int, default=3, help="steps between origins")
    parser.add_argument("--thresholds", type=Path, help="thresholds TOML (default: shipped)")
    parser.add_argument(
        "--regimes",
        type=int,
        default=0,
        metavar="SERVERS",
        help="also replay this many generated servers with leaks, level shifts, spikes and "
        "incidents (generator.regimes), so foreseeable crossings are well represented",
    )
    parser.add_argument("--regime-days", type=float, default=7.0)
    parser.add_argument(
        "--regime-seed", type=int, default=101, help="not the training mixture's seed"
    )
    args = parser.parse_args(argv)
    setup_logging()

    from tftmon.forecast.tft import TFTForecaster
    from tftmon.risk.thresholds import Thresholds
    from tftmon.training.calibrate import fit_calibration
    from tftmon.training.dataset import bucket_frame, fleet_from_history, load_frame

    try:
        model = TFTForecaster.load(args.model.parent, args.model.name, device="auto")
        step = model.meta.step_seconds
        if args.data is not None:
            fleet = bucket_frame(load_frame(args.data), step)
        else:
            fleet = fleet_from_history(args.from_history, step)
        fitted_on = str(args.data or f"history:{args.from_history}")
        if args.regimes > 0:
            from tftmon.training.mixture import combine, regimes_part

            regimes = regimes_part(args.regimes, args.regime_days, args.regime_seed)
            fleet = combine({"data": fleet, "regimes": regimes})
            fitted_on += (
                f" + {args.regimes} generated regime servers x {args.regime_days:g} days "
                f"(seed {args.regime_seed})"
            )
        thresholds = Thresholds.load(args.thresholds)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"tftmon-calibrate: {exc}", file=sys.stderr)
        return 2
    try:
        fitted, briers = fit_calibration(
            model,
            fleet,
            thresholds,
            stride_steps=args.stride,
            fitted_on=fitted_on,
        )
    except ValueError as exc:
        print(f"tftmon-calibrate: {exc}", file=sys.stderr)
        return 2
    path = fitted.save(args.model)
    print(f"calibration written to {path} ({fitted.meta['points']} server-metric cases)")
    for window, (before, after) in briers.items():
        print(f"  {window}: Brier {before} raw -> {after} calibrated (in-sample)")
    for window, reason in fitted.reasons.items():
        print(f"  {window}: left uncalibrated: {reason}")
    return 0
