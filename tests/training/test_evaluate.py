"""Backtests (model vs SeasonalNaive vs last value), NAB real data, training from history."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_model import ENCODER, HORIZON, MIN_ENCODER
from tftmon.cli import evaluate_main, train_main
from tftmon.forecast.tft import TFTForecaster
from tftmon.generator import FleetSimulator, fleet_servers
from tftmon.generator.stream import records_of
from tftmon.schemas import DEFAULT_PROFILE_RULES, METRICS
from tftmon.serving.ingest import ingest
from tftmon.store.fleet import FleetStore
from tftmon.store.history import HistoryStore
from tftmon.training.dataset import BucketedFleet
from tftmon.training.evaluate import BacktestConfig, backtest, default_baselines, format_table
from tftmon.training.nab import load_labels, load_nab

NAB = Path(__file__).resolve().parents[2] / "datasets" / "nab"  # vendored
TINY = [
    "--encoder",
    str(ENCODER),
    "--horizon",
    str(HORIZON),
    "--min-encoder",
    str(MIN_ENCODER),
    "--hidden",
    "8",
    "--heads",
    "2",
    "--epochs",
    "1",
    "--limit-train-batches",
    "3",
    "--limit-val-batches",
    "2",
    "--accelerator",
    "cpu",
    "--no-progress",
]


def test_backtest_scores_every_forecaster(tiny_model: Path, tiny_fleet: BucketedFleet) -> None:
    model = TFTForecaster.load(tiny_model, device="cpu")
    models = {"tft": model, **default_baselines(HORIZON, 300, model.meta.quantiles)}
    config = BacktestConfig(stride_steps=24, min_history_steps=MIN_ENCODER, encoder_steps=288)
    report = backtest(tiny_fleet, models, model.meta.quantiles, HORIZON, config)
    assert report["origins"] > 5
    cpu = report["metrics"]["cpu_pct"]
    assert set(cpu) == {"tft", "seasonal_naive", "last_value", "damped_trend"}
    for name, bands in cpu.items():
        row = bands["0-1h"]
        assert math.isfinite(row["mase"]) and row["mase"] > 0, name
        assert 0 <= row["coverage_80"] <= row["coverage_96"] <= 1
        assert row["series"] == 6
    assert "seasonal_naive" in format_table(report)


def test_nab_series_load_with_labels() -> None:
    frame = load_nab(NAB)
    names = set(frame["server_name"])
    assert len(names) == 12  # 10 CPU series and 2 disk-write series
    assert frame["cpu_pct"].max() <= 100
    assert frame["disk_io_mb_s"].dropna().ge(0).all()
    labels = load_labels(NAB)
    assert set(labels["server_name"]) <= names
    assert len(labels) > 10


@pytest.mark.slow
def test_nab_pipeline_trains_on_70_percent_and_scores_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "models" / "nab"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (
            train_main(["--nab", str(NAB), "--train-fraction", "0.7", "--out", str(out), *TINY])
            == 0
        )
        report_path = tmp_path / "nab.json"
        assert (
            evaluate_main(
                [
                    "--model",
                    str(out),
                    "--nab",
                    str(NAB),
                    "--eval-from-fraction",
                    "0.7",
                    "--stride",
                    "96",
                    "--report",
                    str(report_path),
                ]
            )
            == 0
        )
    report = json.loads(report_path.read_text())
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["metrics"] == ["cpu_pct", "disk_io_mb_s"]
    assert meta["metrics_left_out"] == ["mem_pct", "latency_ms"]
    assert set(report["metrics"]) == {"cpu_pct", "disk_io_mb_s"}
    assert report["metrics"]["cpu_pct"]["tft"]["0-1h"]["series"] == 10
    # the served forecast, the network alone and every classical baseline, same windows
    assert set(report["metrics"]["cpu_pct"]) == {
        "tft",
        "tft_network",
        "seasonal_naive",
        "last_value",
        "damped_trend",
    }
    # the held-out part starts after 70 % of each series
    assert meta["training_data"]["last_bucket"] < "2014-04-30"


def test_train_from_a_daemon_history_store(tmp_path: Path) -> None:
    fleet = FleetStore(
        HistoryStore(tmp_path / "data" / "history.sqlite3", METRICS, 300),
        step_seconds=300,
        encoder_steps=288,
        raw_samples=8,
        min_history_steps=6,
        profile_rules=DEFAULT_PROFILE_RULES,
    )
    fleet.open()
    sim = FleetSimulator(fleet_servers(3), seed=2)
    times = datetime.now(UTC).timestamp() - 86_400 * 2 + 60.0 * np.arange(2 * 24 * 60)
    values, states = sim.sample(times)
    records = records_of(sim, times, values, states)
    for start in range(0, len(records), 5000):
        ingest(records[start : start + 5000], fleet, datetime.now(UTC), 300)
    fleet.close()
    out = tmp_path / "models" / "from-history"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert train_main(["--from-history", str(tmp_path / "data"), "--out", str(out), *TINY]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training_data"]["source"].startswith("history:")
    assert meta["training_data"]["servers"] == 3
    assert (tmp_path / "models" / "LATEST").read_text().strip() == "from-history"
