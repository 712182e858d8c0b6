"""The scenario battery: generated servers whose right answer is known.

Each scenario is one server with two days of 5-minute history and the true continuation:

* **ramp**: a metric climbs linearly for 6 h before the origin and reaches its warning
  threshold 30 min, 1, 2, 4 or 8 h after it (noise and a daily cycle on top), on every
  metric. Forecasts are made at origins every 15 min from the start of the climb to the
  crossing, as the daemon would, to find when a forecast-driven alert opens;
* **seasonal**: a clean daily cycle (40 ± 25 for cpu) peaking at any hour of the day;
* **steady**, **spike** (a spike over warning that reverted 2 h ago) and **level_shift**
  (a level that stepped up 6 h ago and stays): these must stay quiet.

Scores per scenario (``run_battery``): absolute error of the median at +1 h and +4 h against
the noise-free continuation, the share of the true rise the median keeps, the probability
of a warning crossing within 8 h, whether and when a forecast-driven alert opened (level
warning or worse while the newest value is below warning), and, for seasonal servers, the
8-hour MAE against that of seasonal-naive on the same windows. ``summary`` compares them
with the targets of ``TARGETS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tftmon.forecast import Forecaster
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.risk.calibration import model_calibration
from tftmon.risk.exceedance import WARNING, AlertPolicy, assess
from tftmon.risk.thresholds import Thresholds
from tftmon.schemas import METRICS
from tftmon.windows import WindowSnapshot

STEP: Final = 300
PER_HOUR: Final = 12
HISTORY: Final = 2 * 24 * PER_HOUR  # steps before and at the origin
HORIZON: Final = 96
RAMP_BEFORE: Final = 6 * PER_HOUR  # the climb is visible this long before the origin
ORIGIN_STRIDE: Final = 3  # replay origins every 15 minutes
FIRST_BUCKET: Final = 5_889_600  # 2026-01-05 00:00 UTC, a Monday
# per metric: base level, noise sd, daily amplitude (units of the metric)
LEVELS: Final = {
    "cpu_pct": (35.0, 1.5, 5.0),
    "mem_pct": (55.0, 0.3, 1.5),
    "disk_io_mb_s": (40.0, 3.0, 8.0),
    "latency_ms": (60.0, 3.0, 8.0),
}
RAMP_HOURS: Final = (0.5, 1.0, 2.0, 4.0, 8.0)
TARGETS: Final = {
    "ramp_keeps_half_share": 0.9,  # share of ramps keeping >= half the rise at +1 h and +4 h
    "ramp_foreseen_share": 0.9,  # share with an alert opened by the forecast (the policy's
    # P(warning 8 h) level reached before the crossing) and that level reached at the origin
    "ramp_median_lead_ratio": 0.5,  # median lead / time the ramp needed from the origin
    "seasonal_mae_ratio": 1.2,  # model MAE / seasonal-naive MAE, at most
    "quiet_alerts": 0,  # warning or critical alerts on quiet servers
}


@dataclass(frozen=True)
class Scenario:
    """One server: ``values[T, M]`` in metric units, origin index, what should happen."""

    name: str
    kind: str
    metric: str
    values: npt.NDArray[np.float64]
    truth: npt.NDArray[np.float64]  # the noise-free series of ``metric`` [T]
    origin: int
    start_bucket: int
    crossing: int | None = None  # first index at or above warning (ramps)
    replay_from: int | None = None  # first replay origin (alert timing, quiet checks)
    hours_to_warning: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _background(
    rng: np.random.Generator, n: int, start: int, peak: float
) -> tuple[np.ndarray, np.ndarray]:
    """All four metrics at their base levels with a small daily cycle: ``(noisy, clean)``."""
    hours = ((start + np.arange(n)) / PER_HOUR) % 24
    cycle = np.cos(2 * np.pi * (hours - peak) / 24)
    clean = np.empty((n, len(METRICS)))
    noisy = np.empty((n, len(METRICS)))
    for j, metric in enumerate(METRICS):
        base, noise, amplitude = LEVELS[metric]
        clean[:, j] = base + amplitude * cycle
        noisy[:, j] = clean[:, j] + rng.normal(0, noise, n)
    return noisy, clean


def _clip(values: np.ndarray) -> np.ndarray:
    values[:, :2] = np.clip(values[:, :2], 0.0, 100.0)
    values[:, 2:] = np.clip(values[:, 2:], 0.0, None)
    return values


def scenarios(thresholds: Thresholds, *, seeds: int = 3, small: bool = False) -> list[Scenario]:
    """The battery (``small``: one seed, cpu and memory ramps of 1, 2 and 4 h, 2 phases)."""
    warn, _ = thresholds.arrays(["generic"])
    out: list[Scenario] = []
    n = HISTORY + HORIZON
    origin = HISTORY - 1
    ramp_metrics = ("cpu_pct", "mem_pct") if small else METRICS
    ramp_hours = (1.0, 2.0, 4.0) if small else RAMP_HOURS
    phases = (3.0, 15.0) if small else tuple(float(h) for h in range(0, 24, 3))
    for seed in range(1 if small else seeds):
        rng = np.random.default_rng([seed, 17])
        start = FIRST_BUCKET + int(rng.integers(0, 24 * PER_HOUR))
        t = np.arange(n)
        for metric in ramp_metrics:
            j = METRICS.index(metric)
            base = LEVELS[metric][0]
            threshold = float(warn[0, j])
            for hours in ramp_hours:
                values, clean = _background(rng, n, start, rng.uniform(0, 24))
                begin = origin - RAMP_BEFORE
                slope = (threshold - base) / (RAMP_BEFORE + hours * PER_HOUR)
                rise = np.clip(t - begin, 0, None) * slope
                values[:, j] += rise
                truth = clean[:, j] + rise
                _clip(values)
                crossing = int(np.argmax(base + rise >= threshold))
                out.append(
                    Scenario(
                        f"ramp_{metric}_{hours:g}h_s{seed}",
                        "ramp",
                        metric,
                        values,
                        np.minimum(truth, 100.0) if j < 2 else truth,
                        origin,
                        start,
                        crossing=crossing,
                        replay_from=begin + PER_HOUR,
                        hours_to_warning=hours,
                    )
                )
        for metric, mean, amplitude in (("cpu_pct", 40.0, 25.0), ("latency_ms", 80.0, 40.0)):
            j = METRICS.index(metric)
            for peak in phases:
                values, _ = _background(rng, n, start, 0.0)
                hour_of_day = ((start + t) / PER_HOUR) % 24
                truth = mean + amplitude * np.cos(2 * np.pi * (hour_of_day - peak) / 24)
                values[:, j] = truth + rng.normal(0, LEVELS[metric][1], n)
                out.append(
                    Scenario(
                        f"seasonal_{metric}_peak{peak:02.0f}h_s{seed}",
                        "seasonal",
                        metric,
                        _clip(values),
                        truth,
                        origin,
                        start,
                        replay_from=origin - PER_HOUR,
                    )
                )
        for metric in ("cpu_pct", "mem_pct") if small else METRICS:
            j = METRICS.index(metric)
            values, clean = _background(rng, n, start, rng.uniform(0, 24))
            truth = clean[:, j]
            out.append(
                Scenario(
                    f"steady_{metric}_s{seed}",
                    "steady",
                    metric,
                    _clip(values),
                    truth,
                    origin,
                    start,
                    replay_from=origin - 2 * PER_HOUR,
                )
            )
        for metric in ("cpu_pct", "latency_ms"):
            j = METRICS.index(metric)
            values, clean = _background(rng, n, start, rng.uniform(0, 24))
            spike_end = origin - 2 * PER_HOUR
            values[spike_end - 4 : spike_end, j] = float(warn[0, j]) * 1.08
            truth = clean[:, j]
            out.append(
                Scenario(
                    f"spike_{metric}_s{seed}",
                    "spike",
                    metric,
                    _clip(values),
                    truth,
                    origin,
                    start,
                    replay_from=spike_end + PER_HOUR,
                )
            )
        for metric, low, high in (("cpu_pct", 30.0, 60.0), ("mem_pct", 45.0, 75.0)):
            j = METRICS.index(metric)
            values, clean = _background(rng, n, start, rng.uniform(0, 24))
            shift_at = origin - RAMP_BEFORE
            offset = np.where(t >= shift_at, high - low, 0.0) + low - LEVELS[metric][0]
            values[:, j] += offset
            truth = clean[:, j] + offset
            out.append(
                Scenario(
                    f"level_shift_{metric}_s{seed}",
                    "level_shift",
                    metric,
                    _clip(values),
                    truth,
                    origin,
                    start,
                    replay_from=shift_at + 2 * PER_HOUR,
                    extra={"new_level": high},
                )
            )
    return out


def _snapshot(windows: list[tuple[Scenario, int]], width: int) -> WindowSnapshot:
    """One snapshot row per (scenario, origin): the ``width`` steps ending at the origin."""
    b = len(windows)
    values = np.empty((b, width, len(METRICS)), np.float32)
    end = np.empty(b, np.int64)
    for i, (sc, origin) in enumerate(windows):
        values[i] = sc.values[origin - width + 1 : origin + 1]
        end[i] = sc.start_bucket + origin
    return WindowSnapshot(
        np.arange(b, dtype=np.int64),
        values,
        end,
        np.full(b, width, np.int64),
        values[:, -1].copy(),
        (end + 1) * STEP * 1000,
        STEP,
        ["generic"] * b,
    )


def run_battery(
    forecaster: Forecaster,
    thresholds: Thresholds,
    battery: list[Scenario],
    width: int = 384,
    policy: AlertPolicy | None = None,
) -> list[dict[str, Any]]:
    """Score ``forecaster`` on every scenario (see the module docstring).

    Alerts and "foreseen" follow ``policy`` (default: the daemon's ``AlertPolicy()``) on
    the forecaster's calibrated probabilities, as the daemon would serve them.
    """
    policy = policy or AlertPolicy()
    info = forecaster.info
    levels = np.asarray(info.quantiles)
    i50 = int(np.abs(levels - 0.5).argmin())
    naive = BaselineForecaster(info.horizon_steps, STEP, quantiles=info.quantiles)
    windows: list[tuple[Scenario, int]] = []
    for sc in battery:
        first = sc.replay_from if sc.replay_from is not None else sc.origin
        last = sc.crossing if sc.crossing is not None else sc.origin + 1  # exclusive
        windows += [(sc, o) for o in sorted({*range(first, last, ORIGIN_STRIDE), sc.origin})]
    snap = _snapshot(windows, width)
    q = np.empty((len(windows), info.horizon_steps, len(METRICS), levels.size), np.float32)
    served = np.zeros((len(windows), len(METRICS)), np.int64)
    for lo in range(0, len(windows), 256):
        out = forecaster.forecast(snap.part(lo, lo + 256))
        q[lo : lo + 256] = out.quantiles
        if out.selected is not None:
            served[lo : lo + 256] = out.selected
    seasonal = naive.forecast(snap).quantiles[..., i50]
    warn, crit = thresholds.arrays(["generic"] * len(windows))
    risk = assess(
        q,
        info.quantiles,
        snap.values[:, -1],
        warn,
        crit,
        STEP,
        model_calibration(info.artifact_dir),
        policy,
        served=served,
    )
    results = []
    for sc in battery:
        j = METRICS.index(sc.metric)
        rows = [i for i, (s, _) in enumerate(windows) if s is sc]
        origins = [windows[i][1] for i in rows]
        at = rows[origins.index(sc.origin)]
        median = q[at, :, j, i50].astype(np.float64)
        future = sc.truth[sc.origin + 1 : sc.origin + 1 + info.horizon_steps]
        now = sc.truth[sc.origin]
        row: dict[str, Any] = {"name": sc.name, "kind": sc.kind, "metric": sc.metric}
        for label, h in (("1h", PER_HOUR), ("4h", 4 * PER_HOUR)):
            row[f"abs_error_{label}"] = round(float(abs(median[h - 1] - future[h - 1])), 3)
            true_rise = future[h - 1] - now
            if sc.kind == "ramp" and true_rise > 0:
                row[f"kept_rise_{label}"] = round(float((median[h - 1] - now) / true_rise), 3)
        row["p_warning_8h"] = round(float(risk.p_warning_8h[at, j]), 4)
        current = snap.values[rows, -1, j]
        opened = [
            windows[i][1]
            for i, c in zip(rows, current, strict=True)
            if risk.metric_level[i, j] >= WARNING and c < warn[i, j]
        ]
        alerts = [windows[i][1] for i in rows if risk.level[i] >= WARNING]
        if sc.kind == "ramp":
            assert sc.crossing is not None and sc.hours_to_warning is not None
            alert_at = min(opened) if opened else None
            row["forecast_alert"] = alert_at is not None
            row["lead_minutes"] = (
                None if alert_at is None else (sc.crossing - alert_at) * STEP // 60
            )
            row["lead_ratio"] = (
                None
                if alert_at is None
                else round((sc.crossing - alert_at) / (sc.hours_to_warning * PER_HOUR), 3)
            )
            row["foreseen"] = bool(
                row["p_warning_8h"] >= policy.warning_probability and alert_at is not None
            )
        else:
            row["alerts"] = len(alerts)
        if sc.kind == "seasonal":
            mae = float(np.abs(median - future).mean())
            naive_mae = float(np.abs(seasonal[at, :, j] - future).mean())
            row["mae_ratio_to_seasonal_naive"] = round(mae / max(naive_mae, 1e-9), 3)
        if sc.kind == "level_shift":
            row["median_4h"] = round(float(median[4 * PER_HOUR - 1]), 2)
            row["new_level"] = sc.extra["new_level"]
        results.append(row)
    return results


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Battery-wide figures next to ``TARGETS``; ``passed`` when every target is met."""
    ramps = [r for r in results if r["kind"] == "ramp"]
    quiet = [r for r in results if r["kind"] in ("steady", "spike", "level_shift", "seasonal")]
    seasonal = [r["mae_ratio_to_seasonal_naive"] for r in results if r["kind"] == "seasonal"]
    keeps = [r.get("kept_rise_1h", 0) >= 0.5 and r.get("kept_rise_4h", 0) >= 0.5 for r in ramps]
    leads = [r["lead_ratio"] if r["lead_ratio"] is not None else 0.0 for r in ramps]
    shifts = [r for r in results if r["kind"] == "level_shift"]
    figures = {
        "ramps": len(ramps),
        "ramp_keeps_half_share": round(float(np.mean(keeps)), 3) if ramps else math.nan,
        "ramp_foreseen_share": round(float(np.mean([r["foreseen"] for r in ramps])), 3)
        if ramps
        else math.nan,
        "ramp_median_lead_ratio": round(float(np.median(leads)), 3) if ramps else math.nan,
        "seasonal_mae_ratio": round(float(np.median(seasonal)), 3) if seasonal else math.nan,
        "seasonal_mae_ratio_worst": round(float(np.max(seasonal)), 3) if seasonal else math.nan,
        "quiet_alerts": int(sum(r["alerts"] for r in quiet)),
        "level_shift_median_4h_error": round(
            float(np.mean([abs(r["median_4h"] - r["new_level"]) for r in shifts])), 2
        )
        if shifts
        else math.nan,
    }
    met = {
        "ramp_keeps_half_share": figures["ramp_keeps_half_share"]
        >= TARGETS["ramp_keeps_half_share"],
        "ramp_foreseen_share": figures["ramp_foreseen_share"] >= TARGETS["ramp_foreseen_share"],
        "ramp_median_lead_ratio": figures["ramp_median_lead_ratio"]
        >= TARGETS["ramp_median_lead_ratio"],
        "seasonal_mae_ratio": figures["seasonal_mae_ratio"] <= TARGETS["seasonal_mae_ratio"],
        "quiet_alerts": figures["quiet_alerts"] <= TARGETS["quiet_alerts"],
    }
    return {**figures, "targets": dict(TARGETS), "met": met, "passed": all(met.values())}


def format_battery(results: list[dict[str, Any]], summary_: dict[str, Any]) -> str:
    """The battery as plain text: one line per scenario, then the summary."""
    lines = []
    for r in results:
        extras = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "kind", "metric"))
        lines.append(f"{r['name']:34s} {extras}")
    lines.append("summary: " + ", ".join(f"{k}={v}" for k, v in summary_.items() if k != "met"))
    lines.append("met: " + ", ".join(f"{k}={v}" for k, v in summary_["met"].items()))
    return "\n".join(lines)
