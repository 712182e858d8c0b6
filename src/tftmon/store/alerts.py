"""Durable alert state in SQLite (WAL): open alerts, their event history, notifier cursors.

Three tables, created if missing so an older data dir upgrades in place:

- ``alerts``: the open alerts (one row per (server, metric), the alert as JSON, and how
  many consecutive cycles its pair has been below its level); a resolved alert leaves it.
- ``alert_events``: every opened, level-changed and resolved event, numbered; the newest
  ``keep_events`` are kept. Alert ids continue from the largest one any row holds.
- ``notify_cursor``: per notifier, the id of the newest event it delivered, so a restarted
  daemon re-sends only what was not delivered.

The daemon keeps them in its history file (``history.sqlite3``) through its own connection;
``path=None`` keeps them in memory (a tracker without a data dir, as in tests).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tftmon.errors import StoreError
from tftmon.store.sqlite import SQLiteFile
from tftmon.timefmt import parse_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, server TEXT NOT NULL, metric TEXT NOT NULL,
    below_cycles INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, UNIQUE (server, metric));
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, event TEXT NOT NULL,
    alert_id INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notify_cursor (notifier TEXT PRIMARY KEY, event_id INTEGER NOT NULL);
"""


def epoch_us(stamp: str) -> int:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as integer microseconds since
    the epoch."""
    return round(parse_iso(stamp).timestamp() * 1_000_000)


@dataclass(frozen=True, slots=True)
class StoredAlerts:
    """What a tracker resumes from: open alerts with their below-level cycle counts."""

    alerts: list[tuple[dict[str, Any], int]]
    next_alert_id: int
    next_event_id: int


class AlertStore(SQLiteFile):
    """Open alerts, alert events and notifier cursors; safe to call from several threads."""

    label = "alert store"

    def __init__(
        self, path: Path | None = None, *, synchronous: str = "FULL", keep_events: int = 100_000
    ) -> None:
        super().__init__(synchronous=synchronous)
        self.path = path
        self.keep_events = keep_events

    def open(self) -> None:
        """Open (creating if needed) the database and the alert tables."""
        if self.path is None:
            target = ":memory:"
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        try:
            conn = self._connect(target)
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"alert store could not be opened: {exc}") from exc
        self._conn = conn

    # ------------------------------------------------------------------ alerts

    def load(self) -> StoredAlerts:
        """The open alerts (by id) and the next free alert and event ids."""
        rows = self._query("SELECT body, below_cycles FROM alerts ORDER BY id")
        top_alert = self._query(
            "SELECT max(m) FROM (SELECT max(id) AS m FROM alerts "
            "UNION ALL SELECT max(alert_id) FROM alert_events)"
        )[0][0]
        return StoredAlerts(
            alerts=[(json.loads(body), int(below)) for body, below in rows],
            next_alert_id=int(top_alert or 0) + 1,
            next_event_id=self.newest_event_id() + 1,
        )

    def save(
        self,
        alerts: Sequence[tuple[dict[str, Any], int]],
        closed: Sequence[int],
        events: Sequence[dict[str, Any]],
    ) -> None:
        """In one transaction: upsert open ``alerts`` (with their below-level cycle counts),
        delete the ``closed`` alert ids, append ``events`` and drop the oldest beyond
        ``keep_events``."""
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO alerts (id, server, metric, below_cycles, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [(a["id"], a["server"], a["metric"], below, json.dumps(a)) for a, below in alerts],
            )
            conn.executemany("DELETE FROM alerts WHERE id = ?", [(i,) for i in closed])
            conn.executemany(
                "INSERT OR REPLACE INTO alert_events (id, at_us, event, alert_id, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (e["id"], epoch_us(e["at"]), e["event"], e["alert"]["id"], json.dumps(e))
                    for e in events
                ],
            )
            if events:
                newest = max(int(e["id"]) for e in events)
                conn.execute("DELETE FROM alert_events WHERE id <= ?", (newest - self.keep_events,))

    # ------------------------------------------------------------------ events

    def newest_event_id(self) -> int:
        """The largest event id stored (0 when none is)."""
        return int(self._query("SELECT max(id) FROM alert_events")[0][0] or 0)

    def events(
        self, *, since_us: int | None = None, before_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events with ``id < before_id`` and at or after ``since_us``,
        returned oldest first."""
        sql = "SELECT body FROM alert_events WHERE 1 = 1"
        params: list[object] = []
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        if since_us is not None:
            sql += " AND at_us >= ?"
            params.append(since_us)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [json.loads(body) for (body,) in reversed(rows)]

    def events_after(self, event_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Events with ``id > event_id``, oldest first: the newest ``limit`` of them."""
        rows = self._query(
            "SELECT body FROM alert_events WHERE id > ? ORDER BY id DESC LIMIT ?",
            (event_id, limit),
        )
        return [json.loads(body) for (body,) in reversed(rows)]

    # ------------------------------------------------------------------ notifier cursors

    def cursor(self, notifier: str) -> int | None:
        """The newest event id ``notifier`` delivered; None for a notifier never seen."""
        rows = self._query("SELECT event_id FROM notify_cursor WHERE notifier = ?", (notifier,))
        return int(rows[0][0]) if rows else None

    def set_cursor(self, notifier: str, event_id: int) -> None:
        """Record that ``notifier`` delivered every event up to ``event_id`` (never moves
        back)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO notify_cursor (notifier, event_id) VALUES (?, ?) "
                "ON CONFLICT (notifier) DO UPDATE SET event_id = max(event_id, excluded.event_id)",
                (notifier, event_id),
            )
