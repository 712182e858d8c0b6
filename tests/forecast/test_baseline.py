"""The baseline forecaster: seasonal naive, last value, bands, bounds, absent metrics."""

from __future__ import annotations

import numpy as np

from tftmon.forecast.baseline import BaselineForecaster
from tftmon.windows import WindowSnapshot

L, H, M = 288, 96, 4


def snapshot(values: np.ndarray, history: int) -> WindowSnapshot:
    s = values.shape[0]
    return WindowSnapshot(
        server=np.arange(s, dtype=np.int64),
        values=values.astype(np.float32),
        end_bucket=np.full(s, 1000, np.int64),
        history_steps=np.full(s, history, np.int64),
        current=values[:, -1, :].astype(np.float32),
        last_ts_ms=np.full(s, 1, np.int64),
        step_seconds=300,
    )


def test_seasonal_naive_with_a_day_of_history() -> None:
    t = np.arange(L)
    daily = 50 + 30 * np.sin(2 * np.pi * t / L)
    values = np.repeat(daily[None, :, None], M, axis=2)
    out = BaselineForecaster(H, 300).forecast(snapshot(values, L))
    median = out.quantiles[0, :, 0, 3]
    # step k is the bucket L-1+k, one day after bucket k-1
    np.testing.assert_allclose(median, daily[:H], atol=1e-4)
    assert out.model_type == ["baseline"]


def test_a_day_less_its_newest_hour_is_still_seasonal() -> None:
    """24 h of samples close 287 buckets: yesterday is copied, its missing step filled."""
    t = np.arange(L)
    daily = 50 + 30 * np.sin(2 * np.pi * t / L)
    values = np.repeat(daily[None, :, None], M, axis=2)
    values[:, :1] = np.nan  # the oldest bucket of the day is not held
    median = BaselineForecaster(H, 300).forecast(snapshot(values, L - 1)).quantiles[0, :, 0, 3]
    np.testing.assert_allclose(median[1:], daily[1:H], atol=1e-4)
    assert abs(median[0] - daily[1]) < 1e-4  # the oldest value held stands in
    values[:, :13] = np.nan  # under 23 h: last value
    median = BaselineForecaster(H, 300).forecast(snapshot(values, L - 13)).quantiles[0, :, 0, 3]
    np.testing.assert_allclose(median, daily[-1], atol=1e-4)


def test_last_value_with_short_history_and_bands_grow() -> None:
    rng = np.random.default_rng(0)
    values = np.full((1, L, M), np.nan)
    walk = 40 + np.cumsum(rng.normal(0, 1, 60))
    values[0, -60:, :] = walk[:, None]
    out = BaselineForecaster(H, 300).forecast(snapshot(values, 60)).quantiles[0, :, 0, :]
    np.testing.assert_allclose(out[:, 3], walk[-1], atol=1e-3)
    assert (np.diff(out, axis=1) >= -1e-5).all()  # quantiles ordered
    width = out[:, -1] - out[:, 0]
    assert width[-1] > width[0] > 0


def test_forecasts_stay_in_range_and_absent_metrics_stay_absent() -> None:
    values = np.zeros((1, L, M))
    values[0, :, 0] = np.linspace(90, 100, L)  # cpu near 100
    values[0, :, 3] = np.nan  # never any latency
    out = BaselineForecaster(H, 300).forecast(snapshot(values, L)).quantiles
    assert np.nanmax(out[..., 0, :]) <= 100.0
    assert np.nanmin(out[..., 1, :]) >= 0.0
    assert np.isnan(out[0, :, 3, :]).all()


def test_single_point_history() -> None:
    values = np.full((1, L, M), np.nan)
    values[0, -1] = [10, 20, 30, 40]
    out = BaselineForecaster(H, 300).forecast(snapshot(values, 0)).quantiles
    np.testing.assert_allclose(out[0, :, :, 3], np.tile([10, 20, 30, 40], (H, 1)))


def test_nan_quantiles_match_numpy() -> None:
    from tftmon.forecast.baseline import nan_quantiles

    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 50, 3))
    x[rng.uniform(size=x.shape) < 0.3] = np.nan
    x[1, :, 2] = np.nan
    qs = np.array([0.02, 0.1, 0.5, 0.9, 0.98])
    got = nan_quantiles(x, qs)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        want = np.moveaxis(np.nanquantile(x, qs, axis=1), 0, -1)
    np.testing.assert_allclose(got, want, equal_nan=True)
