"""Damped-trend ETS: follows a climb (damped), holds a flat series, ordered bands."""

from __future__ import annotations

import numpy as np

from tftmon.forecast.damped import damped_trend

Q = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)


def test_climb_continues_and_flat_stays_flat() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(288, dtype=np.float64)
    climb = 40 + 0.1 * t + rng.normal(0, 0.3, 288)  # 1.2 points an hour
    flat = 55 + rng.normal(0, 0.3, 288)
    out = damped_trend(np.stack([climb, flat])[:, :, None], 96, Q)  # [2, 96, 1, 7]
    median = out[:, :, 0, 3]
    assert median[0, 11] - climb[-1] > 0.6  # at +1 h at least half of the 1.2-point rise
    assert median[0, 47] > median[0, 11]  # still climbing at +4 h
    assert abs(median[1, 95] - 55) < 1.0
    assert (np.diff(out, axis=-1) >= 0).all()
    width = out[:, :, 0, -1] - out[:, :, 0, 0]
    assert (np.diff(width, axis=1) >= -1e-9).all()  # bands widen with the horizon


def test_never_reported_metric_stays_nan() -> None:
    values = np.full((1, 50, 2), np.nan)
    values[0, :, 0] = 10.0
    out = damped_trend(values, 12, Q)
    assert np.isfinite(out[0, :, 0]).all() and np.isnan(out[0, :, 1]).all()
