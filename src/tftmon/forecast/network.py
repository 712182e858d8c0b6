"""Build a pytorch-forecasting TFT from an artifact, and what serving it needs to know.

``load_network`` checks an artifact against this code and the daemon's settings, builds
the network and loads its weights; ``serving_network`` wraps it for static-shape serving
(``forecast.serving_net``); ``batch_sizes`` are the padded sizes the compiled network is
prepared for (``forecast.compiled``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Final

from tftmon.forecast.artifacts import (
    ArtifactError,
    ArtifactMeta,
    load_weights,
    read_metadata,
)
from tftmon.forecast.features import KNOWN_REALS, observed_name
from tftmon.schemas import METRICS

logger = logging.getLogger(__name__)

TARGET_NORMALIZERS: Final = ("last", "encoder", "identity")
GPU_CHUNK: Final = 2048  # servers per forward on CUDA (not measured: no GPU was at hand)


def target_normalizers(kind: str, count: int) -> list[Any]:
    """pytorch-forecasting normalizers of the targets: ``last``, ``encoder`` or ``identity``."""
    from pytorch_forecasting.data import EncoderNormalizer, TorchNormalizer

    if kind == "last":
        from tftmon.forecast.scaling import LastValueNormalizer

        return [LastValueNormalizer(method="standard") for _ in range(count)]
    if kind == "encoder":
        return [EncoderNormalizer(method="standard") for _ in range(count)]
    if kind == "identity":
        return [TorchNormalizer(method="identity") for _ in range(count)]
    raise ArtifactError(f"unknown target normalizer {kind!r}")


def build_network(meta: ArtifactMeta) -> Any:
    """A TFT with the artifact's architecture (random weights)."""
    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.data import MultiNormalizer
    from pytorch_forecasting.metrics import MultiLoss, QuantileLoss

    hparams = meta.hparams
    hparams["embedding_sizes"] = {k: tuple(v) for k, v in hparams["embedding_sizes"].items()}
    n = len(meta.metrics)
    with warnings.catch_warnings():
        # Lightning's notes about nn.Module hyperparameters concern checkpoints we never write
        warnings.filterwarnings("ignore", message=r"Attribute '(loss|logging_metrics)'")
        return TemporalFusionTransformer(
            **hparams,
            loss=MultiLoss([QuantileLoss(list(meta.quantiles)) for _ in range(n)]),
            output_transformer=MultiNormalizer(target_normalizers(meta.target_normalizer, n)),
        )


def resolve_device(requested: str) -> str:
    """``auto`` → ``cuda`` when a GPU is usable, else ``cpu``."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ArtifactError("TFTMON_DEVICE=cuda but no CUDA device is available")
    return requested


def serving_network(network: Any, meta: ArtifactMeta, device: str) -> Any:
    """The static-shape ``ServingNetwork`` of a loaded TFT, or None (with a log line) for a
    network it does not cover, which then serves through its own forward."""
    from tftmon.forecast.serving_net import ServingNetwork
    from tftmon.forecast.serving_selection import UnsupportedNetworkError

    try:
        import torch

        network.cpu()  # the folded weights are built on the CPU, then moved with the rest
        with torch.no_grad():
            serving = ServingNetwork(
                network,
                reals=list(meta.raw["reals"]),
                dense=list(meta.metrics),
                binary=[observed_name(m) for m in meta.metrics],
            )
    except UnsupportedNetworkError as exc:
        logger.info("model %s served by its own forward: %s", meta.version, exc)
        network.to(device)
        return None
    return serving.eval().to(device)


def batch_sizes(chunk: int) -> list[int]:
    """Padded batch sizes to compile for: 8, then ×4 up to ``chunk`` (a batch pads by less
    than 4×; each size is one compile of each graph per horizon)."""
    sizes = [min(8, chunk)]
    while sizes[-1] * 4 < chunk:
        sizes.append(sizes[-1] * 4)
    return sorted({*sizes, chunk})


def load_network(
    models_dir: Path, version: str, device: str, step_seconds: int | None
) -> tuple[ArtifactMeta, Any, str]:
    """``(meta, network, device)`` of ``models_dir/<version>``, the network in eval mode on
    the resolved device (``TFTForecaster.load`` resolves ``LATEST``).

    Raises:
        ArtifactError: a malformed artifact, or one that does not fit the daemon's settings
            or this code.
    """
    meta = read_metadata(models_dir, version)
    unknown = set(meta.metrics) - set(METRICS)
    if unknown:
        raise ArtifactError(f"model {version} forecasts unknown metrics {sorted(unknown)}")
    needed = [*KNOWN_REALS, *meta.metrics, *map(observed_name, meta.metrics)]
    absent = [name for name in needed if name not in meta.raw["reals"]]
    if absent:
        raise ArtifactError(f"model {version}: reals lack {absent}")
    if step_seconds is not None and meta.step_seconds != step_seconds:
        raise ArtifactError(
            f"model {version} uses {meta.step_seconds}-s steps, the daemon "
            f"{step_seconds}-s steps (TFTMON_STEP_SECONDS)"
        )
    resolved = resolve_device(device)
    try:
        network = build_network(meta)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise ArtifactError(f"model {version}: hparams do not build a TFT ({reason})") from exc
    state = load_weights(models_dir, version, network.state_dict())
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(f"model {version}: weights do not load ({reason})") from exc
    network.eval().to(resolved)
    return meta, network, resolved
