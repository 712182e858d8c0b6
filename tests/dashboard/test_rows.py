"""The dashboard's tables: servers, top risks, alerts, events (plain documents, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dashboard.samples import metric, server
from tftmon.dashboard.rows import (
    alert_rows,
    ingest_rate,
    model_counts,
    recent_rows,
    server_rows,
    top_risks,
)


def test_server_rows_riskiest_first() -> None:
    rows = server_rows({"a": server(), "b": server("critical", 90.0), "c": server("warning", 95.0)})
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
    rows = top_risks(predictions, alerts)
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
    rows = top_risks({**healthy, "zz-db": hot}, [])
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
    rows = top_risks(predictions, [])
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
    assert top_risks(predictions, [], limit=3)[2]["server"] == "d2-over-warning-far"
    assert len(top_risks(predictions, [], min_probability=0.5)) == 6


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
    rows = top_risks(predictions, [])
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
    (over, rising) = top_risks({"db1": server(cpu_pct=cpu, mem_pct=mem)}, [])
    assert over["metric"] == "cpu_pct" and over["cause"] == "current"
    assert over["at_stake"] == "warning" and over["expected"] == "now"
    assert over["summary"] == (
        "at 85 now (warning 80); 70% likely to reach critical 95 within 8 h, in ~40 min"
    )
    assert over["expected_at"] == ""
    # only exceed_warning_30m is above the floor: still a risk (P warning 8 h >= P 30 min)
    assert rising["metric"] == "mem_pct" and rising["p_warning_8h"] == 0.3
    assert rising["at_stake"] == "warning" and rising["expected"] == "within 8 h"


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
    (row,) = alert_rows([_alert()], now)
    assert row["lead_time_min"] == 40 and row["open_for_min"] == 30.0
    assert row["current"] == 72.3 and row["cause"] == "forecast"
    assert row["summary"] == "90% likely to reach critical 95, in ~40 min (now 72.3)"
    (unsure,) = alert_rows([_alert(minutes_ahead=None, probability=0.62)], now)
    assert unsure["summary"] == "62% likely to reach critical 95 (now 72.3)"


def test_a_current_cause_alert_states_the_value_and_threshold() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    current = _alert(cause="current", current_value=97.1, minutes_ahead=None, probability=0.4)
    (row,) = alert_rows([current], now)
    assert row["cause"] == "current" and row["current"] == 97.1
    assert row["summary"] == "at 97.1 now (critical 95)"
    # an older daemon's alert without a cause: told from its current value
    older = {k: v for k, v in current.items() if k != "cause"}
    (row,) = alert_rows([older], now)
    assert row["cause"] == "current" and row["summary"] == "at 97.1 now (critical 95)"
    assert "p90" not in row["summary"]


def test_alert_rows_word_the_latest_forecast_of_the_pair() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    # an alert still open from an earlier cycle, the value since back to 35.3
    held = _alert(cause="current", current_value=99.0, minutes_ahead=0, probability=1.0)
    calm = metric([35.3], critical_p=0.05, warning_p=0.1, minutes_to_critical=None)
    (row,) = alert_rows([held], now, {"db1": server(mem_pct=calm)})
    assert row["cause"] == "forecast" and row["current"] == 35.3
    assert row["summary"] == "5% likely to reach critical 95 within 8 h (now 35.3)"
    assert row["probability"] == 1.0  # the alert's own, as it was opened or last changed
    # a forecast alert whose metric is now over the threshold
    hot = {"db1": server(mem_pct=metric([97.1], critical_p=0.6))}
    (row,) = alert_rows([_alert()], now, hot)
    assert row["cause"] == "current" and row["summary"] == "at 97.1 now (critical 95)"
    # a warning alert about the critical threshold is worded as critical
    rising = {"db1": server(mem_pct=metric([70.0], critical_p=0.5, minutes_to_critical=90))}
    (row,) = alert_rows([_alert(level="warning")], now, rising)
    assert row["summary"] == "50% likely to reach critical 95 within 8 h, in ~90 min (now 70)"
    # thresholds changed since the alert: the alert's own values
    moved = {"db1": server(mem_pct=metric([70.0], critical=90.0, critical_p=0.9))}
    (row,) = alert_rows([_alert()], now, moved)
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
    rows = recent_rows(events)
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
    assert ingest_rate(samples) == rate


def test_model_counts() -> None:
    baseline = server() | {"model_type": "baseline"}
    assert model_counts({"a": server(), "b": baseline, "c": server()}) == {
        "TFT": 2,
        "baseline": 1,
    }
