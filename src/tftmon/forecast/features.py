"""The one transform from samples to model inputs, shared by training and serving.

(Samples become buckets in ``store.buckets.group_by_bucket``, used by the windows and the
training set alike.)

* ``fill_gaps``: carry the last observation over gaps, with a mask of real observations;
* ``normalize`` / ``denormalize``: fixed per-metric transforms (percent / 100, log1p for
  rates), identical for every server, so unknown servers and cold starts need no state;
* ``time_features``: the known covariates (hour of day and day of week as sin/cos, weekend);
* ``model_frame_columns``: the order of the model's continuous inputs.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.schemas import METRIC_SPECS, METRICS, check_covers_metrics

FloatArray = npt.NDArray[np.floating]

KNOWN_REALS: Final[tuple[str, ...]] = ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "weekend")
# pytorch-forecasting's position input: (step - origin) / max encoder length, known ahead
RELATIVE_TIME: Final = "relative_time_idx"
# smallest per-window target scale on the model scale (0.5 points for cpu/mem percent)
SCALE_FLOOR: Final = 0.005
# the metrics without an upper bound (rates) are log-scaled: the value that maps to 1.0
_LOG_REFERENCES: Final[dict[str, float]] = {"disk_io_mb_s": 1000.0, "latency_ms": 10000.0}
check_covers_metrics(
    _LOG_REFERENCES,
    "features._LOG_REFERENCES",
    left_out=[spec.name for spec in METRIC_SPECS if spec.upper is not None],
)
# (kind, reference): value/ref for "linear", log1p(value)/log1p(ref) for "log"; a bounded
# metric (a percentage) scales linearly by its upper bound
TRANSFORMS: Final[dict[str, tuple[str, float]]] = {
    spec.name: ("log", _LOG_REFERENCES[spec.name]) if spec.upper is None else ("linear", spec.upper)
    for spec in METRIC_SPECS
}


def observed_name(metric: str) -> str:
    """The name of a metric's observation-mask input."""
    return f"{metric}_observed"


def fill_gaps(values: FloatArray) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Carry the last observation forward over gaps, along axis 1 of ``[S, T, M]``.

    Leading gaps take the first observation. A metric never observed by a server stays
    NaN (callers treat it as absent).

    Returns:
        ``(filled, observed)``: the filled float32 array and the mask of real observations.
    """
    observed = ~np.isnan(values)
    t = values.shape[1]
    idx = np.where(observed, np.arange(t)[None, :, None], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    first = np.argmax(observed, axis=1)  # leading gaps: use the first observed position
    idx = np.where(idx < 0, first[:, None, :], idx)
    filled = np.take_along_axis(values, idx, axis=1).astype(np.float32, copy=False)
    return filled, observed


def normalize(values: FloatArray, metrics: tuple[str, ...] = METRICS) -> npt.NDArray[np.float32]:
    """Metric values (last axis in ``metrics`` order) → model scale (about 0-1)."""
    out = np.empty(values.shape, np.float32)
    for j, metric in enumerate(metrics):
        kind, ref = TRANSFORMS[metric]
        col = values[..., j].astype(np.float64)
        if kind == "linear":
            out[..., j] = col / ref
        else:
            out[..., j] = np.log1p(np.maximum(col, 0.0)) / np.log1p(ref)
    return out


def denormalize(values: FloatArray, metrics: tuple[str, ...] = METRICS) -> npt.NDArray[np.float32]:
    """Inverse of ``normalize`` along the metric axis (``values[..., j, ...]`` is metric j).

    ``values`` has the metric axis second to last when a quantile axis follows:
    callers pass ``[..., M, Q]`` and get the same shape back.
    """
    out = np.empty(values.shape, np.float32)
    for j, metric in enumerate(metrics):
        kind, ref = TRANSFORMS[metric]
        col = values[..., j, :].astype(np.float64)
        out[..., j, :] = col * ref if kind == "linear" else np.expm1(col * np.log1p(ref))
    return out


def time_features(epoch_s: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Known covariates at bucket start times: ``[..., 5]`` in ``KNOWN_REALS`` order."""
    t = np.asarray(epoch_s, np.float64)
    hour = (t % 86_400) / 3600.0
    day = ((t // 86_400) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    feats = np.stack(
        [
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
            np.sin(2 * np.pi * day / 7),
            np.cos(2 * np.pi * day / 7),
            (day >= 5).astype(np.float64),
        ],
        axis=-1,
    )
    return feats.astype(np.float32)


def model_inputs(
    values: FloatArray, metrics: tuple[str, ...] = METRICS
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Windowed bucket means ``[S, T, M]`` (NaN gaps) → normalized targets and masks.

    Returns:
        ``(targets, observed, absent)``: targets ``[S, T, M]`` filled over gaps (0 for a
        metric a server never reported), observed masks ``[S, T, M]`` as 0/1 floats, and
        ``absent[S, M]``, the metrics a server never reported.
    """
    filled, observed = fill_gaps(values)
    absent = np.asarray(~observed.any(axis=1))
    targets = np.nan_to_num(normalize(filled, metrics), nan=0.0)
    return targets.astype(np.float32), observed.astype(np.float32), absent
