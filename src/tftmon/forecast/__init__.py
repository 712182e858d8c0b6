"""Forecasters: the ``Forecaster`` protocol and what every implementation returns.

Owns turning ``WindowSnapshot``s into quantile forecasts: the TFT (``tft.py``, artifacts
and the model registry), the damped trend and seasonal naive, the per-pair selection
between them, and the model inputs (``features.py``, ``scaling.py``). It may import only
the foundation (``errors``, ``schemas``, ``windows``); risk, calibration and serving build
on it, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tftmon.schemas import METRIC_SPECS
from tftmon.windows import WindowSnapshot

DEFAULT_QUANTILES: tuple[float, ...] = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)


def clip_to_metric_range(quantiles: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Quantile forecasts ``[S, H, M, Q]`` (``METRICS`` order) clipped to each metric's
    valid range (0-100 for percentages, at least 0 for rates), as float32."""
    m = quantiles.shape[2]
    lower = np.array([spec.lower for spec in METRIC_SPECS[:m]], np.float64)
    upper = np.array(
        [np.inf if spec.upper is None else spec.upper for spec in METRIC_SPECS[:m]], np.float64
    )
    clipped = np.clip(quantiles, lower[None, None, :, None], upper[None, None, :, None])
    result: npt.NDArray[np.float32] = clipped.astype(np.float32)
    return result


@dataclass(frozen=True, slots=True)
class ForecasterInfo:
    """What a forecaster is; shown in ``/status`` and prediction metadata.

    ``artifact_dir`` is the folder a trained model was loaded from (where ``risk``
    finds its ``calibration.json``); ``input_reference`` the training inputs'
    distribution the drift monitor compares live inputs with. Both None for a classical
    forecaster.
    """

    model_type: str
    version: str
    device: str
    quantiles: tuple[float, ...]
    horizon_steps: int
    step_seconds: int
    min_history_steps: int
    note: str | None = None
    validation: dict[str, Any] | None = field(default=None, compare=False)
    training_data: dict[str, Any] | None = field(default=None, compare=False)
    artifact_dir: Path | None = field(default=None, compare=False)
    input_reference: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ForecastOutput:
    """Quantile forecasts of a snapshot's servers.

    Attributes:
        quantiles: float32[S, H, M, Q]; step k (1-based) starts at ``end_bucket + k``;
            NaN for a metric the server never reported.
        model_type: per server, which model produced its forecast ("TFT" or "baseline").
        selected: int64[S, M], for a TFT with forecast selection: which candidate of
            ``forecast.selection.CANDIDATES`` serves each metric (None otherwise).
    """

    quantiles: npt.NDArray[np.float32]
    model_type: list[str] = field(default_factory=list)
    selected: npt.NDArray[np.int64] | None = None


class Forecaster(Protocol):
    """Anything that turns window snapshots into quantile forecasts."""

    @property
    def info(self) -> ForecasterInfo:
        """Identity and shape of the forecasts."""
        ...

    def forecast(self, snapshot: WindowSnapshot) -> ForecastOutput:
        """Forecast every server of ``snapshot`` in one batch."""
        ...
