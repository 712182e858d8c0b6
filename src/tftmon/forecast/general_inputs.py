"""The general network's inputs: any encoder length, built with numpy on the CPU.

``TFTForecaster.inputs`` for windows the serving network does not take (servers still
warming up, several end buckets) and for the tests that compare the serving network with
pytorch-forecasting's own forward: the tensors pytorch-forecasting's DataLoader builds,
encoders left-aligned and padded to the longest, the same transforms as training
(``features.model_inputs``, ``features.time_features``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from tftmon.forecast.device_inputs import InputLayout
from tftmon.forecast.features import SCALE_FLOOR, model_inputs, time_features
from tftmon.windows import WindowSnapshot


def general_inputs(
    layout: InputLayout,
    snapshot: WindowSnapshot,
    metric_index: list[int],
    codes: npt.NDArray[np.int64],
    horizon: int,
    device: str,
) -> dict[str, Any]:
    """The network's input tensors for a snapshot, as its own DataLoader would build them:
    windows of any encoder length (left-aligned, padded), ``codes`` the profile codes."""
    e_max = min(layout.encoder_steps, snapshot.values.shape[1])
    b = len(snapshot)
    enc_len = np.clip(snapshot.history_steps, 1, e_max).astype(np.int64)
    window = snapshot.values[:, -e_max:, :][:, :, metric_index]
    targets, observed, _ = model_inputs(window, layout.metrics)  # [B, E, Mm]
    width = int(enc_len.max())
    t = np.arange(width)
    src = np.clip(e_max - enc_len[:, None] + t[None, :], 0, e_max - 1)  # left-aligned
    valid = t[None, :] < enc_len[:, None]
    n_reals = layout.n_reals
    enc = np.zeros((b, width, n_reals), np.float32)
    enc[:, :, layout.target_cols] = np.take_along_axis(targets, src[:, :, None], axis=1)
    enc[:, :, layout.mask_cols] = np.take_along_axis(observed, src[:, :, None], axis=1)
    first_bucket = snapshot.end_bucket - enc_len + 1
    enc_times = (first_bucket[:, None] + t[None, :]) * layout.step_seconds
    enc[:, :, layout.known_cols] = time_features(enc_times)
    dec = np.zeros((b, horizon, n_reals), np.float32)
    if layout.relative_time is not None:  # steps from the origin / max encoder length
        enc[:, :, layout.relative_time] = (t[None, :] - enc_len[:, None]) / layout.encoder_steps
        dec[:, :, layout.relative_time] = np.arange(horizon)[None, :] / layout.encoder_steps
    enc[~valid] = 0.0  # padding, as pad_sequence leaves it
    dec_times = (
        snapshot.end_bucket[:, None] + 1 + np.arange(horizon)[None, :]
    ) * layout.step_seconds
    dec[:, :, layout.known_cols] = time_features(dec_times)
    target_scale = standardise(layout, enc, enc_len)
    return {
        "encoder_cont": torch.from_numpy(enc).to(device),
        "decoder_cont": torch.from_numpy(dec).to(device),
        "encoder_cat": torch.from_numpy(np.where(valid, codes[:, None], 0)[:, :, None]).to(device),
        "decoder_cat": torch.from_numpy(np.repeat(codes[:, None, None], horizon, 1)).to(device),
        "encoder_lengths": torch.from_numpy(enc_len).to(device),
        "decoder_lengths": torch.full((b,), horizon, dtype=torch.long, device=device),
        "target_scale": [torch.from_numpy(s).to(device) for s in target_scale],
    }


def standardise(
    layout: InputLayout, enc: npt.NDArray[np.float32], enc_len: npt.NDArray[np.int64]
) -> list[npt.NDArray[np.float32]]:
    """Per-window target scaling, in place; returns ``[center, scale]`` per target.

    ``encoder``: the mean and the (unbiased) standard deviation of each target over its
    encoder part plus float32 epsilon, as ``EncoderNormalizer`` computes them; ``last``:
    the newest encoder value and that standard deviation, at least ``SCALE_FLOOR``
    (``LastValueNormalizer``).
    """
    b = enc.shape[0]
    kind = layout.normalizer
    if kind not in ("encoder", "last"):
        return [np.tile(np.array([[0.0, 1.0]], np.float32), (b, 1)) for _ in layout.metrics]
    eps = torch.finfo(torch.float32).eps
    scales = []
    for col in layout.target_cols:
        y = torch.from_numpy(np.ascontiguousarray(enc[:, :, col]))
        center = torch.empty(b)
        scale = torch.empty(b)
        for length in np.unique(enc_len).tolist():  # torch.mean/std over each length
            rows = torch.from_numpy(np.flatnonzero(enc_len == length))
            part = y[rows, :length]
            center[rows] = part[:, -1] if kind == "last" else part.mean(dim=-1)
            scale[rows] = part.std(dim=-1) + eps
        if kind == "last":
            scale = torch.clamp(scale, min=SCALE_FLOOR)
        valid = torch.arange(y.shape[1])[None, :] < torch.from_numpy(enc_len)[:, None]
        y = torch.where(valid, (y - center[:, None]) / scale[:, None], torch.zeros(()))
        enc[:, :, col] = y.numpy()
        scales.append(torch.stack([center, scale], dim=1).numpy())
    return scales
