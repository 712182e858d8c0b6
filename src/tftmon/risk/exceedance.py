"""Pure risk functions: quantile forecasts → crossing probabilities → levels and scores.

How the numbers are made (``Docs/HOW_PREDICTIONS_WORK.md`` tells it for users):

* **Per step**: ``P(X ≥ threshold)`` from the forecast quantiles by interpolating their CDF
  linearly; beyond the outer quantiles the CDF reaches 0 (or 1) over one more
  inter-quantile width.
* **Within a window** (30 min, 8 h): the largest per-step probability in the window (the
  chance of a crossing at some step if errors are fully dependent over time), then mapped
  through the model's calibration (``calibration.py``) per window where one was fitted, so
  that it means what it says on data like the calibration set.
* **Consistency**: a value already at or above a threshold gives 1; ``P(critical) ≤
  P(warning)`` and ``P(within 30 min) ≤ P(within 8 h)`` always (``consistent``).
* **Per server**: the largest probability over its metrics.
* **Level** per metric (one scale everywhere, healthy < watch < warning < critical), set by
  an ``AlertPolicy``: critical when ``P(critical, 30 min)`` reaches its level (a value at
  critical has 1), warning when ``P(warning, 8 h)`` reaches its level (a value at warning
  has 1, and every critical crossing is a warning crossing), watch from a lower level. A
  server takes its worst metric. The *hold level* applies the same rules at ``hold_ratio``
  of each level, or to values within ``value_band`` below a threshold: an open alert is
  kept at up to that level, so a series hovering at a threshold does not flap.
* **Expected crossing**: the first step where the median path reaches the threshold, else
  where the p90 path does (the earliest plausible crossing); 0 when already at it.
* **Risk score** (0-100, monotone in every input): ``100 × max`` over metrics of
  ``current ≥ critical → 1``, ``current ≥ warning → 0.7``, ``P(critical, 30 min)``,
  ``0.85·P(critical, 8 h)``, ``0.6·P(warning, 30 min)``, ``0.5·P(warning, 8 h)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tftmon.risk.calibration import Calibration
from tftmon.schemas import ALERT_LEVELS

FloatArray = npt.NDArray[np.float64]

HEALTHY, WATCH, WARNING, CRITICAL = 0, 1, 2, 3


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
class AlertPolicy:
    """When a metric's alert opens, holds and which level it shows (see module docstring).

    Probabilities are the calibrated ones. ``hold_ratio`` and ``value_band`` are the value
    hysteresis: an open alert is kept while its probability stays above ``hold_ratio`` times
    the opening level, or its value within ``value_band`` (a fraction of the threshold)
    below the threshold.
    """

    # defaults chosen on the calibration replay (scripts/calibrate_default_model.sh, seed 11),
    # scored on the hold-out (scripts/risk_accuracy.sh, seed 12): Docs/ACCURACY.md
    warning_probability: float = 0.25  # P(warning within 8 h) that opens a warning alert
    critical_probability: float = 0.3  # P(critical within 30 min) that opens a critical one
    watch_probability: float = 0.1  # P(warning within 8 h) that marks a metric "watch"
    hold_ratio: float = 0.6
    value_band: float = 0.03


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Risk of S servers over M metrics (NaN where a server lacks a metric)."""

    p_warning_30m: FloatArray  # [S, M]
    p_critical_30m: FloatArray
    p_warning_8h: FloatArray
    p_critical_8h: FloatArray
    warning_step: npt.NDArray[np.int64]  # [S, M] expected crossing step (1-based); 0: now
    critical_step: npt.NDArray[np.int64]  # same for critical; -1: none in the horizon
    metric_level: npt.NDArray[np.int64]  # [S, M]: the level an alert opens at (or watch)
    hold_level: npt.NDArray[np.int64]  # [S, M]: the level an open alert may keep
    metric_score: FloatArray  # [S, M] in [0, 1]
    incident_probability_30m: FloatArray  # [S]
    incident_probability_8h: FloatArray  # [S]
    risk_score: FloatArray  # [S] 0-100
    level: npt.NDArray[np.int64]  # [S]
    raw: Mapping[str, FloatArray]  # per calibration window, [S, M] before calibration


def _window_max(p: FloatArray, steps: int) -> FloatArray:
    """Largest per-step probability over the first ``steps`` steps ([S, H, M] → [S, M])."""
    with np.errstate(all="ignore"):
        out: FloatArray = np.nanmax(np.nan_to_num(p[:, :steps], nan=-1.0), axis=1)
    return out


def crossing_step(
    median: FloatArray, upper: FloatArray, current: FloatArray, threshold: FloatArray
) -> npt.NDArray[np.int64]:
    """Expected step of crossing ([S, H, M] paths → [S, M]).

    0 where the newest value is already at or above the threshold; else the first step
    where the median path reaches it, or failing that the upper path (the earliest
    plausible crossing); -1 where neither reaches it in the horizon.
    """
    out = np.full(threshold.shape, -1, np.int64)
    for path in (upper, median):  # the median's crossing wins where both cross
        hit = path >= threshold[:, None, :]
        out = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, out)
    return np.where(np.nan_to_num(current, nan=-np.inf) >= threshold, 0, out)


def assess(
    quantiles: npt.NDArray[np.floating],
    levels: Sequence[float],
    current: npt.NDArray[np.floating],
    warning: FloatArray,
    critical: FloatArray,
    step_seconds: int,
    calibration: Calibration | None = None,
    policy: AlertPolicy | None = None,
    served: npt.NDArray[np.int64] | None = None,
) -> RiskAssessment:
    """Assess S servers from their forecasts.

    Args:
        quantiles: float[S, H, M, Q] quantile forecasts.
        levels: the Q quantile levels.
        current: float[S, M] newest observed values (NaN if none).
        warning: float[S, M] warning thresholds.
        critical: float[S, M] critical thresholds.
        step_seconds: seconds per forecast step.
        calibration: maps raw crossing probabilities to calibrated ones, per window.
        policy: alert opening and hold levels (default ``AlertPolicy()``).
        served: int[S, M], which forecast served each pair (``ForecastOutput.selected``),
            for the calibration maps fitted per forecast.
    """
    policy = policy or AlertPolicy()
    horizon = quantiles.shape[1]
    steps_30m = min(horizon, max(1, math.ceil(1800 / step_seconds)))
    steps_8h = min(horizon, max(1, math.ceil(8 * 3600 / step_seconds)))
    p_warn = exceedance_probability(quantiles, levels, warning[:, None, :])  # [S, H, M]
    p_crit = exceedance_probability(quantiles, levels, critical[:, None, :])
    raw = {
        "warning_within_30m": _window_max(p_warn, steps_30m),
        "warning_within_8h": _window_max(p_warn, steps_8h),
        "critical_within_30m": _window_max(p_crit, steps_30m),
        "critical_within_8h": _window_max(p_crit, steps_8h),
    }
    cal = raw
    if calibration is not None:
        cal = {window: calibration.apply(window, p, served) for window, p in raw.items()}
    cur = np.nan_to_num(np.asarray(current, np.float64), nan=-np.inf)
    absent = np.isnan(quantiles).all(axis=(1, 3))  # [S, M]
    pw30, pw8, pc30, pc8 = consistent(
        cal["warning_within_30m"],
        cal["warning_within_8h"],
        cal["critical_within_30m"],
        cal["critical_within_8h"],
        over_warning=cur >= warning,
        over_critical=cur >= critical,
        absent=absent,
    )
    levels_arr = np.asarray(levels)
    q = np.asarray(quantiles, np.float64)
    median = q[..., int(np.abs(levels_arr - 0.5).argmin())]
    upper = q[..., int(np.abs(levels_arr - 0.9).argmin())]
    warning_step = crossing_step(median, upper, cur, warning)
    critical_step = crossing_step(median, upper, cur, critical)
    cur_sev = np.where(cur >= critical, 1.0, np.where(cur >= warning, 0.7, 0.0))
    score = np.nanmax(np.stack([cur_sev, pc30, 0.85 * pc8, 0.6 * pw30, 0.5 * pw8]), axis=0)
    score = np.where(absent, np.nan, score)
    level = _levels(policy, pw8, pc30, absent, 1.0)
    level[(level == HEALTHY) & (pw8 >= policy.watch_probability)] = WATCH
    band = 1.0 - policy.value_band
    near = np.where(cur >= band * critical, CRITICAL, np.where(cur >= band * warning, WARNING, 0))
    hold = _levels(policy, pw8, pc30, absent, policy.hold_ratio)
    hold = np.maximum(np.maximum(hold, np.where(absent, HEALTHY, near)), level)
    with np.errstate(all="ignore"):
        server_30 = np.nan_to_num(np.nanmax(np.nan_to_num(pc30, nan=-1.0), axis=1).clip(0))
        server_8 = np.nan_to_num(np.nanmax(np.nan_to_num(pc8, nan=-1.0), axis=1).clip(0))
        server_score = 100.0 * np.nan_to_num(np.nanmax(np.nan_to_num(score, nan=0.0), axis=1))
    return RiskAssessment(
        p_warning_30m=pw30,
        p_critical_30m=pc30,
        p_warning_8h=pw8,
        p_critical_8h=pc8,
        warning_step=warning_step,
        critical_step=critical_step,
        metric_level=level,
        hold_level=hold,
        metric_score=score,
        incident_probability_30m=server_30,
        incident_probability_8h=server_8,
        risk_score=server_score,
        level=level.max(axis=1, initial=HEALTHY),
        raw=raw,
    )


def consistent(
    pw30: FloatArray,
    pw8: FloatArray,
    pc30: FloatArray,
    pc8: FloatArray,
    *,
    over_warning: npt.NDArray[np.bool_],
    over_critical: npt.NDArray[np.bool_],
    absent: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Probabilities that obey what they mean, in the order ``(pw30, pw8, pc30, pc8)``.

    A value at or above a threshold has crossed it (1); crossing critical implies crossing
    warning, and crossing within 30 min implies crossing within 8 h, so ``pc ≤ pw`` and
    ``p30 ≤ p8``; NaN where the metric has no forecast.
    """
    pc30 = np.where(over_critical, 1.0, np.clip(pc30, 0.0, 1.0))
    pc8 = np.maximum(np.where(over_critical, 1.0, np.clip(pc8, 0.0, 1.0)), pc30)
    pw30 = np.maximum(np.where(over_warning, 1.0, np.clip(pw30, 0.0, 1.0)), pc30)
    pw8 = np.maximum(np.maximum(np.where(over_warning, 1.0, np.clip(pw8, 0.0, 1.0)), pw30), pc8)
    return tuple(np.where(absent, np.nan, p) for p in (pw30, pw8, pc30, pc8))  # type: ignore[return-value]


def _levels(
    policy: AlertPolicy,
    pw8: FloatArray,
    pc30: FloatArray,
    absent: npt.NDArray[np.bool_],
    ratio: float,
) -> npt.NDArray[np.int64]:
    """Warning where P(warning, 8 h) reaches ``ratio`` × its level, critical likewise."""
    out = np.full(pw8.shape, HEALTHY, np.int64)
    with np.errstate(invalid="ignore"):
        out[pw8 >= ratio * policy.warning_probability] = WARNING
        out[pc30 >= ratio * policy.critical_probability] = CRITICAL
    out[absent] = HEALTHY
    return out


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
