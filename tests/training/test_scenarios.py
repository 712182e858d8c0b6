"""The scenario battery: the shipped model foresees ramps and stays quiet; a model that
reverts to its window's mean fails it (so this test can fail for the reason it names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tftmon.forecast import ForecasterInfo, ForecastOutput
from tftmon.forecast.tft import TFTForecaster
from tftmon.risk.thresholds import Thresholds
from tftmon.training.scenarios import run_battery, scenarios, summary
from tftmon.windows import WindowSnapshot

MODELS = Path(__file__).resolve().parents[2] / "models"


class WindowMean:
    """Forecasts every step at the mean of the last 24 hours, with fixed bands."""

    info = ForecasterInfo(
        "baseline", "window-mean", "cpu", (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98), 96, 300, 1
    )

    def forecast(self, snapshot: WindowSnapshot) -> ForecastOutput:
        mean = np.nanmean(snapshot.values[:, -288:], axis=1)  # [S, M]
        spread = np.array([-6, -3, -1, 0, 1, 3, 6], np.float32)
        q = mean[:, None, :, None] + spread[None, None, None, :]
        q = np.repeat(q, 96, axis=1).astype(np.float32)
        return ForecastOutput(q, ["baseline"] * len(snapshot))


@pytest.fixture(scope="module")
def battery() -> tuple[Thresholds, list]:
    thresholds = Thresholds.load()
    return thresholds, scenarios(thresholds, small=True)


def test_shipped_model_foresees_ramps_and_stays_quiet(battery: tuple[Thresholds, list]) -> None:
    thresholds, cases = battery
    model = TFTForecaster.load(MODELS, device="cpu")
    results = run_battery(model, thresholds, cases)
    totals = summary(results)
    ramps = [r for r in results if r["kind"] == "ramp"]
    assert len(ramps) == 6
    assert totals["ramp_keeps_half_share"] >= 0.9, totals  # follows the climb, +1 h and +4 h
    assert totals["ramp_median_lead_ratio"] >= 0.5, totals  # alerts open well before
    assert all(r["forecast_alert"] for r in ramps), ramps
    assert totals["seasonal_mae_ratio"] <= 1.2, totals  # a daily cycle at any phase
    assert totals["quiet_alerts"] == 0, results  # steady, seasonal, spike, plateau
    assert totals["level_shift_median_4h_error"] <= 5.0, totals  # stays at the new level


def test_a_model_that_reverts_to_its_window_mean_fails(battery: tuple[Thresholds, list]) -> None:
    thresholds, cases = battery
    totals = summary(run_battery(WindowMean(), thresholds, cases))
    assert not totals["passed"]
    assert totals["ramp_keeps_half_share"] == 0.0
    assert totals["level_shift_median_4h_error"] > 5.0
