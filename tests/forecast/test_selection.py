"""Forecast selection rules: the TFT by default, the trend or seasonal naive when they are
clearly better on the newest hours."""

from __future__ import annotations

import numpy as np

from tftmon.forecast.selection import choose, earlier, median_errors, young_cycle
from tftmon.windows import WindowSnapshot


def test_rules() -> None:
    nan = np.nan
    short = {
        "tft": np.array([[1.0, 5.0, 2.0, 2.0, nan]]),
        "damped_trend": np.array([[0.95, 1.0, 1.9, 1.0, 0.1]]),
        "seasonal_naive": np.array([[nan, 4.0, 1.9, 3.0, 0.1]]),
    }
    long = {
        "damped_trend": np.array([[1.0, 1.0, 5.0, 5.0, 1.0]]),  # col 3: the day repeats
        "seasonal_naive": np.array([[nan, 2.0, 1.0, 1.0, 0.1]]),
    }
    # kept (within margin), trend (clearly better), seasonal, TFT clearly beat seasonal in
    # the short judge and no trend on a repeating day, never judged TFT (the TFT serves)
    np.testing.assert_array_equal(choose(short, long, 0.2), [[0, 1, 2, 0, 0]])


def test_earlier_and_errors() -> None:
    values = np.arange(20, dtype=np.float32).reshape(1, 10, 2)
    snap = WindowSnapshot(
        np.zeros(1, np.int64),
        values,
        np.array([100]),
        np.array([10]),
        values[:, -1],
        np.zeros(1, np.int64),
        300,
        ["generic"],
    )
    past = earlier(snap, 3)
    assert past.values.shape == (1, 7, 2) and past.end_bucket[0] == 97
    assert past.history_steps[0] == 7 and past.current[0, 0] == 12
    actual = np.array([[[1.0, np.nan], [3.0, np.nan]]])
    medians = np.array([[[2.0, 0.0], [1.0, 0.0]]])
    np.testing.assert_allclose(median_errors(medians, actual), [[1.5, np.nan]])


def test_a_young_series_that_closes_its_day_is_a_cycle() -> None:
    """One day of history: a clean cycle counts, a ramp, a step, noise or a spike do not."""
    rng = np.random.default_rng(3)
    day = 288
    t = np.arange(day)
    noise = rng.normal(0, 1, (5, day))
    series = (
        np.stack(
            [
                45 + 20 * np.cos(2 * np.pi * (t - 100) / day),  # a daily cycle
                50 + 30 * t / day,  # a ramp over the day
                np.where(t < day - 72, 20.0, 60.0),  # a step six hours ago
                np.full(day, 40.0),  # quiet
                np.where((t > 100) & (t < 112), 90.0, 40.0),  # a one-hour spike that reverted
            ]
        )
        + noise
    )
    values = series.T[None, :, :]  # one server, five "metrics"
    got = young_cycle(values, np.array([day]), day)
    assert got.tolist() == [[True, False, False, False, False]]
    # a day of samples holds one closed step less: still a day; under 23 h is not
    assert young_cycle(values, np.array([day - 1]), day).tolist() == got.tolist()
    assert not young_cycle(values, np.array([day - 13]), day).any()
