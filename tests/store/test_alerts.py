"""The alert store: beside the history in one WAL file, upgrades old files, prunes, cursors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tftmon.schemas import METRICS
from tftmon.store.alerts import AlertStore
from tftmon.store.history import HistoryStore, ServerRow


def event(event_id: int, alert_id: int = 1, at: str = "2026-01-05T00:00:00Z") -> dict[str, Any]:
    alert = {"id": alert_id, "server": "a", "metric": "cpu_pct", "level": "warning"}
    return {"id": event_id, "event": "opened", "at": at, "alert": alert}


def test_an_old_history_file_gains_the_alert_tables(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history = HistoryStore(path, METRICS, 300)
    history.open()
    history.add_servers([ServerRow(0, "a", "generic")])
    store = AlertStore(path)
    store.open()
    assert store.load().next_alert_id == 1 and store.load().alerts == []
    store.save([({"id": 1, "server": "a", "metric": "cpu_pct"}, 1)], [], [event(1)])
    history.add_servers([ServerRow(1, "b", "generic")])  # both write the same file
    store.close()
    history.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alerts", "alert_events", "notify_cursor", "servers", "samples"} <= tables
    again = AlertStore(path)
    again.open()
    loaded = again.load()
    assert loaded.alerts == [({"id": 1, "server": "a", "metric": "cpu_pct"}, 1)]
    assert (loaded.next_alert_id, loaded.next_event_id) == (2, 2)


def test_closed_alerts_leave_and_ids_still_go_on(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "a.sqlite3")
    store.open()
    store.save([({"id": 7, "server": "a", "metric": "cpu_pct"}, 0)], [], [event(1, 7)])
    store.save([], [7], [event(2, 7)])
    loaded = store.load()
    assert loaded.alerts == [] and loaded.next_alert_id == 8 and loaded.next_event_id == 3


def test_only_the_newest_events_are_kept(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "a.sqlite3", keep_events=3)
    store.open()
    store.save([], [], [event(i) for i in range(1, 6)])
    assert [e["id"] for e in store.events()] == [3, 4, 5]
    assert [e["id"] for e in store.events_after(3)] == [4, 5]
    assert [e["id"] for e in store.events(before_id=5, limit=1)] == [4]


def test_since_compares_times_not_strings() -> None:
    store = AlertStore()
    store.open()
    # "…00Z" sorts after "…00.5Z" as text, though it is earlier
    store.save([], [], [event(1, at="2026-01-05T00:00:00Z"), event(2, at="2026-01-05T00:00:00.5Z")])
    since = 1_767_571_200_250_000  # 2026-01-05T00:00:00.25Z
    assert [e["id"] for e in store.events(since_us=since)] == [2]


def test_a_cursor_never_moves_back() -> None:
    store = AlertStore()
    store.open()
    assert store.cursor("webhook") is None
    store.set_cursor("webhook", 5)
    store.set_cursor("webhook", 3)  # an older batch delivered late
    assert store.cursor("webhook") == 5
    assert store.cursor("alertmanager") is None
