"""Live forecast scoring: the forecasts of past cycles against the bucket means that arrived.

Every ``stride`` steps a server's forecast (all quantiles, every horizon step) and the
seasonal-naive point forecast made at the same origin are kept in a small log (float32,
at most ``max_servers`` servers: memory is ``max_servers x ceil(H / stride + 1) x H x M x
(Q + 1) x 4`` bytes). Each cycle, the buckets closed since the previous cycle are scored
against every logged forecast that covered them, per (server, metric):

* absolute error of the median and of the seasonal-naive point, both divided by the
  series' scale (the mean absolute one-step change over its window, as ``tftmon-evaluate``
  scales series with under two days of history), so their means are MASE values;
* the scaled pinball loss averaged over the quantiles (``scaled_quantile_loss``);
* whether the actual fell inside p10-p90 (80 % interval coverage).

Sums decay exponentially with the fleet clock (``half_life_steps``), so every figure is a
rolling one that forgets old behaviour. All of it is numpy over servers and steps; it runs
in the inference thread between cycles, never on the ingest path.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.windows import WindowSnapshot

FloatArray = npt.NDArray[np.float64]
STATS = ("n", "abs", "naive", "pinball", "in80")


@dataclass(slots=True)
class _Logged:
    """Forecasts of some servers made at their own origin buckets."""

    server: npt.NDArray[np.int64]
    origin: npt.NDArray[np.int64]  # the newest closed bucket when the forecast was made
    quantiles: npt.NDArray[np.float32]  # [n, H, M, Q]
    naive: npt.NDArray[np.float32]  # [n, H, M]
    scored_until: npt.NDArray[np.int64]  # newest bucket already scored


@dataclass(frozen=True, slots=True)
class MetricScore:
    """Rolling live scores of one metric over the fleet."""

    points: float  # effective (decayed) number of scored forecast steps
    series: int
    mase: float | None
    naive_mase: float | None
    error_ratio: float | None  # model MASE / seasonal-naive MASE
    coverage_80: float | None
    scaled_quantile_loss: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": round(self.points, 1),
            "series": self.series,
            "mase": _round(self.mase),
            "naive_mase": _round(self.naive_mase),
            "error_ratio": _round(self.error_ratio),
            "coverage_80": _round(self.coverage_80),
            "scaled_quantile_loss": _round(self.scaled_quantile_loss),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class LiveScorer:
    """Keeps recent forecasts and scores them as their actuals close; not thread-safe
    (the inference thread alone calls ``score`` and ``record``)."""

    def __init__(
        self,
        metrics: tuple[str, ...],
        quantiles: tuple[float, ...],
        horizon_steps: int,
        *,
        stride_steps: int = 12,
        max_servers: int = 1000,
        half_life_steps: float = 288.0,
    ) -> None:
        self.metrics = metrics
        self.levels = np.asarray(quantiles, np.float64)
        self.horizon = horizon_steps
        self.stride = max(1, stride_steps)
        self.max_servers = max_servers
        self.half_life = half_life_steps
        self.i10, self.i50, self.i90 = (
            int(np.abs(self.levels - q).argmin()) for q in (0.1, 0.5, 0.9)
        )
        self._log: list[_Logged] = []
        self._last_logged = np.full(0, -(10**12), np.int64)
        self._sums = np.zeros((len(STATS), 0, len(metrics)))
        self._clock: int | None = None

    # ------------------------------------------------------------------ recording

    def record(
        self,
        snapshot: WindowSnapshot,
        quantiles: npt.NDArray[np.float32],
        naive: npt.NDArray[np.float32],
    ) -> int:
        """Log the forecasts of servers that reached a new origin; returns how many.

        Args:
            quantiles: ``[S, H, M, Q]`` forecasts of ``snapshot``'s servers (metric units).
            naive: ``[S, H, M]`` seasonal-naive point forecasts of the same servers.
        """
        rows = self.due(snapshot)
        if rows.size == 0:
            return 0
        server, end = snapshot.server, snapshot.end_bucket
        sids = server[rows]
        self._last_logged[sids] = end[rows]
        h = min(self.horizon, quantiles.shape[1])
        self._log.append(
            _Logged(
                sids.astype(np.int64),
                end[rows].astype(np.int64),
                quantiles[rows, :h].astype(np.float32),
                naive[rows, :h].astype(np.float32),
                end[rows].astype(np.int64),
            )
        )
        return int(rows.size)

    def due(self, snapshot: WindowSnapshot) -> npt.NDArray[np.intp]:
        """Rows of ``snapshot`` whose forecast would be logged now (a new stride period)."""
        server = snapshot.server
        if len(server) == 0:
            return np.zeros(0, np.intp)
        self._grow(int(server.max()) + 1)
        if len(self._last_logged) == 0:
            return np.zeros(0, np.intp)
        last = self._last_logged[np.minimum(server, len(self._last_logged) - 1)]
        due = (
            (server < self.max_servers)
            & (snapshot.history_steps > 0)
            & (snapshot.end_bucket // self.stride > last // self.stride)
        )
        return np.flatnonzero(due)

    def _grow(self, size: int) -> None:
        size = min(size, self.max_servers)
        have = len(self._last_logged)
        if size <= have:
            return
        self._last_logged = np.concatenate(
            [self._last_logged, np.full(size - have, -(10**12), np.int64)]
        )
        extra = np.zeros((len(STATS), size - have, len(self.metrics)))
        self._sums = np.concatenate([self._sums, extra], axis=1)

    # ------------------------------------------------------------------ scoring

    def score(self, snapshot: WindowSnapshot) -> int:
        """Score logged forecasts against buckets closed since the last call; returns the
        number of (server, step) pairs scored."""
        if len(snapshot) == 0:
            return 0
        clock = int(snapshot.end_bucket.max())
        if self._clock is not None and clock > self._clock:
            self._sums *= 0.5 ** ((clock - self._clock) / self.half_life)
        self._clock = clock if self._clock is None else max(clock, self._clock)
        if not self._log:
            return 0
        values = snapshot.values
        length = values.shape[1]
        row_of = np.full(max(len(self._last_logged), 1), -1, np.int64)
        inside = snapshot.server < len(row_of)
        row_of[snapshot.server[inside]] = np.flatnonzero(inside)
        scale: FloatArray | None = None  # [S, M], computed once when something is new
        scored = 0
        keep: list[_Logged] = []
        k = np.arange(1, self.horizon + 1)
        for entry in self._log:
            rows = row_of[entry.server]
            present = rows >= 0
            end_now = np.where(present, snapshot.end_bucket[np.maximum(rows, 0)], -1)
            h = entry.quantiles.shape[1]
            bucket = entry.origin[:, None] + k[None, :h]  # [n, h]
            new = (
                present[:, None]
                & (bucket > entry.scored_until[:, None])
                & (bucket <= end_now[:, None])
                & (bucket > end_now[:, None] - length)
            )
            if new.any():
                if scale is None:
                    scale = _scales(values)
                scored += self._accumulate(entry, rows, end_now, bucket, new, values, scale)
                entry.scored_until = np.where(
                    present, np.maximum(entry.scored_until, end_now), entry.scored_until
                )
            # drop forecasts fully scored, or too old to be scored any more
            alive = (entry.origin + h > entry.scored_until) & (
                entry.origin + h > clock - 2 * length
            )
            if alive.all():
                keep.append(entry)
            elif alive.any():
                keep.append(
                    _Logged(
                        entry.server[alive],
                        entry.origin[alive],
                        entry.quantiles[alive],
                        entry.naive[alive],
                        entry.scored_until[alive],
                    )
                )
        self._log = keep
        return scored

    def _accumulate(
        self,
        entry: _Logged,
        rows: npt.NDArray[np.int64],
        end_now: npt.NDArray[np.int64],
        bucket: npt.NDArray[np.int64],
        new: npt.NDArray[np.bool_],
        values: npt.NDArray[np.float32],
        scale: FloatArray,
    ) -> int:
        """Add the newly closed (forecast, step) pairs to the per-server sums; work is
        proportional to the new pairs, not to what is kept."""
        i, j = np.nonzero(new)  # P pairs: logged row, horizon step
        length = values.shape[1]
        r = rows[i]
        pos = length - 1 - (end_now[i] - bucket[i, j])
        actual = values[r, pos].astype(np.float64)  # [P, M]
        q = entry.quantiles[i, j].astype(np.float64)  # [P, M, Q]
        naive = entry.naive[i, j].astype(np.float64)  # [P, M]
        s = scale[r]  # [P, M]
        ok = ~np.isnan(actual) & np.isfinite(q).all(axis=-1) & ~np.isnan(naive) & np.isfinite(s)
        if not ok.any():
            return 0
        with np.errstate(invalid="ignore"):
            err = actual[..., None] - q
            pinball = np.maximum(self.levels * err, (self.levels - 1) * err).mean(axis=-1)
            stats = (
                ok.astype(np.float64),
                np.abs(actual - q[..., self.i50]) / s,
                np.abs(actual - naive) / s,
                pinball / s,
                ((actual >= q[..., self.i10]) & (actual <= q[..., self.i90])).astype(np.float64),
            )
        server = entry.server[i]
        for k, stat in enumerate(stats):
            np.add.at(self._sums[k], server, np.where(ok, stat, 0.0))
        return int(ok.any(axis=1).sum())

    # ------------------------------------------------------------------ results

    def summary(self) -> dict[str, MetricScore]:
        """Rolling scores per metric over the fleet (series with scored points)."""
        n, absolute, naive, pinball, in80 = self._sums
        out = {}
        for j, metric in enumerate(self.metrics):
            has = n[:, j] > 1e-9
            total = float(n[has, j].sum())
            if not has.any():
                out[metric] = MetricScore(0.0, 0, None, None, None, None, None)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mase = float(np.mean(absolute[has, j] / n[has, j]))
                base = float(np.mean(naive[has, j] / n[has, j]))
                sql = float(np.mean(pinball[has, j] / n[has, j]))
            ratio = mase / base if base > 1e-12 else None
            out[metric] = MetricScore(
                total,
                int(has.sum()),
                _finite(mase),
                _finite(base),
                _finite(ratio),
                float(in80[has, j].sum() / total),
                _finite(sql),
            )
        return out

    def worst_servers(
        self, min_points: float, limit: int = 10
    ) -> list[tuple[int, int, float, float, float, float]]:
        """Up to ``limit`` (server id, metric index, points, MASE, naive MASE, coverage) with
        at least ``min_points`` scored steps, the highest MASE / naive MASE first."""
        n, absolute, naive, _, in80 = self._sums
        with np.errstate(invalid="ignore", divide="ignore"):
            mase = absolute / n
            base = naive / n
            ratio = np.where(base > 1e-12, mase / base, np.nan)
        ok = (n >= max(min_points, 1e-9)) & np.isfinite(ratio)
        sid, col = np.nonzero(ok)
        order = np.argsort(-ratio[sid, col], kind="stable")[:limit]
        return [
            (
                int(sid[k]),
                int(col[k]),
                float(n[sid[k], col[k]]),
                float(mase[sid[k], col[k]]),
                float(base[sid[k], col[k]]),
                float(in80[sid[k], col[k]] / n[sid[k], col[k]]),
            )
            for k in order.tolist()
        ]

    @property
    def logged_forecasts(self) -> int:
        """Server forecasts currently kept for scoring."""
        return sum(len(e.server) for e in self._log)

    @property
    def kept_bytes(self) -> int:
        """Memory of the forecasts kept for scoring."""
        return sum(e.quantiles.nbytes + e.naive.nbytes for e in self._log)

    def reset(self) -> None:
        """Forget every forecast and score (a new model is served)."""
        self._log = []
        self._last_logged[:] = -(10**12)
        self._sums[:] = 0.0


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _scales(values: npt.NDArray[np.float32]) -> FloatArray:
    """Per server and metric: mean absolute one-step change over the window (NaN if none)."""
    diffs = np.abs(np.diff(values.astype(np.float64), axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmean(diffs, axis=1)
    return np.where(np.isfinite(scale) & (scale > 1e-9), scale, np.nan)
