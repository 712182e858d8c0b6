"""``tftmon-evaluate``: rolling-origin backtests of a model against SeasonalNaive and last value.

Bucketed data goes through the daemon's own ``WindowStore`` (buckets are loaded as the
daemon restores them, origin by origin) and every forecaster sees the same snapshots.

Scores, per metric and horizon band (0-1 h, 1-8 h), averaged over series:

* **MASE**: mean |actual - median| divided by the series' in-sample MAE of the daily
  seasonal-naive forecast over the data before the evaluation period (one-step naive when
  that holds under two days);
* **scaled quantile loss**: the mean pinball loss over all quantiles, on the same scale;
* **coverage** of the 80 % (p10-p90) and 96 % (p02-p98) intervals.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.forecast import Forecaster
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.schemas import METRICS
from tftmon.store.columns import BucketColumns
from tftmon.store.window import WindowStore
from tftmon.training.dataset import BucketedFleet
from tftmon.windows import WindowSnapshot

logger = logging.getLogger(__name__)

BANDS: dict[str, tuple[int, int]] = {"0-1h": (1, 12), "1-8h": (13, 96)}


@dataclass(frozen=True)
class BacktestConfig:
    """Where origins are and how many."""

    stride_steps: int = 12  # one origin per hour
    eval_from_fraction: float = 0.0  # per series: forecast targets only after this share
    min_history_steps: int = 6
    encoder_steps: int = 288
    eval_from_bucket: int | None = None  # score only targets from this bucket on (all series)


def _scales(series: npt.NDArray[np.float64], until: int, season: int) -> npt.NDArray[np.float64]:
    """In-sample MAE of the seasonal naive (or one-step naive) forecast, per metric."""
    past = series[:until]
    lag = season if past.shape[0] > 2 * season else 1
    diffs = np.abs(past[lag:] - past[:-lag])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric a series never reported
        scale = np.nanmean(diffs, axis=0) if diffs.size else np.full(series.shape[1], np.nan)
    return np.where(np.isfinite(scale) & (scale > 1e-9), scale, np.nan)


def backtest(
    fleet: BucketedFleet,
    models: dict[str, Forecaster],
    quantiles: tuple[float, ...],
    horizon: int,
    config: BacktestConfig,
) -> dict[str, Any]:
    """Run every forecaster over the same rolling origins; returns the report."""
    step = fleet.step_seconds
    season = 86_400 // step
    metric_idx = [METRICS.index(m) for m in fleet.metrics]
    n_servers = len(fleet.names)
    cut = [
        int(f) + int(np.floor(len(v) * config.eval_from_fraction))
        for f, v in zip(fleet.first, fleet.values, strict=True)
    ]
    if config.eval_from_bucket is not None:
        cut = [max(c, config.eval_from_bucket) for c in cut]
    scales = np.stack(
        [
            _scales(v, (c - int(f)) or len(v), season)  # all data when all is scored
            for v, c, f in zip(fleet.values, cut, fleet.first, strict=True)
        ]
    )  # [S, Mf]
    levels = np.asarray(quantiles)
    i02, i10, i50, i90, i98 = (
        int(np.abs(levels - q).argmin()) for q in (0.02, 0.1, 0.5, 0.9, 0.98)
    )
    sums = {
        name: {
            key: np.zeros((n_servers, len(fleet.metrics), len(BANDS)))
            for key in ("abs", "pinball", "in80", "in96", "n")
        }
        for name in models
    }
    n_origins = 0
    for point in replay(fleet, config, horizon, cut):
        n_origins += 1
        eligible, snap, actual = point.servers, point.snapshot, point.actual
        for name, model in models.items():
            q = model.forecast(snap).quantiles[:, :horizon][:, :, metric_idx, :].astype(np.float64)
            err = actual[..., None] - q
            pinball = np.maximum(levels * err, (levels - 1) * err).mean(axis=-1)
            absolute = np.abs(actual - q[..., i50])
            in80 = (actual >= q[..., i10]) & (actual <= q[..., i90])
            in96 = (actual >= q[..., i02]) & (actual <= q[..., i98])
            valid = ~np.isnan(actual) & ~np.isnan(q[..., i50])
            acc = sums[name]
            for b, (lo, hi) in enumerate(BANDS.values()):
                band = slice(lo - 1, min(hi, horizon))
                v = valid[:, band]
                acc["abs"][eligible, :, b] += np.where(v, absolute[:, band], 0).sum(axis=1)
                acc["pinball"][eligible, :, b] += np.where(v, pinball[:, band], 0).sum(axis=1)
                acc["in80"][eligible, :, b] += (in80[:, band] & v).sum(axis=1)
                acc["in96"][eligible, :, b] += (in96[:, band] & v).sum(axis=1)
                acc["n"][eligible, :, b] += v.sum(axis=1)
    return _report(fleet, sums, scales, n_origins, config)


@dataclass(frozen=True)
class ReplayPoint:
    """One forecast origin: the servers scored there, their windows and what came next."""

    origin: int  # bucket number of the newest closed step
    servers: npt.NDArray[np.intp]
    snapshot: WindowSnapshot
    actual: npt.NDArray[np.float64]  # [S, horizon, metrics of the fleet], NaN where missing


def replay(
    fleet: BucketedFleet, config: BacktestConfig, horizon: int, cut: list[int] | None = None
) -> Iterator[ReplayPoint]:
    """Walk the data origin by origin through the daemon's ``WindowStore``.

    Args:
        cut: per server, the first bucket whose value may be scored (default: the first).
    """
    metric_idx = [METRICS.index(m) for m in fleet.metrics]
    n_servers = len(fleet.names)
    first, last = fleet.span
    cut = cut if cut is not None else [int(f) for f in fleet.first]
    window = WindowStore(len(METRICS), fleet.step_seconds, config.encoder_steps, raw_samples=1)
    window.add_servers(n_servers)
    dense_end = np.asarray(
        [int(f) + len(v) - 1 for f, v in zip(fleet.first, fleet.values, strict=True)]
    )
    loaded = np.full(n_servers, -1, np.int64)
    for origin in range(first + config.min_history_steps - 1, last - 1, config.stride_steps):
        _load_until(window, fleet, metric_idx, loaded, origin)
        eligible = np.flatnonzero(
            (np.asarray(cut) <= origin + 1)
            & (window.history_steps() >= config.min_history_steps)
            & (dense_end > origin)
            & (window.last_closed[:n_servers] == origin)
        )
        if eligible.size == 0:
            continue
        snap = replace(
            window.snapshot(eligible.astype(np.int64)),
            profiles=[fleet.profiles[i] for i in eligible],
        )
        actual = np.full((eligible.size, horizon, len(fleet.metrics)), np.nan)
        for row, s in enumerate(eligible.tolist()):
            start = origin + 1 - int(fleet.first[s])
            chunk = fleet.values[s][start : start + horizon]
            actual[row, : chunk.shape[0]] = chunk
        yield ReplayPoint(origin, eligible, snap, actual)


def _load_until(
    window: WindowStore,
    fleet: BucketedFleet,
    metric_idx: list[int],
    loaded: npt.NDArray[np.int64],
    origin: int,
) -> None:
    """Feed each server's buckets up to ``origin`` into the window (as a restore does)."""
    servers, buckets, means = [], [], []
    for s, (first, values) in enumerate(zip(fleet.first, fleet.values, strict=True)):
        lo = max(int(loaded[s]) + 1, int(first))
        hi = min(origin, int(first) + values.shape[0] - 1)
        if hi < lo:
            continue
        rows = values[lo - int(first) : hi - int(first) + 1]
        keep = ~np.isnan(rows).all(axis=1)
        b = np.arange(lo, hi + 1)[keep]
        full = np.full((b.size, len(METRICS)), np.nan)
        full[:, metric_idx] = rows[keep]
        servers.append(np.full(b.size, s, np.int64))
        buckets.append(b)
        means.append(full)
        loaded[s] = hi
    if servers:
        cols = BucketColumns(
            np.concatenate(servers),
            np.concatenate(buckets),
            np.concatenate(means),
            np.ones(sum(len(x) for x in servers), np.int64),
        )
        window.restore_closed(cols)


def _report(
    fleet: BucketedFleet,
    sums: dict[str, dict[str, npt.NDArray[np.float64]]],
    scales: npt.NDArray[np.float64],
    n_origins: int,
    config: BacktestConfig,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "servers": len(fleet.names),
        "origins": n_origins,
        "stride_steps": config.stride_steps,
        "eval_from_fraction": config.eval_from_fraction,
        "metrics": {},
    }
    for j, metric in enumerate(fleet.metrics):
        per_metric: dict[str, Any] = {}
        for name, acc in sums.items():
            per_band = {}
            for b, band in enumerate(BANDS):
                n = acc["n"][:, j, b]
                ok = (n > 0) & ~np.isnan(scales[:, j])
                if not ok.any():
                    continue
                mase = acc["abs"][ok, j, b] / n[ok] / scales[ok, j]
                sql = acc["pinball"][ok, j, b] / n[ok] / scales[ok, j]
                per_band[band] = {
                    "mase": round(float(mase.mean()), 4),
                    "scaled_quantile_loss": round(float(sql.mean()), 4),
                    "coverage_80": round(float(acc["in80"][ok, j, b].sum() / n[ok].sum()), 4),
                    "coverage_96": round(float(acc["in96"][ok, j, b].sum() / n[ok].sum()), 4),
                    "series": int(ok.sum()),
                    "points": int(n[ok].sum()),
                }
            per_metric[name] = per_band
        out["metrics"][metric] = per_metric
    return out


def default_baselines(
    horizon: int, step_seconds: int, quantiles: tuple[float, ...]
) -> dict[str, Forecaster]:
    """SeasonalNaive (daily) and last value, with the baseline's empirical bands, and the
    damped-trend ETS(A,Ad,N) fitted per series."""
    from tftmon.forecast.damped import DampedTrendForecaster

    return {
        "seasonal_naive": BaselineForecaster(horizon, step_seconds, quantiles=quantiles),
        "last_value": BaselineForecaster(
            horizon, step_seconds, quantiles=quantiles, seasonal=False
        ),
        "damped_trend": DampedTrendForecaster(horizon, step_seconds, quantiles=quantiles),
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"{report['servers']} series, {report['origins']} origins every "
        f"{report['stride_steps']} steps",
        f"{'metric':14s} {'band':5s} {'model':15s} {'MASE':>7s} {'sQL':>7s} {'cov80':>6s} "
        f"{'cov96':>6s} {'series':>6s}",
    ]
    for metric, models in report["metrics"].items():
        for band in BANDS:
            for name, bands in models.items():
                row = bands.get(band)
                if row is None:
                    continue
                lines.append(
                    f"{metric:14s} {band:5s} {name:15s} {row['mase']:7.3f} "
                    f"{row['scaled_quantile_loss']:7.3f} {row['coverage_80']:6.2f} "
                    f"{row['coverage_96']:6.2f} {row['series']:6d}"
                )
    return "\n".join(lines)


def format_incidents(section: dict[str, Any]) -> str:
    """The incident and reliability part of a report as text."""
    inc = section.get("incidents") or {}
    lines = [
        f"incidents {inc.get('incidents')}: recall {inc.get('recall')}, precision "
        f"{inc.get('precision')}, median lead {inc.get('median_lead_minutes')} min, "
        f"false alerts per server-week {inc.get('false_alerts_per_server_week')}",
        f"opened before the warning crossing: {inc.get('opened_before_warning_crossing')}, "
        f"median lead before it {inc.get('median_lead_before_warning_minutes')} min "
        f"(quartiles {inc.get('lead_before_warning_quartiles')})",
    ]
    steady = section.get("steady_critical_8h") or {}
    lines.append(
        f"steady metrics' P(critical, 8 h): mean {steady.get('mean')}, "
        f"p95 {steady.get('p95')} over {steady.get('cases')} cases"
    )
    for group in ("reliability", "server_reliability"):
        for name, rel in (section.get(group) or {}).items():
            lines.append(
                f"{group} {name}: Brier {rel['brier']}, skill {rel.get('brier_skill')}, "
                f"base rate {rel['base_rate']}"
            )
            for row in rel["table"]:
                lines.append(
                    f"  {row['bin']}: n={row['count']:6d} predicted {row['mean_predicted']:.3f} "
                    f"observed {row['observed']:.3f}"
                )
    return "\n".join(lines)
