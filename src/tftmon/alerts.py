"""Alert lifecycle: one alert per (server, metric), opened, updated, resolved with hysteresis.

Each inference cycle proposes the (server, metric) pairs at warning or critical. A new pair
opens an alert; a known pair updates it (level, probability, minutes ahead, predicted
value); an alert resolves only after its pair has been below warning for
``resolve_after_cycles`` consecutive cycles, so a forecast hovering at the threshold does
not flap. Opened, changed-level and resolved events go to a bounded history.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from datetime import datetime
from typing import Any

_FIELDS = (
    "level",
    "severity",
    "probability",
    "predicted_value",
    "predicted_p90",
    "threshold",
    "minutes_ahead",
)
_OPTIONAL: dict[str, Any] = {"current_value": None, "cause": "forecast"}  # with defaults


class AlertTracker:
    """The open alerts and the recent alert events (thread-safe)."""

    def __init__(self, resolve_after_cycles: int = 2, history_size: int = 10_000) -> None:
        self.resolve_after_cycles = resolve_after_cycles
        self._active: dict[tuple[str, str], dict[str, Any]] = {}
        self._misses: dict[tuple[str, str], int] = {}
        self._history: deque[dict[str, Any]] = deque(maxlen=history_size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def update(self, candidates: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Apply one cycle's alerts; returns the events it caused."""
        stamp = now.isoformat().replace("+00:00", "Z")
        events: list[dict[str, Any]] = []
        with self._lock:
            seen = set()
            for alert in candidates:
                key = (alert["server"], alert["metric"])
                seen.add(key)
                self._misses.pop(key, None)
                current = self._active.get(key)
                if current is None:
                    opened = {
                        "id": next(self._ids),
                        **{k: alert[k] for k in ("server", "metric", *_FIELDS)},
                        **{k: alert.get(k, v) for k, v in _OPTIONAL.items()},
                        "status": "active",
                        "opened_at": stamp,
                        "updated_at": stamp,
                        "resolved_at": None,
                    }
                    self._active[key] = opened
                    events.append(self._event("opened", opened, stamp))
                    continue
                changed = current["level"] != alert["level"]
                current.update({k: alert[k] for k in _FIELDS})
                current.update({k: alert.get(k, v) for k, v in _OPTIONAL.items()})
                current["updated_at"] = stamp
                if changed:
                    events.append(self._event("level_changed", current, stamp))
            for key in [k for k in self._active if k not in seen]:
                self._misses[key] = self._misses.get(key, 0) + 1
                if self._misses[key] >= self.resolve_after_cycles:
                    resolved = self._active.pop(key)
                    self._misses.pop(key)
                    resolved.update({"status": "resolved", "resolved_at": stamp})
                    events.append(self._event("resolved", resolved, stamp))
            self._history.extend(events)
        return events

    def _event(self, kind: str, alert: dict[str, Any], stamp: str) -> dict[str, Any]:
        return {"event": kind, "at": stamp, "alert": dict(alert)}

    def active(self) -> list[dict[str, Any]]:
        """Open alerts, worst first."""
        order = {"critical": 0, "warning": 1}
        with self._lock:
            alerts = [dict(a) for a in self._active.values()]
        return sorted(alerts, key=lambda a: (order.get(a["level"], 2), -a["probability"]))

    def history(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Events, oldest first; only those at or after ``since`` when given."""
        with self._lock:
            events = list(self._history)
        if since is None:
            return events
        return [e for e in events if datetime.fromisoformat(e["at"]) >= since]
