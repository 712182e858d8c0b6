"""Drift detection: live forecast scores out of bounds, and inputs unlike the training data.

Three signals, each with a threshold in the settings:

* **coverage**: the rolling 80 % (p10-p90) interval coverage of a metric outside
  ``[coverage_low, coverage_high]``;
* **error ratio**: a metric's rolling MASE divided by the seasonal-naive MASE on the same
  points above ``error_ratio`` (the model does worse than the baseline it should beat);
* **input shift**: the population stability index (PSI) of a profile's recent bucket
  values of a metric against the reference distribution recorded at training time above
  ``psi``. The reference is stored in the model's ``metadata.json`` (``input_reference``):
  per profile and metric, the training values' deciles as bin edges and the share of
  values in each bin. Models trained before this existed have no reference: no PSI.

Score signals need ``min_points`` scored steps, PSI ``psi_min_samples`` values, before
they can flag anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tftmon.monitoring.scoring import MetricScore

BINS = 10
EPS = 1e-4


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """When a signal counts as drift."""

    coverage_low: float = 0.65
    coverage_high: float = 0.92
    error_ratio: float = 1.1
    psi: float = 0.25
    min_points: float = 200.0
    psi_min_samples: int = 100

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def reference_distribution(
    profiles: Sequence[str], values: Sequence[npt.NDArray[np.float64]], metrics: Sequence[str]
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per profile and metric: decile edges of the values and the share in each bin.

    Args:
        profiles: the profile of each series.
        values: each series' ``[T, M]`` bucket means (NaN where missing).
    """
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for profile in sorted(set(profiles)):
        parts = [v for p, v in zip(profiles, values, strict=True) if p == profile]
        if not parts:
            continue
        stacked = np.concatenate(parts, axis=0)
        per_metric = {}
        for j, metric in enumerate(metrics):
            column = stacked[:, j]
            column = column[~np.isnan(column)]
            if column.size < BINS:
                continue
            edges = np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1]))
            counts = np.bincount(
                np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1
            )
            per_metric[metric] = {
                "edges": [round(float(e), 6) for e in edges],
                "fractions": [round(float(c) / column.size, 6) for c in counts],
            }
        if per_metric:
            out[profile] = per_metric
    return out


def psi(reference: dict[str, list[float]], sample: npt.NDArray[np.float64]) -> float:
    """Population stability index of ``sample`` against one reference histogram."""
    edges = np.asarray(reference["edges"], np.float64)
    expected = np.asarray(reference["fractions"], np.float64)
    counts = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=len(edges) + 1)
    actual = counts / max(sample.size, 1)
    expected = np.maximum(expected, EPS)
    actual = np.maximum(actual, EPS)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


FULL_WINDOW_SHARE: Final = 0.9


def input_shift(
    reference: dict[str, Any] | None,
    profiles: Sequence[str],
    values: npt.NDArray[np.float32],
    metric_names: Sequence[str],
    min_samples: int,
) -> dict[str, dict[str, float]]:
    """PSI per profile and metric of recent windows (``values``: ``[S, T, all metrics]``).

    Only servers that observed a metric over at least 90 % of the ``T`` steps count: the
    reference covers whole days, and a new server's few hours of a daily cycle would
    look shifted against it.
    """
    if not reference or len(profiles) == 0:
        return {}
    names = np.asarray(profiles)
    out: dict[str, dict[str, float]] = {}
    for profile, per_metric in reference.items():
        rows = np.flatnonzero(names == profile)
        if rows.size == 0:
            continue
        mine = values[rows]
        found = {}
        for metric, ref in per_metric.items():
            if metric not in metric_names:
                continue
            series = mine[:, :, list(metric_names).index(metric)].astype(np.float64)
            observed = ~np.isnan(series)
            whole = observed.sum(axis=1) >= FULL_WINDOW_SHARE * series.shape[1]
            column = series[whole][observed[whole]]
            if column.size >= min_samples:
                found[metric] = round(psi(ref, column), 4)
        if found:
            out[profile] = found
    return out


def assess_drift(
    scores: dict[str, MetricScore],
    shift: dict[str, dict[str, float]],
    thresholds: DriftThresholds,
) -> list[str]:
    """The reasons the model counts as drifted (empty: no drift)."""
    reasons = []
    for metric, score in scores.items():
        if score.points < thresholds.min_points:
            continue
        cov = score.coverage_80
        if cov is not None and not thresholds.coverage_low <= cov <= thresholds.coverage_high:
            reasons.append(
                f"{metric}: 80% interval coverage {cov:.2f} outside "
                f"[{thresholds.coverage_low:.2f}, {thresholds.coverage_high:.2f}]"
            )
        ratio = score.error_ratio
        if ratio is not None and ratio > thresholds.error_ratio:
            reasons.append(
                f"{metric}: MASE {ratio:.2f}x the seasonal naive's "
                f"(limit {thresholds.error_ratio:.2f})"
            )
    for profile, per_metric in shift.items():
        for metric, value in per_metric.items():
            if value > thresholds.psi:
                reasons.append(
                    f"{profile}/{metric}: input PSI {value:.2f} (limit {thresholds.psi:.2f})"
                )
    return reasons
