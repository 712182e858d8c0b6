"""``GET /drift/status`` and the live-scoring gauges on ``/metrics``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tftmon.api import create_app


def test_forecasts_are_scored_as_actuals_arrive(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, scoring_stride_steps=1, drift_min_points=1)
    rng = np.random.default_rng(0)
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        start = hours_ago(4)
        for hour in range(4):
            batch = records(["ppweb001", "ppdb001"], start + timedelta(hours=hour), 120)
            for rec in batch:
                rec["cpu_pct"] = float(rng.uniform(20, 80))
            assert client.post("/feed", json=batch).status_code == 200
            client.app.state.daemon.cycle.run_cycle()
        doc = client.get("/drift/status").json()
        cpu = doc["metrics"]["cpu_pct"]
        assert cpu["points"] > 0 and cpu["series"] == 2
        assert cpu["mase"] is not None and 0 <= cpu["coverage_80"] <= 1
        assert doc["model_type"] == "baseline"
        worst = doc["worst_servers"]
        assert worst and {w["server"] for w in worst} <= {"ppweb001", "ppdb001"}
        ratios = [w["error_ratio"] for w in worst]
        assert ratios == sorted(ratios, reverse=True)
        assert doc["input_reference"] is False  # the baseline has no training data
        assert doc["thresholds"]["psi"] == 0.25
        text = client.get("/metrics").text
        assert 'tftmon_forecast_mase{metric="cpu_pct"}' in text
        assert "tftmon_drift_detected" in text
        assert client.get("/drift/status", headers={"X-API-Key": ""}).status_code == 401
