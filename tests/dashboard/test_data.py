"""Fetching and shaping for the dashboard: config, problems, rows (MockTransport, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def test_top_risks_say_which_metric_what_is_at_stake_when_and_how_likely() -> None:
    predictions = {
        "db1": server(
            "critical",
            100.0,
            mem_pct=metric([70.0], critical_p=0.8, warning_p=1.0),
            cpu_pct=metric([10.0]),
        ),
        "web1": server("warning", 40.0, latency_ms=metric([1.0], warning_p=0.6, critical_p=0.1)),
    }
    alerts = [
        {
            "server": "db1",
            "metric": "mem_pct",
            "level": "critical",
            "threshold": 95.0,
            "minutes_ahead": 25,
        }
    ]
    rows = data.top_risks(predictions, alerts)
    assert [(r["server"], r["metric"]) for r in rows] == [
        ("db1", "mem_pct"),
        ("web1", "latency_ms"),
    ]
    db1, web1 = rows
    assert db1["at_stake"] == "critical" and db1["probability"] == 0.8
    assert db1["threshold"] == 95.0 and db1["current"] == 70.0 and db1["cause"] == "forecast"
    # no minutes_to_critical from this daemon: the alert on the pair says when
    assert db1["minutes_ahead"] == 25 and db1["expected"] == "in ~25 min"
    assert db1["expected_at"] == "00:25 UTC" and db1["alert"] == "critical"
    assert db1["summary"] == "80% likely to reach critical 95 within 8 h, in ~25 min (now 70)"
    assert web1["at_stake"] == "warning" and web1["probability"] == 0.6
    assert web1["minutes_ahead"] is None and web1["threshold"] == 80.0
    assert web1["expected"] == "within 8 h" and web1["expected_at"] == ""
    assert web1["summary"] == "60% likely to reach warning 80 within 8 h (now 1)"


def test_a_metric_over_critical_is_the_top_risk_and_healthy_pairs_are_left_out() -> None:
    # 20 healthy servers with high risk scores and server-level alerts, tiny probabilities
    healthy = {
        f"web{i:02d}": server(
            "critical",
            99.0,
            cpu_pct=metric([20.0], critical_p=0.01, warning_p=0.04, critical_30m=0.01),
            mem_pct=metric([40.0], warning_p=0.02),
        )
        for i in range(20)
    }
    # a daemon that predates the fix: probabilities low although already over critical
    hot = server("healthy", 1.0, mem_pct=metric([97.1], critical_p=0.02, warning_p=0.03))
    rows = data.top_risks({**healthy, "zz-db": hot}, [])
    assert len(rows) == 1
    (row,) = rows
    assert (row["server"], row["metric"], row["cause"]) == ("zz-db", "mem_pct", "current")
    assert row["at_stake"] == "critical" and row["probability"] == 1.0
    assert row["expected"] == "now" and row["minutes_ahead"] == 0
    assert row["summary"] == "at 97.1 now (critical 95)"


def test_top_risks_rank_by_the_probability_of_the_earliest_crossing() -> None:
    # server-level levels and scores point the other way: the ranking reads the pairs only
    predictions = {
        "a-crit-8h": server("critical", 99.0, cpu_pct=metric([10.0], critical_p=0.06)),
        "b-warn-8h": server("healthy", 10.0, cpu_pct=metric([10.0], warning_p=0.99)),
        "c-crit-30m": server("watch", 50.0, cpu_pct=metric([10.0], critical_30m=0.5)),
        "c-crit-30m-below": server("critical", 90.0, cpu_pct=metric([10.0], critical_30m=0.45)),
        "d1-over-warning-near": server("watch", 5.0, cpu_pct=metric([81.0])),
        "d2-over-warning-far": server("watch", 5.0, latency_ms=metric([400.0], 250.0, 1000.0)),
        "e1-over-critical-near": server("healthy", 0.0, cpu_pct=metric([96.0])),
        "e2-over-critical-far": server("healthy", 0.0, mem_pct=metric([99.0])),
        "f-noise": server("critical", 100.0, cpu_pct=metric([10.0], warning_p=0.049)),
    }
    rows = data.top_risks(predictions, [])
    assert [r["server"] for r in rows] == [
        "e2-over-critical-far",  # 4.2 % over critical 95
        "e1-over-critical-near",  # 1.1 % over
        "d2-over-warning-far",  # latency 400: 60 % over warning 250
        "d1-over-warning-near",  # cpu 81: 1.25 % over warning 80
        "c-crit-30m",  # P(critical within 30 min) 0.5
        "b-warn-8h",  # P(warning within 8 h) 0.99: the earliest crossing, likely
        "c-crit-30m-below",  # P(warning 8 h) >= P(critical 30 min) 0.45
        "a-crit-8h",  # P(critical within 8 h) 0.06, so P(warning within 8 h) 0.06
    ]
    assert [r["cause"] for r in rows] == ["current"] * 4 + ["forecast"] * 4
    assert data.top_risks(predictions, [], limit=3)[2]["server"] == "d2-over-warning-far"
    assert len(data.top_risks(predictions, [], min_probability=0.5)) == 6


def test_top_risks_break_ties_by_p_critical_then_the_sooner_warning_crossing() -> None:
    def pair(critical_p: float, minutes: int | None) -> dict[str, Any]:
        return server(
            cpu_pct=metric([10.0], warning_p=0.7, critical_p=critical_p, minutes_to_warning=minutes)
        )

    predictions = {
        "a-unknown": pair(0.2, None),
        "b-later": pair(0.2, 90),
        "c-sooner": pair(0.2, 30),
        "d-likelier-critical": pair(0.3, 200),
    }
    rows = data.top_risks(predictions, [])
    assert [r["server"] for r in rows] == [
        "d-likelier-critical",
        "c-sooner",
        "b-later",
        "a-unknown",
    ]


def test_top_risks_read_the_newer_keys_when_the_daemon_sends_them() -> None:
    cpu = metric(
        [85.0],
        warning_p=1.0,
        critical_30m=0.2,
        critical_p=0.7,
        warning_30m=1.0,
        minutes_to_warning=0,
        minutes_to_critical=40,
    )
    mem = metric([10.0], warning_30m=0.3, minutes_to_warning=None, minutes_to_critical=None)
    (over, rising) = data.top_risks({"db1": server(cpu_pct=cpu, mem_pct=mem)}, [])
    assert over["metric"] == "cpu_pct" and over["cause"] == "current"
    assert over["at_stake"] == "warning" and over["expected"] == "now"
    assert over["summary"] == (
        "at 85 now (warning 80); 70% likely to reach critical 95 within 8 h, in ~40 min"
    )
    assert over["expected_at"] == ""
    # only exceed_warning_30m is above the floor: still a risk (P warning 8 h >= P 30 min)
    assert rising["metric"] == "mem_pct" and rising["p_warning_8h"] == 0.3
    assert rising["at_stake"] == "warning" and rising["expected"] == "within 8 h"


def test_when_text() -> None:
    assert data.when_text(None, over=True) == "now"
    assert data.when_text(0) == "at the next step"
    assert data.when_text(30) == "in ~30 min"
    assert data.when_text(300) == "in ~5.0 h"
    assert data.when_text(None) == "within 8 h"


def test_crossing_text_agrees_with_the_cause() -> None:
    def text(*args: Any) -> str:
        return data.crossing_text(data.Outlook(*args))

    assert text("critical", 95.0, 97.1, "current", None, 0.3) == "at 97.1 now (critical 95)"
    assert text("warning", 80.0, None, "current", 0, 1.0) == "over warning 80 now"
    assert (
        text("critical", 95.0, 72.25, "forecast", 130, 0.9, "8 h")
        == "90% likely to reach critical 95 within 8 h, in ~2.2 h (now 72.25)"
    )
    assert (
        text("warning", 1500.0, None, "forecast", None, 0.62, "8 h")
        == "62% likely to reach warning 1,500 within 8 h"
    )
    assert text("warning", 80.0, 70.0, "forecast", 0, None) == (
        "expected to reach warning 80 at the next step (now 70)"
    )
    assert text("warning", 80.0, None, "forecast", None, None) == "may reach warning 80"


def _alert(**fields: object) -> dict[str, object]:
    return {
        "server": "db1",
        "metric": "mem_pct",
        "level": "critical",
        "probability": 0.9,
        "minutes_ahead": 40,
        "predicted_p90": 99.0,
        "threshold": 95.0,
        "current_value": 72.3,
        "cause": "forecast",
        "opened_at": "2026-11-27T11:30:00Z",
        "status": "active",
    } | fields


def test_alert_rows_say_current_value_cause_and_lead_time() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    (row,) = data.alert_rows([_alert()], now)
    assert row["lead_time_min"] == 40 and row["open_for_min"] == 30.0
    assert row["current"] == 72.3 and row["cause"] == "forecast"
    assert row["summary"] == "90% likely to reach critical 95, in ~40 min (now 72.3)"
    (unsure,) = data.alert_rows([_alert(minutes_ahead=None, probability=0.62)], now)
    assert unsure["summary"] == "62% likely to reach critical 95 (now 72.3)"


def test_a_current_cause_alert_states_the_value_and_threshold() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    current = _alert(cause="current", current_value=97.1, minutes_ahead=None, probability=0.4)
    (row,) = data.alert_rows([current], now)
    assert row["cause"] == "current" and row["current"] == 97.1
    assert row["summary"] == "at 97.1 now (critical 95)"
    # an older daemon's alert without a cause: told from its current value
    older = {k: v for k, v in current.items() if k != "cause"}
    (row,) = data.alert_rows([older], now)
    assert row["cause"] == "current" and row["summary"] == "at 97.1 now (critical 95)"
    assert "p90" not in row["summary"]


def test_alert_rows_word_the_latest_forecast_of_the_pair() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    # an alert still open from an earlier cycle, the value since back to 35.3
    held = _alert(cause="current", current_value=99.0, minutes_ahead=0, probability=1.0)
    calm = metric([35.3], critical_p=0.05, warning_p=0.1, minutes_to_critical=None)
    (row,) = data.alert_rows([held], now, {"db1": server(mem_pct=calm)})
    assert row["cause"] == "forecast" and row["current"] == 35.3
    assert row["summary"] == "5% likely to reach critical 95 within 8 h (now 35.3)"
    assert row["probability"] == 1.0  # the alert's own, as it was opened or last changed
    # a forecast alert whose metric is now over the threshold
    hot = {"db1": server(mem_pct=metric([97.1], critical_p=0.6))}
    (row,) = data.alert_rows([_alert()], now, hot)
    assert row["cause"] == "current" and row["summary"] == "at 97.1 now (critical 95)"
    # a warning alert about the critical threshold is worded as critical
    rising = {"db1": server(mem_pct=metric([70.0], critical_p=0.5, minutes_to_critical=90))}
    (row,) = data.alert_rows([_alert(level="warning")], now, rising)
    assert row["summary"] == "50% likely to reach critical 95 within 8 h, in ~90 min (now 70)"
    # thresholds changed since the alert: the alert's own values
    moved = {"db1": server(mem_pct=metric([70.0], critical=90.0, critical_p=0.9))}
    (row,) = data.alert_rows([_alert()], now, moved)
    assert row["summary"] == "90% likely to reach critical 95, in ~40 min (now 72.3)"


def test_recent_events_carry_cause_and_lead_times() -> None:
    alert = _alert(cause="current", current_value=96.0)
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
    assert rows[1]["cause"] == "current" and rows[1]["current"] == 96.0


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
