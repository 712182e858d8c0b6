"""Per-window target scaling around the last observed value (imports pytorch-forecasting).

``LastValueNormalizer`` is an ``EncoderNormalizer`` whose centre is the newest encoder
value instead of the encoder mean, with the encoder's standard deviation (at least
``SCALE_FLOOR``) as the scale. A network trained on it predicts *changes from now*: zero
is persistence, so a trend or a new level carries on unless the past says it reverts,
where the mean-centred scaling pulled every forecast towards the window's average.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pytorch_forecasting.data import EncoderNormalizer

from tftmon.forecast.features import SCALE_FLOOR


class LastValueNormalizer(EncoderNormalizer):  # type: ignore[misc]
    """Centre = last encoder value, scale = max(std, ``SCALE_FLOOR``) + float32 epsilon."""

    def _set_parameters(self, y_center: Any, y_scale: Any) -> None:
        super()._set_parameters(y_center=y_center, y_scale=y_scale)  # standard: std + eps
        params: Any = self  # the parent's attributes are untyped
        if isinstance(y_center, torch.Tensor):
            params.center_ = y_center[..., -1]
            params.scale_ = torch.clamp(params.scale_, min=SCALE_FLOOR)
        else:
            params.center_ = np.asarray(y_center)[..., -1]
            params.scale_ = np.maximum(params.scale_, SCALE_FLOOR)
