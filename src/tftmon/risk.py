"""Pure risk functions: quantile forecasts → crossing probabilities → risk score and level.

How the numbers are made (documented in ``Docs/HOW_PREDICTIONS_WORK.md`` once it exists):

* **Per step**: ``P(X > threshold)`` from the forecast quantiles by interpolating their CDF
  linearly; beyond the outer quantiles the CDF reaches 0 (or 1) over one more
  inter-quantile width.
* **Within a window** (30 min, 8 h): the largest per-step probability in the window (a lower
  bound on the chance of any crossing, exact when errors are fully dependent over time).
* **Per server**: the largest probability over its metrics.
* **Risk score** (0-100, monotone in every input): ``100 × max`` over metrics of
  ``current ≥ critical → 1``, ``current ≥ warning → 0.7``, ``P(critical, 30 min)``,
  ``0.85·P(critical, 8 h)``, ``0.6·P(warning, 30 min)``, ``0.5·P(warning, 8 h)``.
* **Level** (one scale everywhere, healthy < watch < warning < critical) per metric:
  critical if current ≥ critical or ``P(critical, 30 min) ≥ 0.5``; warning if current ≥
  warning, ``P(critical, 8 h) ≥ 0.5`` or ``P(warning, 30 min) ≥ 0.5``; watch if
  ``P(warning, 8 h) ≥ 0.3`` or ``P(critical, 8 h) ≥ 0.2``. A server takes its worst metric.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.calibration import Calibration
from tftmon.errors import ConfigError
from tftmon.schemas import ALERT_LEVELS, METRICS

FloatArray = npt.NDArray[np.float64]

HEALTHY, WATCH, WARNING, CRITICAL = 0, 1, 2, 3

DEFAULT_THRESHOLDS: Final[dict[str, tuple[float, float]]] = {
    "cpu_pct": (85.0, 95.0),
    "mem_pct": (90.0, 98.0),
    "disk_io_mb_s": (250.0, 400.0),
    "latency_ms": (250.0, 1000.0),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Warning and critical thresholds per metric, with per-profile overrides."""

    default: Mapping[str, tuple[float, float]]
    by_profile: Mapping[str, Mapping[str, tuple[float, float]]]

    @classmethod
    def defaults(cls) -> Thresholds:
        """Built-in defaults, no profile overrides."""
        return cls(dict(DEFAULT_THRESHOLDS), {})

    @classmethod
    def load(cls, path: Path | None = None) -> Thresholds:
        """The shipped ``thresholds.toml``, with ``path`` (if given) merged over it.

        Raises:
            ConfigError: unreadable TOML, an unknown metric, or warning above critical.
        """
        shipped = tomllib.loads(resources.files("tftmon").joinpath("thresholds.toml").read_text())
        layers = [shipped]
        if path is not None:
            try:
                layers.append(tomllib.loads(path.read_text()))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"thresholds file {path}: {exc}") from exc
        default: dict[str, tuple[float, float]] = dict(DEFAULT_THRESHOLDS)
        by_profile: dict[str, dict[str, tuple[float, float]]] = {}
        for layer in layers:
            default.update(_pairs(layer.get("default", {}), "default"))
            for profile, table in layer.get("profile", {}).items():
                by_profile.setdefault(profile, {}).update(_pairs(table, f"profile.{profile}"))
        return cls(default, by_profile)

    def arrays(
        self, profiles: Sequence[str], metrics: Sequence[str] = METRICS
    ) -> tuple[FloatArray, FloatArray]:
        """``(warning, critical)`` thresholds as float64[S, M] for servers of these profiles."""
        base_w = np.array([self.default[m][0] for m in metrics])
        base_c = np.array([self.default[m][1] for m in metrics])
        warn = np.tile(base_w, (len(profiles), 1))
        crit = np.tile(base_c, (len(profiles), 1))
        for i, profile in enumerate(profiles):
            for j, metric in enumerate(metrics):
                override = self.by_profile.get(profile, {}).get(metric)
                if override is not None:
                    warn[i, j], crit[i, j] = override
        return warn, crit


def _pairs(table: Mapping[str, object], where: str) -> dict[str, tuple[float, float]]:
    out = {}
    for metric, value in table.items():
        if metric not in METRICS:
            raise ConfigError(f"thresholds [{where}]: unknown metric {metric!r}")
        if not isinstance(value, Mapping) or {"warning", "critical"} - set(value):
            raise ConfigError(f"thresholds [{where}] {metric}: needs warning and critical")
        warning, critical = float(value["warning"]), float(value["critical"])
        if not warning < critical:
            raise ConfigError(f"thresholds [{where}] {metric}: warning must be below critical")
        out[metric] = (warning, critical)
    return out


def exceedance_probability(
    values: npt.NDArray[np.floating], levels: Sequence[float], threshold: npt.ArrayLike
) -> FloatArray:
    """``P(X > threshold)`` from quantile forecasts.

    Args:
        values: quantile values, ascending along the last axis (``[..., Q]``).
        levels: the quantile levels, ascending (``Q``).
        threshold: broadcastable to ``values.shape[:-1]``.

    Returns:
        Probabilities in [0, 1]; NaN where the values are NaN.
    """
    v = np.sort(np.asarray(values, np.float64), axis=-1)
    tau = np.asarray(levels, np.float64)
    thr = np.broadcast_to(np.asarray(threshold, np.float64), v.shape[:-1])[..., None]
    q = tau.shape[0]
    below = (v <= thr).sum(axis=-1)  # how many quantile values are <= threshold
    lo = np.clip(below - 1, 0, q - 2)
    v_lo = np.take_along_axis(v, lo[..., None], -1)[..., 0]
    v_hi = np.take_along_axis(v, (lo + 1)[..., None], -1)[..., 0]
    t = thr[..., 0]
    width = np.maximum(v_hi - v_lo, 1e-9)
    inner = tau[lo] + (tau[lo + 1] - tau[lo]) * np.clip((t - v_lo) / width, 0.0, 1.0)
    lower_w = np.maximum(v[..., 1] - v[..., 0], 1e-9)
    upper_w = np.maximum(v[..., -1] - v[..., -2], 1e-9)
    left = tau[0] * np.clip(1.0 - (v[..., 0] - t) / lower_w, 0.0, 1.0)
    right = tau[-1] + (1.0 - tau[-1]) * np.clip((t - v[..., -1]) / upper_w, 0.0, 1.0)
    cdf = np.where(below == 0, left, np.where(below == q, right, inner))
    prob = 1.0 - cdf
    return np.where(np.isnan(v).any(axis=-1), np.nan, prob)


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Risk of S servers over M metrics (NaN where a server lacks a metric)."""

    p_warning_30m: FloatArray  # [S, M]
    p_critical_30m: FloatArray
    p_warning_8h: FloatArray
    p_critical_8h: FloatArray
    first_warning_step: npt.NDArray[np.int64]  # [S, M], 1-based step where p90 >= warning; 0
    first_critical_step: npt.NDArray[np.int64]  # same for critical; 0 = none in horizon
    metric_level: npt.NDArray[np.int64]  # [S, M]
    metric_score: FloatArray  # [S, M] in [0, 1]
    incident_probability_30m: FloatArray  # [S]
    incident_probability_8h: FloatArray  # [S]
    risk_score: FloatArray  # [S] 0-100
    level: npt.NDArray[np.int64]  # [S]


def _first_step(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """1-based index of the first True along axis 1, 0 where none ([S, H, M] → [S, M])."""
    any_hit = mask.any(axis=1)
    return np.where(any_hit, mask.argmax(axis=1) + 1, 0).astype(np.int64)


def assess(
    quantiles: npt.NDArray[np.floating],
    levels: Sequence[float],
    current: npt.NDArray[np.floating],
    warning: FloatArray,
    critical: FloatArray,
    step_seconds: int,
    calibration: Calibration | None = None,
) -> RiskAssessment:
    """Assess S servers from their forecasts.

    Args:
        quantiles: float[S, H, M, Q] quantile forecasts.
        levels: the Q quantile levels.
        current: float[S, M] newest observed values (NaN if none).
        warning: float[S, M] warning thresholds.
        critical: float[S, M] critical thresholds.
        step_seconds: seconds per forecast step.
        calibration: maps raw critical-crossing probabilities to calibrated ones.
    """
    horizon = quantiles.shape[1]
    steps_30m = min(horizon, max(1, math.ceil(1800 / step_seconds)))
    steps_8h = min(horizon, max(1, math.ceil(8 * 3600 / step_seconds)))
    p_warn = exceedance_probability(quantiles, levels, warning[:, None, :])  # [S, H, M]
    p_crit = exceedance_probability(quantiles, levels, critical[:, None, :])
    with np.errstate(all="ignore"):
        pw30 = np.nanmax(np.nan_to_num(p_warn[:, :steps_30m], nan=-1.0), axis=1)
        pc30 = np.nanmax(np.nan_to_num(p_crit[:, :steps_30m], nan=-1.0), axis=1)
        pw8 = np.nanmax(np.nan_to_num(p_warn[:, :steps_8h], nan=-1.0), axis=1)
        pc8 = np.nanmax(np.nan_to_num(p_crit[:, :steps_8h], nan=-1.0), axis=1)
    if calibration is not None:
        pc30 = calibration.apply("critical_within_30m", pc30)
        pc8 = calibration.apply("critical_within_8h", pc8)
    absent = np.isnan(quantiles).all(axis=(1, 3))  # [S, M]
    pw30, pc30, pw8, pc8 = (
        np.where(absent, np.nan, np.maximum(p, 0.0)) for p in (pw30, pc30, pw8, pc8)
    )
    levels_arr = np.asarray(levels)
    upper = quantiles[..., int(np.abs(levels_arr - 0.9).argmin())]
    first_w = _first_step(upper >= warning[:, None, :])
    first_c = _first_step(upper >= critical[:, None, :])
    cur = np.nan_to_num(np.asarray(current, np.float64), nan=-np.inf)
    cur_sev = np.where(cur >= critical, 1.0, np.where(cur >= warning, 0.7, 0.0))
    score = np.nanmax(
        np.stack([cur_sev, pc30, 0.85 * pc8, 0.6 * pw30, 0.5 * pw8]), axis=0
    )  # [S, M]
    score = np.where(absent, np.nan, score)
    level = np.full(score.shape, HEALTHY, np.int64)
    level[(pw8 >= 0.3) | (pc8 >= 0.2)] = WATCH
    level[(cur >= warning) | (pc8 >= 0.5) | (pw30 >= 0.5)] = WARNING
    level[(cur >= critical) | (pc30 >= 0.5)] = CRITICAL
    level[absent] = HEALTHY
    with np.errstate(all="ignore"):
        server_30 = np.nan_to_num(np.nanmax(np.nan_to_num(pc30, nan=-1.0), axis=1).clip(0))
        server_8 = np.nan_to_num(np.nanmax(np.nan_to_num(pc8, nan=-1.0), axis=1).clip(0))
        server_score = 100.0 * np.nan_to_num(np.nanmax(np.nan_to_num(score, nan=0.0), axis=1))
    return RiskAssessment(
        p_warning_30m=pw30,
        p_critical_30m=pc30,
        p_warning_8h=pw8,
        p_critical_8h=pc8,
        first_warning_step=first_w,
        first_critical_step=first_c,
        metric_level=level,
        metric_score=score,
        incident_probability_30m=server_30,
        incident_probability_8h=server_8,
        risk_score=server_score,
        level=level.max(axis=1, initial=HEALTHY),
    )


def level_name(level: int) -> str:
    """The name of a level code."""
    return ALERT_LEVELS[level]


def fleet_level(levels: npt.NDArray[np.int64], share: float = 0.1) -> str:
    """The worst level held by at least ``share`` of the servers (at least one server)."""
    if levels.size == 0:
        return ALERT_LEVELS[HEALTHY]
    need = max(1, math.ceil(share * levels.size))
    for code in (CRITICAL, WARNING, WATCH):
        if int((levels >= code).sum()) >= need:
            return ALERT_LEVELS[code]
    return ALERT_LEVELS[HEALTHY]
