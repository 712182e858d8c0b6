"""Forecasts kept for the selection's judge: a hit is the network's answer to the same inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.forecast.test_serving_net import same_end
from tftmon.forecast.memo import PastForecasts
from tftmon.forecast.selection import earlier
from tftmon.forecast.tft import TFTForecaster
from tftmon.training.dataset import BucketedFleet


def test_keys_change_with_any_input_the_network_reads() -> None:
    window = np.arange(2 * 6 * 4, dtype=np.float32).reshape(2, 6, 4)
    window[1, 2, 3] = np.nan
    lengths, ends, codes = np.array([6, 6]), np.array([10, 10]), np.array([1, 1])
    base = PastForecasts.keys(window, lengths, ends, codes)
    assert base == PastForecasts.keys(window.copy(), lengths, ends, codes)
    assert base[0] != base[1]
    changed = window.copy()
    changed[0, 0, 0] += 1e-6  # a late sample in the oldest step
    assert PastForecasts.keys(changed, lengths, ends, codes)[0] != base[0]
    for other in ((np.array([5, 6]), ends, codes), (lengths, ends + 1, codes)):
        assert PastForecasts.keys(window, *other)[0] != base[0]
    assert PastForecasts.keys(window, lengths, ends, np.array([2, 1]))[0] != base[0]


def test_old_entries_go_first_and_the_size_is_capped() -> None:
    memo = PastForecasts(steps=2, max_entries=3)
    row = np.ones((1, 2, 4), np.float32)
    memo.put([b"a"], np.array([10]), row)
    memo.put([b"b"], np.array([11]), 2 * row)
    memo.put([b"c"], np.array([14]), 3 * row)  # a drops out: more than 2 steps behind 14
    memo.put([b"d", b"e"], np.array([14, 14]), np.concatenate([row, row]))
    assert len(memo) == 3
    hit, medians = memo.get([b"a", b"c", b"d", b"e"], (2, 4))
    assert hit.tolist() == [False, True, True, False]  # e: no room left
    assert medians[1, 0, 0] == 3.0 and np.isnan(medians[0]).all()


def test_a_forecast_judged_from_kept_forecasts_equals_one_computed_afresh(
    tiny_model: Path, tiny_fleet: BucketedFleet
) -> None:
    snap = same_end(tiny_fleet)
    fresh = TFTForecaster.load(tiny_model, device="cpu").forecast(snap)
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    v = forecaster.selection_steps
    forecaster.forecast(earlier(snap, v))  # the cycle of v buckets ago
    assert forecaster.past is not None and len(forecaster.past) == len(snap)
    forecaster.past.hits = 0
    served = forecaster.forecast(snap)
    assert forecaster.past.hits == len(snap)
    assert served.selected is not None and fresh.selected is not None
    np.testing.assert_array_equal(served.selected, fresh.selected)
    np.testing.assert_allclose(served.quantiles, fresh.quantiles, atol=1e-4, rtol=0)


def test_a_window_changed_by_late_data_is_forecast_again(
    tiny_model: Path, tiny_fleet: BucketedFleet
) -> None:
    snap = same_end(tiny_fleet)
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    v = forecaster.selection_steps
    forecaster.forecast(earlier(snap, v))
    snap.values[1, -v - 3, 0] += 5.0  # a late sample lands in server 1's past window
    forecaster.past.hits = forecaster.past.misses = 0
    forecaster.forecast(snap)
    assert forecaster.past.hits == len(snap) - 1
    assert forecaster.past.misses == 1


def test_the_judges_classical_medians_are_the_full_forecasts_medians(
    tiny_fleet: BucketedFleet,
) -> None:
    """The shortcuts the selection takes: the seasonal-naive median without its bands, and
    the damped trend from several origins in one pass."""
    from tftmon.forecast.baseline import BaselineForecaster
    from tftmon.forecast.damped import DampedTrendForecaster

    snap = same_end(tiny_fleet)
    snap.values[0, :30, 1] = np.nan  # first seen after one origin
    snap.values[1, :, 2] = np.nan  # never seen
    baseline = BaselineForecaster(12, 300)
    full = baseline.forecast(snap).quantiles[..., list(baseline.info.quantiles).index(0.5)]
    np.testing.assert_array_equal(baseline.median(snap), full)
    damped = DampedTrendForecaster(12, 300)
    together = damped.forecast_earlier(snap, (24, 40, 0))
    for dropped, out in zip((24, 40, 0), together, strict=True):
        alone = damped.forecast(earlier(snap, dropped) if dropped else snap).quantiles
        np.testing.assert_array_equal(out.quantiles, alone)
