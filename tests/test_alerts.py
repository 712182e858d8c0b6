"""Alert lifecycle: one per server-metric, updates, hysteresis on resolve, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tftmon.alerts import AlertTracker

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def alert(level: str = "warning", probability: float = 0.6, metric: str = "cpu_pct") -> dict:
    return {
        "server": "a",
        "metric": metric,
        "level": level,
        "severity": level,
        "probability": probability,
        "predicted_value": 90.0,
        "predicted_p90": 93.0,
        "threshold": 85.0,
        "minutes_ahead": 25,
    }


def test_one_alert_per_server_metric_with_hysteresis() -> None:
    tracker = AlertTracker(resolve_after_cycles=2)
    assert [e["event"] for e in tracker.update([alert()], T0)] == ["opened"]
    tracker.update([alert(probability=0.7)], T0 + timedelta(seconds=30))
    [active] = tracker.active()
    assert active["probability"] == 0.7 and active["id"] == 1
    assert active["opened_at"] == "2026-01-05T00:00:00Z"
    events = tracker.update([alert("critical", 0.9)], T0 + timedelta(seconds=60))
    assert [e["event"] for e in events] == ["level_changed"]
    # one quiet cycle is not enough to resolve (no flapping at the threshold)
    assert tracker.update([], T0 + timedelta(seconds=90)) == []
    assert len(tracker.active()) == 1
    tracker.update([alert("critical", 0.8)], T0 + timedelta(seconds=120))  # back: still id 1
    assert tracker.active()[0]["id"] == 1
    tracker.update([], T0 + timedelta(seconds=150))
    events = tracker.update([], T0 + timedelta(seconds=180))
    assert [e["event"] for e in events] == ["resolved"]
    assert events[0]["alert"]["resolved_at"] == "2026-01-05T00:03:00Z"
    assert tracker.active() == []
    history = tracker.history()
    assert [e["event"] for e in history] == ["opened", "level_changed", "resolved"]
    assert [e["event"] for e in tracker.history(T0 + timedelta(seconds=61))] == ["resolved"]


def test_metrics_are_separate_alerts_worst_first() -> None:
    tracker = AlertTracker()
    tracker.update([alert(), alert("critical", 0.9, metric="mem_pct")], T0)
    assert [a["metric"] for a in tracker.active()] == ["mem_pct", "cpu_pct"]
