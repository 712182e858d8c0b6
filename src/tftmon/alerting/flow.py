"""One cycle's alert candidates through the lifecycle to the notifiers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tftmon.alerting.lifecycle import AlertTracker
from tftmon.alerting.notifiers import NotificationDispatcher


class AlertFlow:
    """Applies a cycle's candidates to the open alerts and hands what changed to delivery.

    Args:
        tracker: the open alerts and their persisted history.
        dispatcher: delivers events to the notifiers on its own thread.
    """

    def __init__(
        self, tracker: AlertTracker | None = None, dispatcher: NotificationDispatcher | None = None
    ) -> None:
        self.tracker = tracker or AlertTracker()
        self.dispatcher = dispatcher or NotificationDispatcher([])

    def apply(self, candidates: list[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
        """Every candidate of a cycle, hold-only ones too; returns the events it caused."""
        events = self.tracker.update(candidates, at)
        self.dispatcher.submit(events, self.tracker.active())
        return events

    def active(self) -> list[dict[str, Any]]:
        """The open alerts."""
        return self.tracker.active()

    def history(
        self, since: datetime | None, *, before_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """One page of alert events, oldest first (``AlertTracker.history``)."""
        return self.tracker.history(since, before_id=before_id, limit=limit)
