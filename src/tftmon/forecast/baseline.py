"""The baseline forecaster: seasonal naive with empirical quantile bands.

Point forecast: the value at the same time yesterday where 24 h of history exists,
else the last value. Bands: empirical quantiles of the k-step changes seen in the
server's own window at a few anchor horizons (1, 3, 12, 48, 96 steps...), centred on
their median and interpolated in sqrt(k) between anchors; where the window is too
short for an anchor, the band grows with sqrt(k) from the last anchor it could measure.
Forecasts are clipped to each metric's valid range. Labelled ``model_type="baseline"``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.forecast import (
    DEFAULT_QUANTILES,
    ForecasterInfo,
    ForecastOutput,
    clip_to_metric_range,
)
from tftmon.forecast.features import fill_gaps
from tftmon.windows import WindowSnapshot

MIN_PAIRS = 3


def nan_quantiles(x: npt.NDArray[np.float64], qs: npt.NDArray[np.float64]) -> np.ndarray:
    """Quantiles along axis 1 of ``[S, T, M]`` ignoring NaN, as ``[S, M, Q]`` (vectorised).

    Linear interpolation between order statistics, as ``numpy.nanquantile`` does by default,
    without its per-row Python loop. NaN where a row has no value.
    """
    ordered = np.sort(x, axis=1)  # NaN sort last
    count = (~np.isnan(x)).sum(axis=1)  # [S, M]
    pos = (np.maximum(count, 1) - 1)[..., None] * qs  # [S, M, Q]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0)[..., None])
    frac = pos - lo
    moved = np.moveaxis(ordered, 1, -1)  # [S, M, T]
    low = np.take_along_axis(moved, lo, axis=-1)
    high = np.take_along_axis(moved, hi, axis=-1)
    out = low + (high - low) * frac
    return np.where((count > 0)[..., None], out, np.nan)


SEASON_SLACK: Final = 12  # steps of a day that seasonal naive may do without (1 h at 5 min)


class ClassicalForecaster:
    """What the classical forecasters share: a fixed ``ForecasterInfo``."""

    _info: ForecasterInfo

    @property
    def info(self) -> ForecasterInfo:
        """Identity and shape of the forecasts."""
        return self._info


class BaselineForecaster(ClassicalForecaster):
    """Seasonal naive + empirical bands; vectorised over servers and metrics."""

    def __init__(
        self,
        horizon_steps: int,
        step_seconds: int,
        *,
        quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
        min_history_steps: int = 1,
        note: str | None = None,
        seasonal: bool = True,
    ) -> None:
        self.seasonal = seasonal
        self._info = ForecasterInfo(
            model_type="baseline",
            version="seasonal-naive-1" if seasonal else "last-value-1",
            device="cpu",
            quantiles=tuple(quantiles),
            horizon_steps=horizon_steps,
            step_seconds=step_seconds,
            min_history_steps=min_history_steps,
            note=note,
        )
        self.season_steps = max(1, 86_400 // step_seconds)

    def forecast(self, snapshot: WindowSnapshot) -> ForecastOutput:
        """Forecast every server of ``snapshot``."""
        filled, _ = fill_gaps(snapshot.values)
        s = filled.shape[0]
        point = self._point(filled, snapshot.history_steps)
        offsets = self._offsets(filled, snapshot.history_steps)  # [S, H, M, Q]
        out = point[..., None] + offsets
        return ForecastOutput(clip_to_metric_range(out), ["baseline"] * s)

    def median(self, snapshot: WindowSnapshot) -> npt.NDArray[np.float32]:
        """The forecast's median ``[S, H, M]`` alone, without measuring the bands: they are
        centred on the point forecast (``_offsets`` subtracts each anchor's median), so the
        median is the point forecast, clipped as ``forecast`` clips it."""
        if 0.5 not in self._info.quantiles:
            i50 = int(np.abs(np.asarray(self._info.quantiles) - 0.5).argmin())
            return self.forecast(snapshot).quantiles[..., i50]
        return clip_to_metric_range(self.point(snapshot)[..., None])[..., 0]

    def point(self, snapshot: WindowSnapshot) -> npt.NDArray[np.float32]:
        """The seasonal-naive (or last-value) point forecast alone, ``[S, H, M]``."""
        filled, _ = fill_gaps(snapshot.values)
        return self._point(filled, snapshot.history_steps)

    def _point(
        self, filled: npt.NDArray[np.float32], history: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        length = filled.shape[1]
        horizon = self._info.horizon_steps
        point = np.repeat(filled[:, -1:, :], horizon, axis=1)
        season = self.season_steps
        if self.seasonal and length >= season:
            k = np.arange(1, horizon + 1)
            pos = length - 1 - season + ((k - 1) % season) + 1
            seasonal = filled[:, pos, :]
            # a day less the newest hour is enough: the steps of yesterday not yet held are
            # the oldest value held (``fill_gaps``), at most an hour off in phase
            point = np.where((history >= season - SEASON_SLACK)[:, None, None], seasonal, point)
        return point

    def _offsets(
        self, filled: npt.NDArray[np.float32], history: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        s, length, m = filled.shape
        horizon = self._info.horizon_steps
        qs = np.asarray(self._info.quantiles)
        anchors = [h for h in (1, 3, 12, 48, 96, 192) if h < length and h <= horizon] or [1]
        if anchors[-1] < horizon and horizon < length:
            anchors.append(horizon)
        # positions older than a server's history are not real data: mask them out
        t = np.arange(length)
        real = t[None, :] >= (length - np.maximum(history, 1))[:, None]  # [S, L]
        table = np.zeros((len(anchors), s, m, len(qs)), np.float64)
        measured = np.zeros((len(anchors), s), bool)
        for a, h in enumerate(anchors):
            if h >= length:
                continue
            diffs = (filled[:, h:, :] - filled[:, :-h, :]).astype(np.float64)
            pair_ok = real[:, :-h]
            diffs = np.where(pair_ok[:, :, None], diffs, np.nan)
            enough = pair_ok.sum(axis=1) >= MIN_PAIRS
            if not enough.any():
                continue
            q = nan_quantiles(diffs[enough], qs)  # [S', M, Q]
            table[a, enough] = q - q[..., qs.searchsorted(0.5) : qs.searchsorted(0.5) + 1]
            measured[a, enough] = True
        # anchors a server could not measure grow with sqrt(h) from the last one it could
        for a in range(1, len(anchors)):
            grow = ~measured[a] & measured[a - 1]
            table[a, grow] = table[a - 1, grow] * np.sqrt(anchors[a] / anchors[a - 1])
            measured[a] |= grow
        table = np.nan_to_num(table)
        k = np.arange(1, horizon + 1)
        root = np.sqrt(np.asarray(anchors, np.float64))
        pos = np.interp(np.sqrt(k), root, np.arange(len(anchors)))
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(anchors) - 1)
        frac = (pos - lo)[:, None, None, None]
        extra = np.where(k > anchors[-1], np.sqrt(k / anchors[-1]), 1.0)[:, None, None, None]
        per_step = (table[lo] * (1 - frac) + table[hi] * frac) * extra  # [H, S, M, Q]
        result: npt.NDArray[np.float32] = np.moveaxis(per_step, 0, 1).astype(np.float32)
        return result
