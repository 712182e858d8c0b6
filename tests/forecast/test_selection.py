"""Forecast selection rules: the TFT by default, the trend or seasonal naive when they are
clearly better on the newest hours."""

from __future__ import annotations

import numpy as np

from tftmon.forecast.selection import choose, earlier, median_errors
from tftmon.store.window import WindowSnapshot


def test_rules() -> None:
    nan = np.nan
    short = {
        "tft": np.array([[1.0, 5.0, 2.0, 2.0, nan, 4.0, 2.0]]),
        "damped_trend": np.array([[0.95, 1.0, 1.9, 2.0, 0.1, 1.0, 1.2]]),
        "seasonal_naive": np.array([[nan, 4.0, 1.9, 3.0, 0.1, 4.0, 1.5]]),
    }
    long = {  # cols 3, 5 and 6: yesterday predicted the long span better than a trend
        "damped_trend": np.array([[1.0, 1.0, 5.0, 5.0, 1.0, 5.0, 5.0]]),
        "seasonal_naive": np.array([[nan, 2.0, 1.0, 1.0, 0.1, 1.0, 1.0]]),
    }
    # 0 kept (within margin), 1 trend (clearly better), 2 seasonal, 3 the TFT clearly beat
    # seasonal in the short judge, 4 never judged TFT (the TFT serves), 5 a climb that
    # began inside the long span (the trend beat yesterday clearly in the short judge):
    # trend, 6 the trend beat the TFT but not yesterday: the day repeats, seasonal
    np.testing.assert_array_equal(choose(short, long, 0.2), [[0, 1, 2, 0, 0, 1, 2]])


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
