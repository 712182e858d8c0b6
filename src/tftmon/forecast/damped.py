"""Damped-trend exponential smoothing (ETS(A,Ad,N)), vectorised over servers and metrics.

Each series' smoothing parameters are picked from a small grid by the one-step squared
error over its window (``(alpha, 0, ...)`` with alpha 1 is the last value, so persistence
is one of the choices). The forecast is ``level + (phi + ... + phi^h) * trend``, and the
bands are Gaussian with the model's h-step variance
``sigma^2 * (1 + sum_{j<h} (alpha + beta * (phi + ... + phi^j))^2)``. It serves as a
classical baseline in backtests and as a candidate of the forecast selection
(``forecast.selection``).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.forecast import (
    DEFAULT_QUANTILES,
    ForecasterInfo,
    ForecastOutput,
    clip_to_metric_range,
)
from tftmon.forecast.baseline import ClassicalForecaster
from tftmon.forecast.features import fill_gaps
from tftmon.windows import WindowSnapshot

# (alpha, beta, phi): beta in the state-space form (trend gain per step, at most alpha)
GRID: Final = tuple(
    (alpha, beta, phi)
    for alpha in (0.1, 0.3, 0.6, 1.0)
    for beta in (0.0, 0.02, 0.1)
    for phi in (0.9, 0.98, 0.995)
    if beta <= alpha and not (beta == 0.0 and phi != 0.9)
)
FIT_STEPS: Final = 144  # the newest 12 h of the window pick the parameters


def damped_trend(
    values: npt.NDArray[np.floating], horizon: int, quantiles: tuple[float, ...]
) -> npt.NDArray[np.float64]:
    """Quantile forecasts ``[S, H, M, Q]`` from gap-filled windows ``[S, T, M]``."""
    y = np.asarray(values, np.float64)
    s, t, m = y.shape
    params = np.asarray(GRID)  # [G, 3]
    alpha, beta, phi = (params[:, k][None, None, :] for k in range(3))
    level = np.repeat(y[:, 0, :, None], len(GRID), axis=2)  # [S, M, G]
    trend = np.zeros_like(level)
    sse = np.zeros_like(level)
    count = 0
    fit_from = max(1, t - FIT_STEPS)
    for k in range(1, t):
        predicted = level + phi * trend
        error = y[:, k, :, None] - predicted
        if k >= fit_from:
            sse += error**2
            count += 1
        level = predicted + alpha * error
        trend = phi * trend + beta * error
    best = np.argmin(sse, axis=2)  # [S, M]
    pick = best[..., None]
    lv = np.take_along_axis(level, pick, axis=2)[..., 0]
    tr = np.take_along_axis(trend, pick, axis=2)[..., 0]
    sigma = np.sqrt(np.take_along_axis(sse, pick, axis=2)[..., 0] / max(count, 1))
    a, b, f = (params[best, k] for k in range(3))  # [S, M]
    steps = np.arange(1, horizon + 1)[:, None, None]  # [H, 1, 1]
    phi_sum = f[None] * (1 - f[None] ** steps) / (1 - f[None])  # phi + ... + phi^h
    point = lv[None] + phi_sum * tr[None]  # [H, S, M]
    gains = a[None] + b[None] * phi_sum  # c_j for j = 1..H
    variance = 1 + np.concatenate([np.zeros((1, s, m)), np.cumsum(gains**2, axis=0)[:-1]])
    z = np.array([NormalDist().inv_cdf(q) for q in quantiles])
    out = point[..., None] + (sigma[None] * np.sqrt(variance))[..., None] * z
    return np.moveaxis(out, 0, 1)  # [S, H, M, Q]


class DampedTrendForecaster(ClassicalForecaster):
    """ETS(A,Ad,N) per series behind the ``Forecaster`` protocol (a classical baseline)."""

    def __init__(
        self,
        horizon_steps: int,
        step_seconds: int,
        *,
        quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    ) -> None:
        self._info = ForecasterInfo(
            model_type="baseline",
            version="damped-trend-1",
            device="cpu",
            quantiles=tuple(quantiles),
            horizon_steps=horizon_steps,
            step_seconds=step_seconds,
            min_history_steps=2,
        )

    def forecast(self, snapshot: WindowSnapshot) -> ForecastOutput:
        """Forecast every server of ``snapshot`` (NaN for metrics a server never sent)."""
        filled, _ = fill_gaps(snapshot.values)
        out = damped_trend(filled, self._info.horizon_steps, self._info.quantiles)
        return ForecastOutput(clip_to_metric_range(out), ["baseline"] * len(snapshot))
