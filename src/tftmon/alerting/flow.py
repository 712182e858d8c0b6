"""One cycle's alert candidates through the lifecycle to the notifiers."""

from __future__ import annotations

from collections.abc import Collection
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

    def apply(
        self, candidates: list[dict[str, Any]], at: datetime, stale: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """Every candidate of a cycle, hold-only ones too; the open alerts of ``stale``
        servers resolve (reason ``stale``). Returns the events it caused."""
        events = self.tracker.update(candidates, at, gone=stale)
        self.dispatcher.submit(events, self.tracker.active())
        return events

    def resolve_servers(
        self, servers: Collection[str], reason: str, at: datetime
    ) -> list[dict[str, Any]]:
        """Resolve the open alerts of ``servers`` now (``reason``: e.g. ``deleted``) and
        hand the events to delivery."""
        events = self.tracker.resolve_servers(servers, reason, at)
        if events:
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
