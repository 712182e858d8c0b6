"""``tftmon-train``: fit a multi-target TFT and write a ``models/<version>/`` artifact."""

from __future__ import annotations

import copy
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tftmon.errors import ConfigError
from tftmon.forecast import DEFAULT_QUANTILES
from tftmon.forecast.artifacts import ArtifactMeta, json_hparams, save_artifact, set_latest
from tftmon.forecast.features import TRANSFORMS, denormalize
from tftmon.monitoring.drift import reference_distribution
from tftmon.timefmt import iso_z, now_z
from tftmon.training.dataset import BucketedFleet, model_frame, time_series_dataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in the artifact's metadata)."""

    step_seconds: int = 300
    encoder_steps: int = 288
    horizon_steps: int = 96
    min_encoder_steps: int = 6
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    hidden_size: int = 32
    attention_heads: int = 4
    hidden_continuous_size: int = 16
    dropout: float = 0.1
    learning_rate: float = 3e-3
    batch_size: int = 64
    max_epochs: int = 20
    patience: int = 3
    limit_train_batches: int | float = 200
    limit_val_batches: int | float = 60
    val_fraction: float = 0.15
    target_normalizer: str = "last"
    relative_time_idx: bool = True
    seed: int = 42
    accelerator: str = "auto"
    devices: int | str = 1
    progress: bool = True
    num_workers: int = 0  # data-loader processes (a GPU needs several to be kept busy)
    precision: str = "32-true"  # Lightning precision (tftmon-train: bf16-mixed on a GPU)
    max_minutes: float | None = None  # stop training after this long (best epoch kept)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WarmStart:
    """Fine-tune a served model: its metadata and weights (architecture and profile codes
    are kept; the training data must have the same metrics)."""

    meta: ArtifactMeta
    state: dict[str, Any]


@dataclass
class TrainResult:
    """Where the artifact went and how it scored."""

    folder: Path
    scores: dict[str, Any]
    seconds: float


def train(
    fleet: BucketedFleet,
    models_dir: Path,
    version: str,
    config: TrainConfig,
    *,
    make_latest: bool = True,
    source: str = "",
    warm_start: WarmStart | None = None,
    lineage: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on ``fleet`` and save ``models_dir/version``.

    With ``warm_start``, training continues from a served model's weights (incremental);
    ``config`` must then carry that model's window lengths and quantiles.
    """
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback, EarlyStopping
    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.metrics import MultiLoss, QuantileLoss

    started = time.perf_counter()
    # Lightning's advice about nn.Module hyperparameters and its own deprecations are noise
    warnings.filterwarnings("ignore", message=r"Attribute '(loss|logging_metrics)'")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    if (models_dir / version).exists():
        raise ConfigError(f"{models_dir / version} exists already: choose another --out")
    pl.seed_everything(config.seed, workers=True, verbose=False)
    frame = model_frame(fleet)
    first, last = fleet.span
    val_steps = max(
        config.horizon_steps + config.min_encoder_steps, int((last - first) * config.val_fraction)
    )
    cutoff = last - val_steps
    train_part = frame[frame.time_idx <= cutoff]
    if train_part.empty:
        raise ConfigError("not enough history to hold out a validation period")
    kwargs: dict[str, Any] = {
        "encoder_steps": config.encoder_steps,
        "horizon_steps": config.horizon_steps,
        "min_encoder_steps": config.min_encoder_steps,
        "target_normalizer": config.target_normalizer,
        "relative_time_idx": config.relative_time_idx,
    }
    vocabulary = warm_start.meta.profiles if warm_start is not None else None
    training = time_series_dataset(
        train_part, fleet.metrics, profile_vocabulary=vocabulary, **kwargs
    )
    validation = type(training).from_dataset(
        training, frame, min_prediction_idx=cutoff + 1, stop_randomization=True
    )
    n_metrics = len(fleet.metrics)
    if warm_start is not None:
        model = _warm_model(warm_start, training, fleet.metrics, config)
    else:
        model = TemporalFusionTransformer.from_dataset(
            training,
            hidden_size=config.hidden_size,
            attention_head_size=config.attention_heads,
            hidden_continuous_size=config.hidden_continuous_size,
            dropout=config.dropout,
            learning_rate=config.learning_rate,
            output_size=[len(config.quantiles)] * n_metrics,
            loss=MultiLoss([QuantileLoss(list(config.quantiles)) for _ in range(n_metrics)]),
            reduce_on_plateau_patience=2,
        )

    class BestWeights(Callback):
        """Keeps the weights of the epoch with the lowest validation loss."""

        def __init__(self) -> None:
            self.best = float("inf")
            self.state: dict[str, Any] | None = None
            self.epoch = -1

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            loss = trainer.callback_metrics.get("val_loss")
            if loss is None or trainer.sanity_checking:
                return
            if float(loss) < self.best:
                self.best = float(loss)
                self.state = copy.deepcopy(module.state_dict())
                self.epoch = trainer.current_epoch
            logger.info(
                "epoch %d: val_loss %.5f (best %.5f at epoch %d)",
                trainer.current_epoch,
                float(loss),
                self.best,
                self.epoch,
            )

    best = BestWeights()
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        max_time=None if config.max_minutes is None else timedelta(minutes=config.max_minutes),
        accelerator=config.accelerator,
        devices=config.devices,
        gradient_clip_val=0.1,
        precision=config.precision,  # type: ignore[arg-type]
        limit_train_batches=config.limit_train_batches,
        limit_val_batches=config.limit_val_batches,
        callbacks=[EarlyStopping("val_loss", patience=config.patience), best],
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        deterministic="warn",
    )
    logger.info(
        "training on %d servers x %d metrics, %d training windows, accelerator %s",
        len(fleet.names),
        n_metrics,
        len(training),
        config.accelerator,
    )
    workers: dict[str, Any] = {
        "num_workers": config.num_workers,
        "persistent_workers": config.num_workers > 0,
        "pin_memory": trainer.accelerator.__class__.__name__ == "CUDAAccelerator",
    }
    train_loader = training.to_dataloader(train=True, batch_size=config.batch_size, **workers)
    # a fixed random order: the capped validation batches sample every series, the same
    # windows each epoch
    order = np.random.default_rng(config.seed).permutation(len(validation)).tolist()
    val_loader = validation.to_dataloader(
        train=False, batch_size=config.batch_size * 4, sampler=order, **workers
    )
    trainer.fit(model, train_dataloaders=train_loader, val_dataloaders=val_loader)
    if best.state is not None:
        model.load_state_dict(best.state)
    model.eval()
    scores = _scores(model, val_loader, fleet.metrics, config.quantiles, config.limit_val_batches)
    scores.update(
        {"val_loss": best.best, "best_epoch": best.epoch, "epochs_run": trainer.current_epoch}
    )
    step = fleet.step_seconds
    metadata = {
        "metrics": list(fleet.metrics),
        "metrics_left_out": [m for m in TRANSFORMS if m not in fleet.metrics],
        "quantiles": list(config.quantiles),
        "step_seconds": step,
        "encoder_steps": config.encoder_steps,
        "horizon_steps": config.horizon_steps,
        "min_encoder_steps": config.min_encoder_steps,
        "target_normalizer": config.target_normalizer,
        "normalizers": {
            m: {"kind": TRANSFORMS[m][0], "reference": TRANSFORMS[m][1]} for m in fleet.metrics
        },
        "profile_vocabulary": dict(model.hparams["embedding_labels"]["profile"]),
        "reals": list(training.reals),
        "hparams": json_hparams(dict(model.hparams)),
        "training_data": {
            "source": source,
            "servers": len(fleet.names),
            "first_bucket": iso_z(first * step),
            "last_bucket": iso_z(last * step),
            "validation_from": iso_z((cutoff + 1) * step),
            **({"manifest": manifest} if manifest is not None else {}),
        },
        "validation": scores,
        "lineage": lineage or {"mode": "full", "parent": None},
        "input_reference": reference_distribution(fleet.profiles, fleet.values, fleet.metrics),
        "train_config": {
            k: v for k, v in asdict(config).items() if k not in ("progress", "num_workers")
        },
        "created": now_z(timespec="microseconds"),  # fixed width: versions() sorts the text
        "torch_version": torch.__version__,
    }
    folder = save_artifact(models_dir, version, model.state_dict(), metadata)
    if make_latest:
        set_latest(models_dir, version)
    took = time.perf_counter() - started
    logger.info("saved %s in %.0f s: %s", folder, took, scores)
    return TrainResult(folder, scores, took)


def _warm_model(
    warm: WarmStart, training: Any, metrics: tuple[str, ...], config: TrainConfig
) -> Any:
    """The served network with its weights, ready to train further at ``config``'s rate."""
    from tftmon.forecast.network import build_network

    meta = warm.meta
    if tuple(meta.metrics) != tuple(metrics):
        raise ConfigError(
            f"model {meta.version} forecasts {list(meta.metrics)}, the data holds "
            f"{list(metrics)}: fine-tuning needs the same metrics (train afresh with --full)"
        )
    if list(training.reals) != list(meta.raw["reals"]):
        raise ConfigError(f"model {meta.version} was trained on other inputs: use --full")
    model = build_network(meta)
    try:
        model.load_state_dict(warm.state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"model {meta.version}: weights do not load ({exc})") from exc
    model.hparams.learning_rate = config.learning_rate
    return model


def _scores(
    model: Any,
    loader: Any,
    metrics: tuple[str, ...],
    quantiles: tuple[float, ...],
    limit: int | float = 1.0,
) -> dict[str, Any]:
    """Per metric on the validation period: pinball loss (model scale), p50 MAE and 80 %
    interval coverage in metric units, and the MAE of a last-value forecast for scale.

    ``limit`` caps the batches read as Lightning's ``limit_val_batches`` does (a count, or
    a share of the loader): a large validation period would otherwise take longer to score
    than to train on.
    """
    import itertools

    import torch

    q = list(quantiles)
    i10, i50, i90 = q.index(0.1), q.index(0.5), q.index(0.9)
    preds, actuals, lasts = [], [], []
    batches = limit if isinstance(limit, int) else max(1, int(len(loader) * limit))
    with torch.inference_mode():
        for x, (y, _) in itertools.islice(loader, batches):
            prediction = model(x)["prediction"]
            preds.append(torch.stack(list(prediction), dim=2).numpy())  # [B, H, M, Q]
            actuals.append(torch.stack(list(y), dim=2).numpy())  # [B, H, M]
            enc = torch.stack(list(x["encoder_target"]), dim=2)  # [B, E, M] (right-padded)
            idx = (x["encoder_lengths"] - 1).clamp(min=0)
            lasts.append(enc[torch.arange(enc.shape[0]), idx].numpy())  # [B, M]
    pred = np.sort(np.concatenate(preds), axis=-1)
    actual = np.concatenate(actuals)
    last = np.concatenate(lasts)
    err = actual[..., None] - pred
    levels = np.asarray(q)
    pinball = np.maximum(levels * err, (levels - 1) * err).mean(axis=(0, 1, 3))
    pred_units = denormalize(pred, metrics)
    actual_units = denormalize(actual[..., None], metrics)[..., 0]
    last_units = denormalize(np.repeat(last[:, None, :, None], 1, axis=-1), metrics)[:, 0, :, 0]
    out: dict[str, Any] = {"windows": int(pred.shape[0])}
    for j, metric in enumerate(metrics):
        mae = float(np.abs(pred_units[..., j, i50] - actual_units[..., j]).mean())
        naive = float(np.abs(last_units[:, None, j] - actual_units[..., j]).mean())
        inside = (actual_units[..., j] >= pred_units[..., j, i10]) & (
            actual_units[..., j] <= pred_units[..., j, i90]
        )
        out[metric] = {
            "pinball": round(float(pinball[j]), 5),
            "mae_p50": round(mae, 4),
            "mae_last_value": round(naive, 4),
            "coverage_80": round(float(inside.mean()), 4),
        }
    return out
