"""Alert lifecycle: one alert per (server, metric) whose level can change, kept durably.

Each inference cycle hands over its candidates (``serving.document._alert``): a pair that meets
the opening rule (``opens``) at ``level``, or one that may only keep an open alert at up to
``hold_level`` (value hysteresis). For a pair with an open alert the target level is the
candidate's opening level, or its current level capped by ``hold_level``, whichever is
higher; no candidate means no target.

- No alert and ``opens``: it opens at ``level`` (event ``opened``).
- Target above the alert's level: it escalates at once (``level_changed``).
- Target below (or none): it de-escalates (``level_changed``) or resolves (``resolved``)
  only once it has kept its level for ``min_hold_s`` *and* its pair has been below that
  level for ``resolve_after_cycles`` consecutive cycles (time hysteresis), so a series
  hovering at a threshold does not flap.

While the tracker keeps a level other than the candidate's, only ``current_value``,
``predicted_value``, ``predicted_p90`` and ``updated_at`` follow the candidate; threshold,
probability and cause keep describing the alert's own level.

Open alerts, events and ids live in an ``AlertStore`` (the daemon's SQLite file), so a
restarted daemon resumes the same alerts: same ids, ``opened_at`` and level, no new
``opened`` event.

A server that leaves the fleet ends its open alerts at once, whatever the hysteresis: a
stale server (no data for ``TFTMON_STALE_AFTER_S``, passed as ``gone`` each cycle) and a
deleted one (``resolve_servers``). Each gets a ``resolved`` event like any other, so the
notifiers learn it; ``resolved_reason`` says why an alert ended: ``cleared`` (its pair fell
below its level), ``stale`` or ``deleted``.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Collection
from datetime import datetime
from typing import Any, Final

from tftmon.errors import StoreError
from tftmon.schemas import ALERT_LEVELS
from tftmon.store.alerts import AlertStore
from tftmon.timefmt import iso_z, parse_iso

logger = logging.getLogger(__name__)

_FIELDS: Final = (
    "level",
    "severity",
    "probability",
    "predicted_value",
    "predicted_p90",
    "threshold",
    "minutes_ahead",
)
_OPTIONAL: Final[dict[str, Any]] = {"current_value": None, "cause": "forecast"}
_FOLLOWED: Final = ("current_value", "predicted_value", "predicted_p90")  # at any level
_MAX_PENDING: Final = 10_000  # events kept for a store that cannot be written


def _rank(level: str | None) -> int:
    return ALERT_LEVELS.index(level) if level else 0


class AlertTracker:
    """The open alerts and their history (thread-safe).

    Args:
        store: where alerts and events are kept; an in-memory store when None. It is
            opened here if it is not yet, and the open alerts it holds are resumed.
        resolve_after_cycles: consecutive cycles below its level before an alert may
            de-escalate or resolve.
        min_hold_s: seconds an alert keeps a level before it may de-escalate or resolve.
    """

    def __init__(
        self,
        store: AlertStore | None = None,
        *,
        resolve_after_cycles: int = 2,
        min_hold_s: float = 600.0,
    ) -> None:
        self.store = store or AlertStore()
        if not self.store.is_open:
            self.store.open()
        self.resolve_after_cycles = resolve_after_cycles
        self.min_hold_s = min_hold_s
        stored = self.store.load()
        self._active: dict[tuple[str, str], dict[str, Any]] = {}
        self._below: dict[tuple[str, str], int] = {}
        for alert, below in stored.alerts:
            key = (alert["server"], alert["metric"])
            alert.setdefault("level_since", alert["opened_at"])
            self._active[key] = alert
            if below:
                self._below[key] = below
        self._alert_ids = itertools.count(stored.next_alert_id)
        self._event_ids = itertools.count(stored.next_event_id)
        self._unsaved_alerts: dict[int, dict[str, Any] | None] = {}  # None: closed
        self._unsaved_events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if self._active:
            logger.info("resumed %d open alerts", len(self._active))

    def update(
        self, candidates: list[dict[str, Any]], now: datetime, gone: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """Apply one cycle's candidates; returns the events it caused (also stored).

        ``gone``: stale servers, whose open alerts resolve at once (reason ``stale``).
        """
        stamp = iso_z(now)
        by_pair = {(c["server"], c["metric"]): c for c in candidates}
        events: list[dict[str, Any]] = []
        with self._lock:
            for key in list(self._active):
                if key[0] in gone:
                    events.append(self._resolve(key, stamp, "stale"))
                else:
                    events.extend(self._follow(key, by_pair.get(key), now, stamp))
            for key, candidate in by_pair.items():
                if key not in self._active and candidate.get("opens", True):
                    events.append(self._open(key, candidate, stamp))
            for alert in self._active.values():
                self._unsaved_alerts[alert["id"]] = alert
            self._unsaved_events.extend(events)
            self._persist()
        return events

    def resolve_servers(
        self, servers: Collection[str], reason: str, now: datetime
    ) -> list[dict[str, Any]]:
        """Resolve every open alert of ``servers`` at once (a deleted server); returns the
        events (also stored)."""
        stamp = iso_z(now)
        with self._lock:
            events = [
                self._resolve(k, stamp, reason) for k in list(self._active) if k[0] in servers
            ]
            self._unsaved_events.extend(events)
            self._persist()
        return events

    def _resolve(self, key: tuple[str, str], stamp: str, reason: str) -> dict[str, Any]:
        """End an open alert: it leaves the open alerts with a ``resolved`` event."""
        alert = self._active.pop(key)
        self._below.pop(key, None)
        self._unsaved_alerts[alert["id"]] = None
        alert.update(
            {
                "status": "resolved",
                "resolved_at": stamp,
                "updated_at": stamp,
                "resolved_reason": reason,
            }
        )
        return self._event("resolved", alert, stamp)

    def _open(self, key: tuple[str, str], candidate: dict[str, Any], stamp: str) -> dict[str, Any]:
        alert = {
            "id": next(self._alert_ids),
            "server": key[0],
            "metric": key[1],
            **{k: candidate[k] for k in _FIELDS},
            **{k: candidate.get(k, v) for k, v in _OPTIONAL.items()},
            "status": "active",
            "opened_at": stamp,
            "level_since": stamp,
            "updated_at": stamp,
            "resolved_at": None,
        }
        self._active[key] = alert
        return self._event("opened", alert, stamp)

    def _follow(
        self,
        key: tuple[str, str],
        candidate: dict[str, Any] | None,
        now: datetime,
        stamp: str,
    ) -> list[dict[str, Any]]:
        """One cycle of an open alert: escalate, keep, de-escalate or resolve it."""
        alert = self._active[key]
        level = _rank(alert["level"])
        target = 0
        if candidate is not None:
            if candidate.get("opens", True):
                target = _rank(candidate["level"])
            hold = _rank(candidate.get("hold_level", candidate["level"]))
            target = max(target, min(level, hold))
        if target >= level:
            self._below.pop(key, None)
            if target > level:
                return [self._change_level(alert, target, candidate, stamp)]
            _refresh(alert, candidate, stamp)
            return []
        below = self._below[key] = self._below.get(key, 0) + 1
        since = parse_iso(alert["level_since"])
        held = (now - since).total_seconds() >= self.min_hold_s
        if below < self.resolve_after_cycles or not held:
            _refresh(alert, candidate, stamp)
            return []
        self._below.pop(key, None)
        if target == 0:
            return [self._resolve(key, stamp, "cleared")]
        return [self._change_level(alert, target, candidate, stamp)]

    def _change_level(
        self, alert: dict[str, Any], target: int, candidate: dict[str, Any] | None, stamp: str
    ) -> dict[str, Any]:
        previous, previous_since = alert["level"], alert["level_since"]
        name = ALERT_LEVELS[target]
        alert.update({"level": name, "severity": name, "level_since": stamp})
        _refresh(alert, candidate, stamp)
        return self._event(
            "level_changed", alert, stamp, previous_level=previous, previous_since=previous_since
        )

    def _event(
        self,
        kind: str,
        alert: dict[str, Any],
        stamp: str,
        *,
        previous_level: str | None = None,
        previous_since: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": next(self._event_ids),
            "event": kind,
            "at": stamp,
            "alert": dict(alert),
            "previous_level": previous_level,
            "previous_level_since": previous_since,
        }

    def _persist(self) -> None:
        """Write what changed; on a store error keep it for the next cycle."""
        if not self._unsaved_alerts and not self._unsaved_events:
            return
        alerts = [(a, self._below.get((a["server"], a["metric"]), 0)) for a in self._unsaved()]
        closed = [i for i, a in self._unsaved_alerts.items() if a is None]
        try:
            self.store.save(alerts, closed, self._unsaved_events)
        except StoreError as exc:
            if len(self._unsaved_events) > _MAX_PENDING:
                del self._unsaved_events[:-_MAX_PENDING]
            logger.error("alert state not saved (will retry next cycle): %s", exc)
            return
        self._unsaved_alerts.clear()
        self._unsaved_events.clear()

    def _unsaved(self) -> list[dict[str, Any]]:
        return [a for a in self._unsaved_alerts.values() if a is not None]

    def active(self) -> list[dict[str, Any]]:
        """Open alerts, worst first."""
        with self._lock:
            alerts = [dict(a) for a in self._active.values()]
        return sorted(alerts, key=lambda a: (-_rank(a["level"]), -a["probability"], a["id"]))

    def history(
        self,
        since: datetime | None = None,
        *,
        before_id: int | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events with ``id < before_id`` and at or after ``since``,
        oldest first; pass the first event's id as ``before_id`` for the page before."""
        since_us = None if since is None else round(since.timestamp() * 1_000_000)
        with self._lock:
            self._persist()  # events of a store that failed before are not lost from view
            return self.store.events(since_us=since_us, before_id=before_id, limit=limit)


def _refresh(alert: dict[str, Any], candidate: dict[str, Any] | None, stamp: str) -> None:
    """Follow a candidate: every field at the alert's level, else only the values."""
    if candidate is None:
        return
    if candidate["level"] == alert["level"]:
        alert.update({k: candidate[k] for k in _FIELDS})
        alert.update({k: candidate.get(k, v) for k, v in _OPTIONAL.items()})
    else:
        alert.update({k: candidate.get(k, alert.get(k)) for k in _FOLLOWED})
    alert["updated_at"] = stamp
