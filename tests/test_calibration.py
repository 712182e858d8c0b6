"""Isotonic calibration: fitted maps are monotone, fix a biased forecaster, load with a model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, make_settings
from tftmon.api import create_app
from tftmon.cli import calibrate_main
from tftmon.forecast.tft import TFTForecaster
from tftmon.risk.calibration import WINDOWS, Calibration, fit, isotonic_blocks, model_calibration


def test_isotonic_map_fixes_an_overconfident_forecaster(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 0.5, 20_000)
    raw = np.clip(true * 2, 0, 1)  # says 0.6 when it happens 30 % of the time
    seen = rng.uniform(size=true.size) < true
    fitted = fit(
        {"critical_within_30m": raw, "critical_within_8h": raw},
        {"critical_within_30m": seen, "critical_within_8h": seen},
        {"fitted_on": "x"},
    )
    out = fitted.apply("critical_within_8h", np.array([0.2, 0.6, 1.0, np.nan]))
    np.testing.assert_allclose(out[:2], [0.1, 0.3], atol=0.05)
    assert 0.4 < out[2] < 0.75  # few points at the edge
    assert np.isnan(out[3])
    grid = fitted.apply("critical_within_30m", np.linspace(0, 1, 101))
    assert (np.diff(grid) >= 0).all()
    fitted.save(tmp_path)
    again = Calibration.load(tmp_path)
    assert again is not None and again.meta["points"] == 20_000
    assert set(again.reasons) == {"warning_within_30m", "warning_within_8h"}  # not given
    np.testing.assert_allclose(again.apply("critical_within_8h", np.array([0.6])), out[1])


def test_calibrate_cli_stores_the_map_with_the_model(tiny_model: Path, tmp_path: Path) -> None:
    from tftmon.generator import FleetSimulator, fleet_servers
    from tftmon.generator.output import to_frame, write_frame

    sim = FleetSimulator(fleet_servers(4), seed=8, incident_rate=10)
    times = 1767571200.0 + np.arange(0, 2 * 86_400, 300.0)
    values, states = sim.sample(times)
    write_frame(to_frame(times, sim.names, sim.profiles, values, states), tmp_path / "c.parquet")
    models = tmp_path / "models"
    import shutil

    shutil.copytree(tiny_model, models)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (
            calibrate_main(
                [
                    "--model",
                    str(models / "tiny"),
                    "--data",
                    str(tmp_path / "c.parquet"),
                    "--stride",
                    "3",
                ]
            )
            == 0
        )
    body = json.loads((models / "tiny" / "calibration.json").read_text())
    fitted_windows = {name for name in body["maps"] if "|" not in name}  # pooled maps
    assert fitted_windows  # at least one window had enough crossings
    assert fitted_windows | set(body["uncalibrated"]) == set(WINDOWS)
    per_forecast = {name.split("|")[0] for name in body["maps"] if "|" in name}
    assert per_forecast <= fitted_windows  # a forecast's own map only beside a pooled one
    loaded = TFTForecaster.load(models, device="cpu")
    assert loaded.info.artifact_dir == models / "tiny"
    assert model_calibration(loaded.info.artifact_dir) is not None
    settings = make_settings(tmp_path, models_dir=models, horizon_steps=12, device="cpu")
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        calibration = c.get("/status").json()["model"]["calibration"]
    assert calibration["points"] == body["points"]
    assert calibration["calibrated"] is True
    assert set(calibration["maps"]) == set(body["maps"])
    assert set(calibration["uncalibrated"]) == set(WINDOWS) - fitted_windows
    window = sorted(fitted_windows)[0]
    assert len(calibration["maps"][window]["x"]) == len(body["maps"][window]["x"])


def test_blocks_hold_enough_cases_and_stay_monotone() -> None:
    """Isotonic blocks are merged until each has min_cases: no map rests on a few points."""
    rng = np.random.default_rng(1)
    raw = np.concatenate([np.zeros(5000), rng.uniform(0, 1, 600)])
    seen = rng.uniform(size=raw.size) < np.where(raw == 0, 0.005, raw * 0.8)
    x, y, n = isotonic_blocks(raw, seen, min_cases=100)
    assert (n >= 100).all() and n.sum() == raw.size
    assert (np.diff(y) >= 0).all() and (np.diff(x) > 0).all()
    assert y[0] < 0.02  # raw zeros that rarely cross keep a low probability: no floor
    assert y[-1] > 0.5


def test_a_window_with_too_few_events_stays_raw_and_says_why() -> None:
    raw = np.linspace(0, 1, 1000)
    fitted = fit(
        {"critical_within_30m": raw, "critical_within_8h": raw},
        {"critical_within_30m": raw > 0.995, "critical_within_8h": raw > 0.5},
        {},
    )
    assert set(fitted.maps) == {"critical_within_8h"}
    assert "5 crossings in 1000 cases" in fitted.reasons["critical_within_30m"]
    p = np.array([0.3, 0.9])
    np.testing.assert_array_equal(fitted.apply("critical_within_30m", p), p)


def test_each_forecast_gets_its_own_map_where_it_saw_enough_crossings() -> None:
    """The same raw 0.9 means 'rarely' from seasonal naive and 'nearly always' from a trend."""
    rng = np.random.default_rng(2)
    n = 6000
    raw = rng.uniform(0, 1, n)
    served = rng.integers(0, 3, n)  # 0 tft, 1 damped_trend, 2 seasonal_naive
    truth = np.where(served == 2, raw * 0.1, np.where(served == 1, raw, raw * 0.5))
    seen = rng.uniform(size=n) < truth
    window = "warning_within_8h"
    fitted = fit({window: raw}, {window: seen}, {}, served={window: served})
    assert {f"{window}|{name}" for name in ("tft", "damped_trend", "seasonal_naive")} <= set(
        fitted.maps
    )
    p = np.full(3, 0.9)
    out = fitted.apply(window, p, np.array([0, 1, 2]))
    np.testing.assert_allclose(out, [0.45, 0.9, 0.09], atol=0.08)
    pooled = fitted.apply(window, p)  # no forecast given: the pooled map
    assert 0.3 < pooled[0] < 0.6
