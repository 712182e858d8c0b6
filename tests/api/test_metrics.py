"""``GET /metrics``: the forecasts of the latest cycle, in Prometheus conventions."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import hours_ago, make_settings, records
from tests.servers import API_KEY
from tftmon.api.app import create_app


def _families(text: str) -> dict[str, list[Any]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _sample(samples: list[Any], **labels: str) -> float:
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (labels, found)
    return float(found[0])


def _feed_and_infer(client: TestClient) -> None:
    batch = records(["ppweb001", "ppdb001"], hours_ago(3), 3 * 120, cpu_pct=40.0, mem_pct=70.0)
    batch += records(["ppml0001"], hours_ago(2), 240, every_s=30, cpu_pct=50.0)  # no memory
    batch += records(["ppweb009"], hours_ago(2), 240, cpu_pct=97.0)
    assert client.post("/feed", json=batch).status_code == 200
    client.app.state.daemon.cycle.run_cycle()


def test_forecasts_match_the_predictions_document(client: TestClient) -> None:
    _feed_and_infer(client)
    doc = client.get("/predictions/current").json()
    families = _families(client.get("/metrics").text)
    web = doc["predictions"]["ppweb001"]
    cpu = families["tftmon_forecast_cpu_usage_ratio"]
    # 1 h after the forecast start is the 12th five-minute step
    # base units: CPU as a ratio, not per cent
    p50, p90 = web["cpu_pct"]["p50"], web["cpu_pct"]["p90"]
    assert _sample(cpu, server="ppweb001", q="0.5", horizon="1h") == pytest.approx(p50[11] / 100)
    assert _sample(cpu, server="ppweb001", q="0.9", horizon="8h") == pytest.approx(p90[95] / 100)
    assert {s.labels["horizon"] for s in cpu} == {"30m", "1h", "4h", "8h"}
    observed = families["tftmon_observed_memory_usage_ratio"]
    assert _sample(observed, server="ppdb001") == pytest.approx(0.7)
    # thresholds are per profile; server_info names each server's profile
    threshold = families["tftmon_threshold_cpu_usage_ratio"]
    warning = web["cpu_pct"]["warning_threshold"]
    assert _sample(threshold, profile="web_api", level="warning") == pytest.approx(warning / 100)
    crossing = families["tftmon_critical_probability_ratio"]
    hot = doc["predictions"]["ppweb009"]["cpu_pct"]
    assert _sample(crossing, server="ppweb009", metric="cpu_pct", window="8h") == pytest.approx(
        hot["exceed_critical_8h"], abs=1e-3
    )
    warned = families["tftmon_warning_probability_ratio"]
    assert _sample(warned, server="ppweb001", metric="mem_pct", window="30m") == pytest.approx(
        web["mem_pct"]["exceed_warning_30m"], abs=1e-3
    )
    # the hot server is over its lines now: crossing expected at once; a calm one: absent
    eta = families["tftmon_threshold_crossing_seconds"]
    assert _sample(eta, server="ppweb009", metric="cpu_pct", level="warning") == 0
    assert not [s for s in eta if s.labels["server"] == "ppweb001"]
    start = families["tftmon_forecast_start_timestamp_seconds"]
    assert _sample(start, server="ppweb001") % 300 == 0
    info = families["tftmon_server_info"]
    assert _sample(info, server="ppdb001", profile="database", model_type="baseline") == 1
    risk = families["tftmon_server_risk_score"]
    assert _sample(risk, server="ppweb009") == doc["predictions"]["ppweb009"]["risk_score"]


def test_a_metric_never_sent_has_no_series(client: TestClient) -> None:
    _feed_and_infer(client)
    families = _families(client.get("/metrics").text)
    for name in ("tftmon_forecast_memory_usage_ratio", "tftmon_warning_probability_ratio"):
        assert ("ppml0001", "mem_pct") not in {
            (x.labels["server"], x.labels.get("metric", "mem_pct")) for x in families[name]
        }
    assert "ppml0001" in {x.labels["server"] for x in families["tftmon_forecast_cpu_usage_ratio"]}


def test_no_forecast_series_before_the_first_cycle(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert "tftmon_forecast_cpu_usage_ratio" not in text
    assert "tftmon_records_accepted_total" in text


def test_horizons_quantiles_and_the_server_cap_are_settings(tmp_path: Any) -> None:
    settings = make_settings(
        tmp_path,
        metrics_quantiles="0.1,0.98",
        metrics_horizons="15m,2h,9h",
        metrics_max_servers=2,
    )
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        _feed_and_infer(client)
        families = _families(client.get("/metrics").text)
    cpu = families["tftmon_forecast_cpu_usage_ratio"]
    assert {s.labels["q"] for s in cpu} == {"0.1", "0.98"}
    # 9 h is past the 8-hour horizon: left out, not extrapolated
    assert {s.labels["horizon"] for s in cpu} == {"15m", "2h"}
    # the riskiest two of four servers are kept, and the rest is counted
    assert {s.labels["server"] for s in families["tftmon_server_risk_score"]} >= {"ppweb009"}
    assert len(families["tftmon_server_risk_score"]) == 2
    assert _sample(families["tftmon_metrics_servers_omitted"]) == 2


def test_the_cap_is_logged_once_per_change(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, metrics_max_servers=3)
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        _feed_and_infer(client)
        client.app.state.daemon.cycle.run_cycle()
    lines = [
        r.getMessage() for r in caplog.records if "TFTMON_METRICS_MAX_SERVERS" in r.getMessage()
    ]
    assert lines == [
        "/metrics exports the 3 riskiest of 4 servers and leaves out 1 "
        "(TFTMON_METRICS_MAX_SERVERS=3); /predictions/current has them all"
    ]


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is installed by run_tests.sh"
)
def test_promtool_finds_nothing_wrong(client: TestClient) -> None:
    _feed_and_infer(client)
    text = client.get("/metrics").text
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr
