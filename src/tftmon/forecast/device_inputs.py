"""The serving network's inputs built in torch on the serving device, from the window arrays.

``TFTForecaster.inputs`` builds the general network's batch with numpy on the CPU, padded
per encoder length; for the serving network's windows (full encoder, one end bucket) the
same transform is a handful of tensor operations. The window's values are copied to the
device once (from pinned memory on CUDA) and gap filling, scaling to the model range,
observed flags and the per-window target scaling run there. The inputs every server shares
(time features, relative time) are built once per call, ``[T, reals]``.
``tests/forecast/test_device_inputs.py`` checks them against ``TFTForecaster.inputs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from tftmon.forecast.features import SCALE_FLOOR, TRANSFORMS, time_features


@dataclass(frozen=True)
class InputLayout:
    """Where each input goes among the network's continuous inputs, and how it is scaled."""

    n_reals: int
    metrics: tuple[str, ...]
    target_cols: list[int]
    mask_cols: list[int]
    known_cols: list[int]
    relative_time: int | None
    encoder_steps: int
    step_seconds: int
    normalizer: str


def fill_forward(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``features.fill_gaps`` in torch: the last observation carried forward along axis 1,
    leading gaps from the first one (NaN where never observed); and the observed mask."""
    observed = ~torch.isnan(values)
    steps = torch.arange(values.shape[1], device=values.device)[None, :, None]
    idx = torch.where(observed, steps, torch.full_like(steps, -1)).expand_as(values)
    idx = torch.cummax(idx, dim=1).values
    first = observed.to(torch.int8).argmax(dim=1, keepdim=True).expand_as(idx)
    idx = torch.where(idx < 0, first, idx)
    return torch.gather(values, 1, idx), observed


def shared_inputs(
    layout: InputLayout, end_bucket: int, horizon: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[E, reals]`` and ``[horizon, reals]``: the inputs every window ending at
    ``end_bucket`` shares (time features, relative time), zero elsewhere."""
    e = layout.encoder_steps
    enc = np.zeros((e, layout.n_reals), np.float32)
    dec = np.zeros((horizon, layout.n_reals), np.float32)
    step = layout.step_seconds
    enc[:, layout.known_cols] = time_features((end_bucket - e + 1 + np.arange(e)) * step)
    dec[:, layout.known_cols] = time_features((end_bucket + 1 + np.arange(horizon)) * step)
    if layout.relative_time is not None:
        enc[:, layout.relative_time] = (np.arange(e) - e) / e
        dec[:, layout.relative_time] = np.arange(horizon) / e
    return torch.from_numpy(enc).to(device), torch.from_numpy(dec).to(device)


def device_inputs(
    layout: InputLayout,
    window: npt.NDArray[np.float32],
    end_bucket: int,
    codes: npt.NDArray[np.int64],
    horizon: int,
    device: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``ServingNetwork`` arguments for full windows ``[B, E, Mm]`` (the model's metrics,
    NaN gaps) ending at ``end_bucket``: ``(encoder_cont, encoder_shared, decoder_shared,
    codes, target_scale)``."""
    host = torch.from_numpy(np.ascontiguousarray(window, np.float32))
    if device.startswith("cuda"):
        host = host.pin_memory()
    values = host.to(device, non_blocking=True)
    filled, observed = fill_forward(values)
    scaled = torch.empty_like(filled)
    for j, metric in enumerate(layout.metrics):  # features.normalize, in float64 as there
        kind, ref = TRANSFORMS[metric]
        col = filled[..., j].double()
        if kind == "linear":
            scaled[..., j] = (col / ref).float()
        else:
            scaled[..., j] = (torch.log1p(col.clamp(min=0.0)) / np.log1p(ref)).float()
    targets = torch.nan_to_num(scaled, nan=0.0)
    b, e, _ = targets.shape
    center = torch.zeros(b, targets.shape[2], device=device)
    scale = torch.ones_like(center)
    if layout.normalizer in ("encoder", "last"):
        eps = torch.finfo(torch.float32).eps
        series = targets.transpose(1, 2).contiguous()  # [B, Mm, E]: reduced as inputs() does
        center = series[..., -1] if layout.normalizer == "last" else series.mean(dim=-1)
        scale = series.std(dim=-1) + eps
        if layout.normalizer == "last":
            scale = torch.clamp(scale, min=SCALE_FLOOR)
        targets = (targets - center[:, None]) / scale[:, None]
    encoder_cont = torch.zeros(b, e, layout.n_reals, device=device)
    encoder_cont[:, :, layout.target_cols] = targets
    encoder_cont[:, :, layout.mask_cols] = observed.float()
    encoder_shared, decoder_shared = shared_inputs(layout, end_bucket, horizon, device)
    return (
        encoder_cont,
        encoder_shared,
        decoder_shared,
        torch.from_numpy(codes).to(device),
        torch.stack([center, scale], dim=2),
    )
