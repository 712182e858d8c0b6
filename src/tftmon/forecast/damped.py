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
    return damped_trend_ends(values, horizon, quantiles, (values.shape[1],))[0]


def damped_trend_ends(
    values: npt.NDArray[np.floating],
    horizon: int,
    quantiles: tuple[float, ...],
    ends: tuple[int, ...],
) -> list[npt.NDArray[np.float64]]:
    """``damped_trend`` of ``values[:, :end]`` for each of ``ends``, in one pass.

    The recursion starts at the window's first step whatever its end, so the windows
    ending earlier are prefixes of the pass: their states are taken on the way, each with
    its own fitting span. The same operations in the same order as one call per end.
    """
    y = np.asarray(values, np.float64)
    params = np.asarray(GRID)  # [G, 3]
    alpha, beta, phi = (params[:, k][None, None, :] for k in range(3))
    level = np.repeat(y[:, 0, :, None], len(GRID), axis=2)  # [S, M, G]
    trend = np.zeros_like(level)
    sse = {end: np.zeros_like(level) for end in ends}
    count = dict.fromkeys(ends, 0)
    fit_from = {end: max(1, end - FIT_STEPS) for end in ends}
    states = {}
    for k in range(1, max(ends)):
        if k in sse:
            states[k] = (level, trend)
        predicted = level + phi * trend
        error = y[:, k, :, None] - predicted
        fitting = [end for end in ends if fit_from[end] <= k < end]
        squared = error**2 if fitting else error
        for end in fitting:
            sse[end] += squared
            count[end] += 1
        level = predicted + alpha * error
        trend = phi * trend + beta * error
    states[max(ends)] = (level, trend)
    return [
        _forecast(*states[end], sse[end], count[end], horizon, quantiles, params) for end in ends
    ]


def _forecast(
    level: npt.NDArray[np.float64],
    trend: npt.NDArray[np.float64],
    sse: npt.NDArray[np.float64],
    count: int,
    horizon: int,
    quantiles: tuple[float, ...],
    params: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The forecast of the grid point with the least squared error per series."""
    s, m = level.shape[:2]
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
        return self.forecast_earlier(snapshot, (0,))[0]

    def forecast_earlier(
        self, snapshot: WindowSnapshot, dropped: tuple[int, ...]
    ) -> list[ForecastOutput]:
        """The forecasts of ``selection.earlier(snapshot, d)`` for each ``d`` of ``dropped``
        (0: the snapshot itself), from one pass over the window (``damped_trend_ends``)."""
        filled, observed = fill_gaps(snapshot.values)
        t = filled.shape[1]
        ends = tuple(t - d for d in dropped)
        outputs = damped_trend_ends(filled, self._info.horizon_steps, self._info.quantiles, ends)
        results = []
        for end, out in zip(ends, outputs, strict=True):
            # a metric first seen after ``end`` was never seen by the earlier window
            unseen = np.asarray(~observed[:, :end].any(axis=1))  # [S, M]
            out[np.broadcast_to(unseen[:, None, :, None], out.shape)] = np.nan
            results.append(ForecastOutput(clip_to_metric_range(out), ["baseline"] * len(snapshot)))
        return results
