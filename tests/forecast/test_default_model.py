"""The model shipped in models/: a fresh clone serves TFT forecasts with no training step."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tftmon.api import create_app
from tftmon.forecast.tft import TFTForecaster

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_shipped_model_is_small_and_complete() -> None:
    version = (MODELS / "LATEST").read_text().strip()
    folder = MODELS / version
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 20 * 1024 * 1024
    meta = json.loads((folder / "metadata.json").read_text())
    assert (meta["horizon_steps"], meta["step_seconds"], meta["encoder_steps"]) == (96, 300, 288)
    assert meta["metrics"] == ["cpu_pct", "mem_pct", "disk_io_mb_s", "latency_ms"]
    assert meta["quantiles"] == [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]
    assert set(meta["profile_vocabulary"]) >= {"ml_compute", "database", "web_api", "generic"}
    assert meta["target_normalizer"] == "last" and "relative_time_idx" in meta["reals"]
    parts = meta["training_data"]["manifest"]["parts"]
    assert {"nab", "azure", "regimes"} <= set(parts)  # real series and fleet dynamics
    assert parts["azure"]["source"].startswith("datasets/azure_v1")
    for metric in meta["metrics"]:
        assert 0.5 < meta["validation"][metric]["coverage_80"] < 1.0


def test_daemon_serves_the_shipped_tft_out_of_the_box(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, models_dir=MODELS, device="cpu")
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        c.post("/feed", json=records(["ppdb001", "ppweb003"], hours_ago(3), 360, every_s=30))
        c.app.state.daemon.cycle.run_cycle()
        doc = c.get("/predictions/current").json()
    meta = doc["metadata"]
    assert (meta["model_type"], meta["horizon_steps"], meta["step_seconds"]) == ("TFT", 96, 300)
    server = doc["predictions"]["ppdb001"]
    assert server["model_type"] == "TFT"
    assert len(server["cpu_pct"]["p50"]) == 96
    assert TFTForecaster.load(MODELS, device="cpu").info.model_type == "TFT"
