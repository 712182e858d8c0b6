"""Predictions, status, alerts and history documents after real ingest and inference."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import hours_ago, iso, records
from tftmon.schemas import PredictionsResponse


def _feed_and_infer(client: TestClient) -> None:
    batch = records(["ppweb001", "ppdb001"], hours_ago(3), 3 * 120, cpu_pct=40.0, mem_pct=70.0)
    batch += records(["ppml0001"], hours_ago(2), 240, every_s=30, cpu_pct=50.0)  # no memory
    assert client.post("/feed", json=batch).status_code == 200
    client.app.state.daemon.cycle.run_cycle()


def test_predictions_shape(client: TestClient) -> None:
    _feed_and_infer(client)
    doc = client.get("/predictions/current").json()
    PredictionsResponse.model_validate(doc)
    assert sorted(doc["predictions"]) == ["ppdb001", "ppml0001", "ppweb001"]
    web = doc["predictions"]["ppweb001"]
    assert web["profile"] == "web_api"
    assert web["model_type"] == "baseline"
    cpu = web["cpu_pct"]
    assert len(cpu["p50"]) == 96
    assert set(cpu["quantiles"]) == {"p02", "p10", "p25", "p50", "p75", "p90", "p98"}
    assert cpu["current"] == 40.0
    for k in range(96):
        qs = [cpu["quantiles"][q][k] for q in ("p02", "p10", "p25", "p50", "p75", "p90", "p98")]
        assert qs == sorted(qs)
    # no memory metric was ever sent for ppml0001: it is absent, not invented
    assert "mem_pct" not in doc["predictions"]["ppml0001"]
    assert "latency_ms" not in web
    # forecast_start is the step after the newest closed bucket
    start = datetime.fromisoformat(web["forecast_start"])
    assert start.timestamp() % 300 == 0
    assert datetime.fromisoformat(doc["metadata"]["prediction_time"]) - start < timedelta(hours=1)
    meta = doc["metadata"]
    assert meta["model_type"] == "baseline"
    assert (meta["horizon_steps"], meta["step_seconds"]) == (96, 300)
    assert doc["environment"]["total_servers"] == 3


def test_filter_by_server(client: TestClient) -> None:
    _feed_and_infer(client)
    doc = client.get("/predictions/current", params={"servers": "ppdb001"}).json()
    assert list(doc["predictions"]) == ["ppdb001"]


def test_summary_view_keeps_scalars_and_thresholds(client: TestClient) -> None:
    _feed_and_infer(client)
    full = client.get("/predictions/current").json()
    doc = client.get("/predictions/current", params={"view": "summary"}).json()
    PredictionsResponse.model_validate(doc)
    assert sorted(doc["predictions"]) == sorted(full["predictions"])
    web, full_web = doc["predictions"]["ppweb001"], full["predictions"]["ppweb001"]
    assert set(web["cpu_pct"]) == set(full_web["cpu_pct"]) - {"p10", "p50", "p90", "quantiles"}
    assert web["cpu_pct"]["warning_threshold"] < web["cpu_pct"]["critical_threshold"]
    assert web["risk_score"] == full_web["risk_score"]
    assert doc["environment"] == full["environment"]
    one = client.get("/predictions/current", params={"view": "summary", "servers": "ppdb001"})
    assert list(one.json()["predictions"]) == ["ppdb001"]
    assert client.get("/predictions/current", params={"view": "nope"}).status_code == 422


def test_predictions_of_an_empty_fleet(client: TestClient) -> None:
    doc = client.get("/predictions/current").json()
    assert doc["predictions"] == {}
    assert doc["alerts"] == []
    assert doc["environment"]["total_servers"] == 0


def test_hot_server_raises_an_alert(client: TestClient) -> None:
    batch = records(["ppweb009"], hours_ago(2), 240, cpu_pct=97.0)
    client.post("/feed", json=batch)
    client.app.state.daemon.cycle.run_cycle()
    doc = client.get("/predictions/current").json()
    server = doc["predictions"]["ppweb009"]
    assert server["alert"] == "critical"
    assert server["risk_score"] == 100.0
    alerts = client.get("/alerts/active").json()
    assert alerts[0]["server"] == "ppweb009"
    assert alerts[0]["metric"] == "cpu_pct"
    assert alerts[0]["level"] == "critical"
    assert alerts[0]["threshold"] == 95.0
    assert alerts[0]["predicted_p90"] >= alerts[0]["predicted_value"]
    assert alerts[0]["opened_at"] and alerts[0]["status"] == "active"
    # it fires because the server is over the threshold now, not because of a forecast
    assert alerts[0]["cause"] == "current" and alerts[0]["current_value"] == 97.0


def test_status_reports_warmup(client: TestClient) -> None:
    start = hours_ago(1)
    client.post("/feed", json=records(["a"], start, 120) + records(["b"], start, 4))
    status = client.get("/status").json()
    assert status["servers_tracked"] == 2
    assert status["servers_ready"] == 1
    assert status["is_warmed_up"] is False
    assert status["status"] == "warming_up"
    assert status["servers"]["a"]["is_ready"] is True
    assert status["servers"]["b"]["history_steps"] == 0
    assert status["servers"]["b"]["progress_percent"] == 0.0
    assert 0 < status["progress_percent"] < 100
    assert status["model"]["model_type"] == "baseline"


def test_server_history(client: TestClient) -> None:
    start = hours_ago(1)
    batch = records(["a"], start, 40, every_s=30, cpu_pct=10.0, mem_pct=60.0)
    batch[0]["cpu_pct"] = 30.0  # first bucket: (30 + 9 x 10) / 10 = 12
    client.post("/feed", json=batch)
    body = client.get("/servers/a/history", params={"hours": 2}).json()
    assert body["step_seconds"] == 300
    assert body["values"]["cpu_pct"][0] == 12.0
    assert body["values"]["mem_pct"][0] == 60.0
    assert body["values"]["latency_ms"][0] is None
    assert body["timestamps"][0] == iso(start)
    assert len(body["timestamps"]) == 4  # 20 minutes: 3 closed steps and the open one


def test_unknown_server_history_is_404(client: TestClient) -> None:
    r = client.get("/servers/nope/history")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    bad = client.get("/servers/a/history", params={"hours": -1})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_request"


def test_alert_history_endpoint(client: TestClient) -> None:
    client.post("/feed", json=records(["ppweb009"], hours_ago(2), 240, cpu_pct=97.0))
    client.app.state.daemon.cycle.run_cycle()
    events = client.get("/alerts/history").json()
    assert events[0]["event"] == "opened"
    assert events[0]["alert"]["server"] == "ppweb009"
    later = client.get("/alerts/history", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later == []
    assert client.get("/alerts/history", params={"since": "yesterday"}).status_code == 422
