"""Fetching and shaping for the dashboard: config, problems, rows (MockTransport, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.dashboard.samples import metric, server
from tftmon.client import TftmonClient
from tftmon.dashboard import data
from tftmon.errors import ConfigError, DaemonResponseError, DaemonUnavailableError

CONFIG = data.DashboardConfig("http://daemon", "k" * 20)


def test_config_environment_first_then_secrets_then_dotenv(tmp_path: Path) -> None:
    secrets = {"daemon_url": "http://s:1", "api_key": "secret-key", "refresh_s": 5}
    env = {"TFTMON_DAEMON_URL": "http://e:2", "TFTMON_API_KEY": "env-key"}
    assert data.resolve_config(secrets, env) == data.DashboardConfig("http://e:2", "env-key", 5.0)
    assert data.resolve_config(secrets, {}) == data.DashboardConfig("http://s:1", "secret-key", 5.0)
    # neither: what every client uses (.env keys in the working directory, TFTMON_PORT)
    (tmp_path / ".env").write_text("TFTMON_API_KEYS=" + "d" * 20 + "\n")
    cfg = data.resolve_config({}, {"TFTMON_DASHBOARD_REFRESH_S": "2.5"})
    assert cfg == data.DashboardConfig("http://127.0.0.1:8000", "d" * 20, 2.5)
    for bad in ("0", "-1", "nan"):
        with pytest.raises(ConfigError, match="positive number of seconds"):
            data.resolve_config({}, {"TFTMON_DASHBOARD_REFRESH_S": bad})


def test_problems_say_what_to_do() -> None:
    down = data.describe_problem(DaemonUnavailableError("refused"), CONFIG)
    assert down.kind == "unreachable" and "http://daemon" in down.message
    assert any("tft_inference_daemon.py" in hint for hint in down.hints)
    refused = data.describe_problem(DaemonResponseError(401, "unauthorized", "bad key"), CONFIG)
    assert refused.kind == "auth" and "refused" in refused.message
    no_key = data.describe_problem(
        DaemonResponseError(401, "unauthorized", "missing"), data.DashboardConfig("http://d", None)
    )
    assert "no API key" in no_key.message
    other = data.describe_problem(DaemonResponseError(422, "invalid", "x"), CONFIG)
    assert other.kind == "error"


def test_one_fleet_fetch_asks_for_the_summary_once() -> None:
    seen: list[httpx.Request] = []
    bodies = {
        "/status": {"status": "ready"},
        "/predictions/current": {"predictions": {}, "alerts": []},
        "/alerts/active": [],
        "/alerts/history": [],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=bodies[request.url.path])

    client = TftmonClient("http://daemon", "k" * 20, transport=httpx.MockTransport(handler))
    fleet = data.fetch_fleet(client, datetime(2026, 11, 27, 12, tzinfo=UTC))
    paths = [r.url.path for r in seen]
    assert paths.count("/predictions/current") == 1
    predictions = next(r for r in seen if r.url.path == "/predictions/current")
    assert predictions.url.params["view"] == "summary"
    history = next(r for r in seen if r.url.path == "/alerts/history")
    assert history.url.params["since"].startswith("2026-11-26T12:00:00")
    assert fleet.status == {"status": "ready"}


def test_server_fetch_asks_for_one_server_and_tolerates_missing_history() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/servers/"):
            return httpx.Response(404, json={"detail": "unknown", "code": "not_found"})
        assert request.url.params["servers"] == "web1"
        doc = {"predictions": {"web1": server()}, "metadata": {"step_seconds": 60}}
        return httpx.Response(200, json=doc)

    client = TftmonClient("http://daemon", "k" * 20, transport=httpx.MockTransport(handler))
    view = data.fetch_server(client, "web1")
    assert view.prediction is not None and view.history is None and view.step_seconds == 60


def test_server_rows_riskiest_first() -> None:
    rows = data.server_rows(
        {"a": server(), "b": server("critical", 90.0), "c": server("warning", 95.0)}
    )
    assert [r["server"] for r in rows] == ["b", "c", "a"]
    assert rows[0]["model"] == "TFT" and rows[0]["p_incident_8h"] == 0.9


def test_top_risks_say_which_metric_when_and_how_likely() -> None:
    predictions = {
        "db1": server(
            "critical",
            100.0,
            mem_pct=metric([90.0], critical_p=0.8, warning_p=1.0),
            cpu_pct=metric([10.0]),
        ),
        "web1": server("warning", 40.0, latency_ms=metric([1.0], warning_p=0.6, critical_p=0.1)),
    }
    alerts = [{"server": "db1", "metric": "mem_pct", "level": "critical", "minutes_ahead": 25}]
    rows = data.top_risks(predictions, alerts)
    assert [(r["server"], r["metric"]) for r in rows] == [
        ("db1", "mem_pct"),
        ("web1", "latency_ms"),
    ]
    assert rows[0]["crossing"] == "critical" and rows[0]["probability"] == 0.8
    assert rows[0]["minutes_ahead"] == 25 and rows[0]["threshold"] == 95.0
    assert rows[1]["crossing"] == "warning" and rows[1]["probability"] == 0.6
    assert rows[1]["minutes_ahead"] is None and rows[1]["threshold"] == 80.0
    assert rows[0]["when"] == "in ~25 min" and rows[1]["when"] == "within 8 h"
    hot = {"db2": server("critical", 100.0, cpu_pct=metric([97.0], critical_p=0.9))}
    assert data.top_risks(hot, [])[0]["when"] == "already above"


def test_when_text() -> None:
    assert data.when_text(None, 97.0, 95.0) == "already above"
    assert data.when_text(30, 50.0, 95.0) == "in ~30 min"
    assert data.when_text(300, None, None) == "in ~5.0 h"
    assert data.when_text(None, None, 95.0) == "within 8 h"


def test_alert_rows_and_recent_events_carry_lead_times() -> None:
    alert = {
        "server": "db1",
        "metric": "mem_pct",
        "level": "critical",
        "probability": 0.9,
        "minutes_ahead": 40,
        "predicted_p90": 99.0,
        "threshold": 95.0,
        "opened_at": "2026-11-27T11:30:00Z",
        "status": "active",
    }
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    (row,) = data.alert_rows([alert], now)
    assert row["lead_time_min"] == 40 and row["open_for_min"] == 30.0
    assert row["when"] == "in ~40 min"
    (now_row,) = data.alert_rows([alert | {"minutes_ahead": None}], now)
    assert now_row["when"] == "p90 stays below it in the horizon"
    events = [
        {"event": "opened", "at": "2026-11-27T11:30:00Z", "alert": alert},
        {
            "event": "resolved",
            "at": "2026-11-27T11:50:00Z",
            "alert": alert | {"status": "resolved"},
        },
    ]
    rows = data.recent_rows(events)
    assert [r["event"] for r in rows] == ["resolved", "opened"]
    assert rows[1]["lead_time_min"] == 40


@pytest.mark.parametrize(
    ("samples", "rate"),
    [
        ([], None),
        ([(0.0, 10)], None),
        ([(0.0, 10), (5.0, 60)], 10.0),
        ([(0.0, 60), (5.0, 1)], None),
    ],
)
def test_ingest_rate(samples: list[tuple[float, int]], rate: float | None) -> None:
    assert data.ingest_rate(samples) == rate


def test_model_counts() -> None:
    baseline = server() | {"model_type": "baseline"}
    assert data.model_counts({"a": server(), "b": baseline, "c": server()}) == {
        "TFT": 2,
        "baseline": 1,
    }
