"""``tftmon-retrain``: fine-tune (or train afresh) on the history store, promote only if better.

1. The newest ``holdout_steps`` of every series are held out; the rest is the training
   data (the daemon's bucket tier, read from a copy-free SQLite read; the daemon may run).
2. The candidate is trained: *incremental* continues from the served model's weights for a
   few epochs at a lower learning rate (architecture and profile codes kept); ``full``
   trains a new network with the served model's window lengths and sizes.
3. Candidate and served model are backtested on the held-out window with the same rolling
   origins (``tftmon.training.evaluate.backtest``). **Score**: the mean over metrics and
   horizon bands (0-1 h, 1-8 h) of the scaled quantile loss (pinball loss over all
   quantiles divided by each series' naive MAE); lower is better.
4. The candidate is promoted only when ``score <= served_score x (1 - min_improvement)``:
   its folder is renamed into ``models/`` in one step, ``LATEST`` replaced atomically, the
   change recorded in ``models/HISTORY.jsonl`` and old versions pruned. A refused candidate
   is deleted. With no served model, the seasonal-naive baseline is the one to beat.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tftmon.errors import ConfigError
from tftmon.fileio import atomic_write_text
from tftmon.forecast import Forecaster
from tftmon.forecast.artifacts import METADATA, latest_version, weights_path
from tftmon.forecast.registry import install, promote, prune, registry_lock
from tftmon.forecast.selection import DEFAULT_STEPS, window_extra
from tftmon.risk.thresholds import Thresholds
from tftmon.timefmt import iso_z
from tftmon.training.calibrate import fit_calibration
from tftmon.training.dataset import BucketedFleet
from tftmon.training.evaluate import BANDS, BacktestConfig, backtest, default_baselines
from tftmon.training.train import TrainConfig, WarmStart, train

if TYPE_CHECKING:
    from tftmon.forecast.tft import TFTForecaster

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainOptions:
    """How to retrain and when to promote."""

    models_dir: Path
    full: bool = False
    holdout_steps: int = 288
    min_improvement: float = 0.02
    keep_versions: int = 5
    epochs: int | None = None  # default: 3 incremental, 20 full
    learning_rate: float | None = None  # default: the served model's / 10 incremental
    stride_steps: int = 12
    version: str | None = None
    seed: int = 42
    accelerator: str = "cpu"
    limit_train_batches: int | None = None
    progress: bool = False
    config: TrainConfig | None = None  # for --full with no served model
    pinned: str | None = None  # TFTMON_MODEL_VERSION of the daemon: never pruned
    thresholds: Thresholds | None = None  # given: calibrate a promoted model on the hold-out


@dataclass
class RetrainOutcome:
    """What a retraining run decided, and why."""

    promoted: bool
    candidate: str
    served: str
    candidate_score: float
    served_score: float
    needed_score: float
    mode: str
    removed: list[str]
    report: dict[str, Any]
    refused_because: str | None = None  # set when refused for another reason than the score
    holdout_from_bucket: int | None = None  # the first bucket of the held-out window
    calibration: str | None = None  # what became of the promoted model's calibration

    def summary(self) -> str:
        verdict = "promoted" if self.promoted else "refused"
        if self.refused_because:
            verdict += f": {self.refused_because}"
        return (
            f"{self.mode} candidate {self.candidate}: score {self.candidate_score:.4f} vs served "
            f"{self.served} {self.served_score:.4f} (needs <= {self.needed_score:.4f}): {verdict}"
        )


def promotion_score(report: dict[str, Any], model: str) -> float:
    """Mean over metrics and horizon bands of ``model``'s scaled quantile loss (lower wins)."""
    values = [
        row["scaled_quantile_loss"]
        for per_model in report["metrics"].values()
        for band, row in per_model.get(model, {}).items()
        if band in BANDS
    ]
    if not values:
        raise ConfigError("the held-out window scored no point: hold out more steps")
    return float(np.mean(values))


def new_version(full: bool) -> str:
    """``r<UTC time>`` (``-full`` for a fresh network): sorts by creation."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"r{stamp}{'-full' if full else ''}"


def _served_config(raw: dict[str, Any]) -> TrainConfig:
    stored = dict(raw.get("train_config") or {})
    names = {f.name for f in fields(TrainConfig)}
    kept = {k: v for k, v in stored.items() if k in names and k != "max_minutes"}
    if "quantiles" in kept:
        kept["quantiles"] = tuple(kept["quantiles"])
    return replace(
        TrainConfig(**kept),
        encoder_steps=int(raw["encoder_steps"]),
        horizon_steps=int(raw["horizon_steps"]),
        min_encoder_steps=int(raw["min_encoder_steps"]),
        quantiles=tuple(raw["quantiles"]),
        target_normalizer=str(raw.get("target_normalizer", "identity")),
        relative_time_idx="relative_time_idx" in raw.get("reals", []),
    )


def retrain(fleet: BucketedFleet, options: RetrainOptions, source: str = "") -> RetrainOutcome:
    """Train a candidate on ``fleet`` minus its newest steps, compare, promote if better."""
    import torch

    from tftmon.forecast.tft import TFTForecaster

    models_dir = options.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    served_version = latest_version(models_dir)
    served: TFTForecaster | None = None
    if served_version is not None:
        # networks are compared alone: the forecast selection would hide a broken one
        served = TFTForecaster.load(models_dir, served_version, device="cpu", selection_steps=0)
    if served is None and not options.full:
        raise ConfigError(f"no served model in {models_dir} to fine-tune: use --full")
    if served is not None:
        config = _served_config(served.meta.raw)
    elif options.config is not None:
        config = options.config
    else:
        config = TrainConfig()
    incremental = not options.full
    epochs = options.epochs or (3 if incremental else 20)
    rate = options.learning_rate or (config.learning_rate / 10 if incremental else None)
    config = replace(
        config,
        max_epochs=epochs,
        learning_rate=rate or config.learning_rate,
        seed=options.seed,
        accelerator=options.accelerator,
        devices=1,
        progress=options.progress,
        step_seconds=fleet.step_seconds,
        limit_train_batches=options.limit_train_batches or config.limit_train_batches,
    )
    first, last = fleet.span
    cutoff = last - options.holdout_steps
    if cutoff - first < config.horizon_steps + 2 * config.min_encoder_steps:
        raise ConfigError(
            f"{last - first + 1} steps of history: too little to hold out "
            f"{options.holdout_steps} and still train"
        )
    train_fleet = fleet.until(cutoff)
    warm = None
    if incremental and served is not None:
        state = torch.load(
            weights_path(models_dir, served.meta.version), map_location="cpu", weights_only=True
        )
        warm = WarmStart(served.meta, state)
    version = options.version or new_version(options.full)
    if (models_dir / version).exists():
        raise ConfigError(f"{models_dir / version} exists already: choose another --version")
    _clear_stale_staging(models_dir)
    staging = models_dir / f".staging-{version}"
    if staging.exists():
        shutil.rmtree(staging)
    mode = "incremental" if incremental else "full"
    try:
        train(
            train_fleet,
            staging,
            version,
            config,
            make_latest=False,
            source=source,
            warm_start=warm,
            lineage={"mode": mode, "parent": served_version},
        )
        candidate = TFTForecaster.load(staging, version, device="cpu", selection_steps=0)
        season = 86_400 // fleet.step_seconds
        baselines = default_baselines(config.horizon_steps, fleet.step_seconds, config.quantiles)
        incumbent: Forecaster = served if served is not None else baselines["seasonal_naive"]
        models: dict[str, Forecaster] = {"candidate": candidate, "served": incumbent, **baselines}
        report = backtest(
            fleet,
            models,
            config.quantiles,
            config.horizon_steps,
            BacktestConfig(
                stride_steps=options.stride_steps,
                min_history_steps=config.min_encoder_steps,
                encoder_steps=max(config.encoder_steps, season) + window_extra(DEFAULT_STEPS),
                eval_from_bucket=cutoff + 1,
            ),
        )
        cand_score = promotion_score(report, "candidate")
        served_score = promotion_score(report, "served")
        needed = served_score * (1 - options.min_improvement)
        promoted = cand_score <= needed
        served_name = served_version or "seasonal-naive baseline"
        outcome = RetrainOutcome(
            promoted, version, served_name, cand_score, served_score, needed, mode, [], report
        )
        outcome.holdout_from_bucket = cutoff + 1
        _annotate(staging / version, outcome, options, cutoff, fleet.step_seconds)
        if promoted and options.thresholds is not None:
            outcome.calibration = _calibrate(
                candidate, fleet, options.thresholds, cutoff + 1, staging / version
            )
        if promoted:
            with registry_lock(models_dir):
                now_served = latest_version(models_dir)
                if now_served != served_version:  # a rollback or another retrain meanwhile
                    outcome.promoted = False
                    outcome.refused_because = (
                        f"LATEST moved from {served_version} to {now_served} during training; "
                        "the comparison no longer holds"
                    )
                else:
                    install(staging / version, models_dir)
                    promote(
                        models_dir,
                        version,
                        mode=mode,
                        score=round(cand_score, 5),
                        served_score=round(served_score, 5),
                    )
                    protect = {options.pinned} if options.pinned else set()
                    outcome.removed = prune(models_dir, options.keep_versions, protect)
        logger.info("%s", outcome.summary())
        return outcome
    finally:
        shutil.rmtree(staging, ignore_errors=True)


STALE_STAGING_S = 24 * 3600


def _clear_stale_staging(models_dir: Path) -> None:
    """Remove ``.staging-*`` folders a killed retrain left behind (a day old: no live run
    trains that long here, and a younger one may belong to a retrain running now)."""
    now = time.time()
    for folder in models_dir.glob(".staging-*"):
        try:
            if now - folder.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(folder)
                logger.info("removed %s, left by an interrupted retrain", folder.name)
        except OSError as exc:
            logger.warning("could not remove %s: %s", folder, exc)


def _calibrate(
    model: TFTForecaster, fleet: BucketedFleet, thresholds: Thresholds, start: int, folder: Path
) -> str:
    """Fit the candidate's calibration on the held-out window, before anyone can load it."""
    try:
        fitted, briers = fit_calibration(
            model, fleet, thresholds, eval_from_bucket=start, fitted_on="retrain hold-out"
        )
    except ValueError as exc:
        logger.warning("promoted model left uncalibrated: %s", exc)
        return f"not calibrated: {exc}"
    fitted.save(folder)
    brier = ", ".join(f"{w} Brier {a} raw -> {b}" for w, (a, b) in briers.items())
    return (
        f"calibrated on the held-out window ({fitted.meta['points']} server-metric cases; {brier})"
    )


def _annotate(
    folder: Path, outcome: RetrainOutcome, options: RetrainOptions, cutoff: int, step: int
) -> None:
    """Record the promotion decision in the candidate's metadata."""
    path = folder / METADATA
    meta = json.loads(path.read_text())
    meta["promotion"] = {
        "score": "mean scaled quantile loss over metrics and horizon bands (lower is better)",
        "candidate_score": round(outcome.candidate_score, 5),
        "served": outcome.served,
        "served_score": round(outcome.served_score, 5),
        "min_improvement": options.min_improvement,
        "holdout_from": iso_z((cutoff + 1) * step),
        "holdout_steps": options.holdout_steps,
        "origins": outcome.report.get("origins"),
        "promoted": outcome.promoted,
    }
    atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=True) + "\n", mode=0o644)
