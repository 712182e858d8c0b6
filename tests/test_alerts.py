"""Alert lifecycle: one per server-metric, escalation at once, time hysteresis, resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tftmon.alerting.lifecycle import AlertTracker
from tftmon.store.alerts import AlertStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)
CYCLE = timedelta(seconds=30)


def alert(
    level: str = "warning",
    probability: float = 0.6,
    metric: str = "cpu_pct",
    *,
    opens: bool = True,
    hold: str | None = None,
    value: float = 90.0,
) -> dict[str, Any]:
    """A candidate as ``predictions._alert`` makes it."""
    return {
        "server": "a",
        "metric": metric,
        "level": level,
        "severity": level,
        "opens": opens,
        "hold_level": hold or level,
        "probability": probability,
        "predicted_value": value,
        "predicted_p90": value + 3,
        "threshold": 85.0 if level == "warning" else 95.0,
        "minutes_ahead": 25,
        "current_value": value - 5,
        "cause": "forecast",
    }


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_one_alert_per_server_metric_escalates_at_once() -> None:
    tracker = AlertTracker(resolve_after_cycles=2, min_hold_s=600)
    assert kinds(tracker.update([alert()], T0)) == ["opened"]
    tracker.update([alert(probability=0.7)], T0 + CYCLE)
    [active] = tracker.active()
    assert active["probability"] == 0.7 and active["id"] == 1
    assert active["opened_at"] == active["level_since"] == "2026-01-05T00:00:00Z"
    [event] = tracker.update([alert("critical", 0.9)], T0 + 2 * CYCLE)
    assert event["event"] == "level_changed"
    assert event["previous_level"] == "warning"
    assert event["previous_level_since"] == "2026-01-05T00:00:00Z"
    assert event["alert"]["level"] == "critical" and event["alert"]["threshold"] == 95.0
    assert event["alert"]["level_since"] == "2026-01-05T00:01:00Z"
    assert event["alert"]["opened_at"] == "2026-01-05T00:00:00Z"


def test_de_escalation_and_resolve_wait_for_the_hold_and_two_cycles() -> None:
    tracker = AlertTracker(resolve_after_cycles=2, min_hold_s=600)
    tracker.update([alert("critical", 0.9)], T0)
    # below critical at once, but the level is kept until it is held 10 min
    for i in range(1, 20):
        assert tracker.update([alert("warning", 0.6, value=91.0 + i)], T0 + i * CYCLE) == []
    [kept] = tracker.active()
    assert kept["level"] == "critical"
    assert kept["threshold"] == 95.0 and kept["probability"] == 0.9  # its own level's
    assert kept["predicted_value"] == 110.0 and kept["current_value"] == 105.0  # followed
    assert kept["updated_at"] == "2026-01-05T00:09:30Z"
    [event] = tracker.update([alert("warning", 0.6)], T0 + 20 * CYCLE)  # 10 min held
    assert event["event"] == "level_changed" and event["previous_level"] == "critical"
    assert event["alert"]["threshold"] == 85.0 and event["alert"]["level"] == "warning"
    # resolving: one quiet cycle is never enough, even long after the hold
    later = T0 + timedelta(hours=1)
    assert tracker.update([], later) == []
    assert tracker.update([alert()], later + CYCLE) == []  # back: the count starts again
    assert tracker.update([], later + 2 * CYCLE) == []
    [resolved] = tracker.update([], later + 3 * CYCLE)
    assert resolved["event"] == "resolved"
    assert resolved["alert"]["resolved_at"] == "2026-01-05T01:01:30Z"
    assert resolved["alert"]["status"] == "resolved" and tracker.active() == []
    assert kinds(tracker.history()) == ["opened", "level_changed", "resolved"]
    assert kinds(tracker.history(T0 + timedelta(minutes=11))) == ["resolved"]


def test_hold_only_candidates_keep_but_never_open() -> None:
    tracker = AlertTracker(min_hold_s=0)
    assert tracker.update([alert(opens=False)], T0) == []  # nothing open: nothing to hold
    tracker.update([alert("critical", 0.9)], T0 + CYCLE)
    # a hold-only candidate at critical keeps the critical alert, cycles on end
    for i in range(2, 10):
        held = alert("critical", 0.4, opens=False, value=94.0)
        assert tracker.update([held], T0 + i * CYCLE) == []
    assert tracker.active()[0]["level"] == "critical"
    # a warning opening with a critical hold keeps critical too: values follow, not the level's
    both = alert("warning", 0.7, hold="critical", value=93.0)
    assert tracker.update([both], T0 + 10 * CYCLE) == []
    [kept] = tracker.active()
    assert kept["level"] == "critical" and kept["threshold"] == 95.0
    assert kept["predicted_value"] == 93.0
    # hold only up to warning: down to warning after two cycles (no minimum hold here)
    down = alert("warning", 0.3, opens=False)
    assert tracker.update([down], T0 + 11 * CYCLE) == []
    [event] = tracker.update([down], T0 + 12 * CYCLE)
    assert (event["previous_level"], event["alert"]["level"]) == ("critical", "warning")


def test_a_series_at_the_threshold_does_not_flap() -> None:
    tracker = AlertTracker(resolve_after_cycles=2, min_hold_s=600)
    pattern = [[alert()], [alert(opens=False)], [], [], [alert(opens=False)], [], [alert()]]
    events = []
    for i in range(19):  # 9.5 min of open / hold-only / none, twice none two cycles running
        events += tracker.update(pattern[i % len(pattern)], T0 + i * CYCLE)
    assert kinds(events) == ["opened"]
    # warning and critical by turns: one escalation, no de-escalation inside the hold
    events = []
    for i in range(19, 38):
        level = "critical" if i % 2 else "warning"
        events += tracker.update([alert(level, 0.8)], T0 + i * CYCLE)
    assert kinds(events) == ["level_changed"]
    assert tracker.active()[0]["level"] == "critical"


def test_metrics_are_separate_alerts_worst_first() -> None:
    tracker = AlertTracker()
    tracker.update([alert(), alert("critical", 0.9, metric="mem_pct")], T0)
    assert [a["metric"] for a in tracker.active()] == ["mem_pct", "cpu_pct"]


def test_a_restart_resumes_open_alerts_without_reopening(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = AlertStore(path)
    tracker = AlertTracker(store, min_hold_s=0)
    tracker.update([alert(), alert(metric="mem_pct")], T0)
    tracker.update([alert()], T0 + CYCLE)  # mem_pct below once
    tracker.update([alert()], T0 + 2 * CYCLE)
    [mem_resolved] = [e for e in tracker.history() if e["event"] == "resolved"]
    before = tracker.active()
    store.close()

    again = AlertTracker(AlertStore(path), min_hold_s=0)
    assert again.active() == before
    assert again.update([alert()], T0 + 3 * CYCLE) == []  # the same alert: no "opened"
    [cpu] = again.active()
    assert (cpu["id"], cpu["opened_at"]) == (1, "2026-01-05T00:00:00Z")
    [reopened] = again.update([alert(metric="mem_pct")], T0 + 4 * CYCLE)
    assert reopened["alert"]["id"] == 3  # ids go on after a restart
    history = again.history()
    assert kinds(history) == ["opened", "opened", "resolved", "opened"]
    assert [e["id"] for e in history] == [1, 2, 3, 4]
    assert mem_resolved in history


def test_the_below_count_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    tracker = AlertTracker(AlertStore(path), min_hold_s=0)
    tracker.update([alert()], T0)
    tracker.update([], T0 + CYCLE)
    tracker.store.close()
    again = AlertTracker(AlertStore(path), min_hold_s=0)
    assert kinds(again.update([], T0 + 2 * CYCLE)) == ["resolved"]


def test_history_pages_newest_first_by_before_id() -> None:
    tracker = AlertTracker(min_hold_s=0, resolve_after_cycles=1)
    for i in range(5):  # open and resolve: 10 events
        tracker.update([alert()], T0 + 2 * i * CYCLE)
        tracker.update([], T0 + (2 * i + 1) * CYCLE)
    page = tracker.history(limit=4)
    assert [e["id"] for e in page] == [7, 8, 9, 10]  # the newest, oldest first
    page = tracker.history(limit=4, before_id=page[0]["id"])
    assert [e["id"] for e in page] == [3, 4, 5, 6]
    assert [e["id"] for e in tracker.history(limit=4, before_id=3)] == [1, 2]
    assert [e["id"] for e in tracker.history(T0 + 8 * CYCLE, limit=4)] == [9, 10]


def test_a_failing_store_loses_no_event(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "history.sqlite3")
    tracker = AlertTracker(store)
    store.close()  # every write fails now
    assert kinds(tracker.update([alert()], T0)) == ["opened"]
    store.open()
    tracker.update([alert()], T0 + CYCLE)
    assert kinds(tracker.history()) == ["opened"]
    fresh = AlertStore(store.path)
    fresh.open()
    assert [a["id"] for a, _ in fresh.load().alerts] == [1]
