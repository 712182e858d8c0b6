"""Entry points of the model lifecycle: ``tftmon-retrain`` and ``tftmon-rollback``.

Both run as their own processes (cron, a systemd timer, an operator), never inside the
daemon; the daemon notices the new ``models/LATEST`` between inference cycles.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tftmon.cli.common import setup_logging
from tftmon.client_config import client_settings
from tftmon.errors import ClientError, ConfigError

EXIT_REFUSED = 3


def _notify(url: str | None) -> None:
    """Ask the daemon to reload now (it also notices LATEST by itself when watching)."""
    from tftmon.client import TftmonClient

    base, key = client_settings(url)
    # one attempt with a long timeout: a load can take a while, and a retry would load again
    with TftmonClient(base, key, timeout=300, retries=0) as client:
        answer = client.reload_model()
    print(f"daemon at {base} now serves {answer['model_version']}")


def retrain_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-retrain``: fine-tune or retrain on the history store, promote if better."""
    from tftmon.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="tftmon-retrain",
        description="Train a candidate on the daemon's history store (fine-tuning the served "
        "model, or afresh with --full), compare it with the served model on the newest "
        "held-out steps, and promote it (new models/<version>/, LATEST) only if it is better. "
        f"Exit status: 0 promoted or nothing to do, {EXIT_REFUSED} candidate refused, "
        "2 bad settings or data, 1 daemon unreachable (--when-drifted, --reload).",
    )
    parser.add_argument("--data-dir", type=Path, help="the daemon's data dir (TFTMON_DATA_DIR)")
    parser.add_argument("--models-dir", type=Path, help="models folder (TFTMON_MODELS_DIR)")
    parser.add_argument("--full", action="store_true", help="train a new network from scratch")
    parser.add_argument(
        "--when-drifted",
        action="store_true",
        help="ask the daemon's GET /drift/status first; do nothing unless it reports drift",
    )
    parser.add_argument("--url", help="the daemon (default http://127.0.0.1:$TFTMON_PORT)")
    parser.add_argument(
        "--reload", action="store_true", help="POST /admin/reload to the daemon after promoting"
    )
    parser.add_argument("--epochs", type=int, help="epochs (default 3 incremental, 20 full)")
    parser.add_argument("--learning-rate", type=float, help="default: served / 10 incremental")
    parser.add_argument("--limit-train-batches", type=int, help="batches per epoch")
    parser.add_argument("--holdout-steps", type=int, help="TFTMON_RETRAIN_HOLDOUT_STEPS")
    parser.add_argument("--min-improvement", type=float, help="TFTMON_RETRAIN_MIN_IMPROVEMENT")
    parser.add_argument("--keep", type=int, help="versions kept (TFTMON_RETRAIN_KEEP_VERSIONS)")
    parser.add_argument("--stride", type=int, default=12, help="steps between held-out origins")
    parser.add_argument("--version", help="name of the new version (default r<UTC time>)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu or auto")
    parser.add_argument("--report", type=Path, help="write the decision and backtest as JSON")
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="promote without fitting the calibration on the held-out window",
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tftmon-retrain: {exc}", file=sys.stderr)
        return 2
    if args.when_drifted:
        from tftmon.client import TftmonClient

        base, key = client_settings(args.url)
        try:
            with TftmonClient(base, key, retries=2) as client:
                drift = client.drift_status()
        except ClientError as exc:
            print(f"tftmon-retrain: cannot read drift status: {exc}", file=sys.stderr)
            return 1
        if not drift.get("drifted"):
            print(f"no drift reported for {drift.get('model_version')}: nothing to do")
            return 0
        print("drift: " + "; ".join(drift.get("reasons") or []))

    from tftmon.risk.thresholds import Thresholds
    from tftmon.training.dataset import fleet_from_history
    from tftmon.training.retrain import RetrainOptions, retrain

    data_dir = args.data_dir or settings.data_dir
    options = RetrainOptions(
        models_dir=args.models_dir or settings.models_dir,
        full=args.full,
        holdout_steps=args.holdout_steps or settings.retrain_holdout_steps,
        min_improvement=(
            args.min_improvement
            if args.min_improvement is not None
            else settings.retrain_min_improvement
        ),
        keep_versions=args.keep or settings.retrain_keep_versions,
        pinned=settings.model_version or None,
        thresholds=None if args.no_calibrate else Thresholds.load(settings.thresholds_file),
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        stride_steps=args.stride,
        version=args.version,
        seed=args.seed,
        accelerator=args.accelerator,
        limit_train_batches=args.limit_train_batches,
        progress=args.progress,
    )
    try:
        fleet = fleet_from_history(data_dir, settings.step_seconds)
        outcome = retrain(fleet, options, source=f"history:{data_dir}")
    except (ConfigError, FileNotFoundError) as exc:
        print(f"tftmon-retrain: {exc}", file=sys.stderr)
        return 2
    print(outcome.summary())
    if outcome.calibration:
        print(outcome.calibration)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "promoted": outcome.promoted,
            "candidate": outcome.candidate,
            "served": outcome.served,
            "mode": outcome.mode,
            "candidate_score": outcome.candidate_score,
            "served_score": outcome.served_score,
            "needed_score": outcome.needed_score,
            "removed": outcome.removed,
            "calibration": outcome.calibration,
            "backtest": outcome.report,
        }
        args.report.write_text(json.dumps(body, indent=2) + "\n")
    if not outcome.promoted:
        return EXIT_REFUSED
    if outcome.removed:
        print("removed old versions: " + ", ".join(outcome.removed))
    if args.reload:
        try:
            _notify(args.url)
        except ClientError as exc:
            print(
                f"tftmon-retrain: promoted, but the daemon did not reload: {exc}", file=sys.stderr
            )
            return 1
    return 0


def rollback_main(argv: Sequence[str] | None = None) -> int:
    """``tftmon-rollback``: point ``models/LATEST`` back at the previous version."""
    from tftmon.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="tftmon-rollback",
        description="Serve the version that was served before the current one was promoted "
        "(models/HISTORY.jsonl), or the one --to names. The daemon picks it up between "
        "inference cycles (or at once with --reload).",
    )
    parser.add_argument("--models-dir", type=Path, help="models folder (TFTMON_MODELS_DIR)")
    parser.add_argument("--to", help="a version to serve instead of the previous one")
    parser.add_argument("--url", help="the daemon (default http://127.0.0.1:$TFTMON_PORT)")
    parser.add_argument("--reload", action="store_true", help="POST /admin/reload afterwards")
    args = parser.parse_args(argv)
    setup_logging()

    from tftmon.forecast.registry import registry_lock, rollback

    try:
        models_dir = args.models_dir or load_settings().models_dir
        with registry_lock(models_dir):
            now, before = rollback(models_dir, args.to)
    except ConfigError as exc:
        print(f"tftmon-rollback: {exc}", file=sys.stderr)
        return 2
    print(f"LATEST: {before} -> {now}")
    if args.reload:
        try:
            _notify(args.url)
        except ClientError as exc:
            print(f"tftmon-rollback: the daemon did not reload: {exc}", file=sys.stderr)
            return 1
    return 0
