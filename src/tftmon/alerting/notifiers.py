"""Alert notifications: a generic JSON webhook and the Alertmanager v2 API.

Notifications never block ingest or inference: the inference thread hands events to a
``NotificationDispatcher``, whose own thread sends them with retries (exponential backoff
with jitter from ``tftmon.retry``, at most a minute apart) and drops the oldest batch, with
an error in the log, when its bounded queue is full. With a ``NotificationLog`` (the alert
store) each notifier's newest delivered event id is kept, and ``resume`` re-sends what a
previous run did not deliver.

Alertmanager identifies an alert by its label set, and ``severity`` is a label: each cycle
sends every open alert (it expects them re-sent, and resolves those it stops hearing
about) with ``startsAt`` = when it reached its level, plus, with ``endsAt``, the label set
a level change left (the old severity) and resolved alerts, so no stale severity stays
active and its own routing to Slack, PagerDuty or email works unchanged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol
from urllib.parse import urlencode

import httpx

from tftmon.retry import Backoff, retry_call

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    """Delivers one cycle's alert events and open alerts somewhere."""

    name: str

    def send(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        """Deliver; raise on failure (the dispatcher retries)."""
        ...


class WebhookNotifier:
    """POSTs ``{"source": "tftmon", "events": [...]}`` for every cycle with events."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.Client | None = None):
        self.url = url
        self._client = client or httpx.Client(timeout=timeout)

    def send(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        if not events:
            return
        response = self._client.post(self.url, json={"source": "tftmon", "events": events})
        response.raise_for_status()


DEFAULT_DASHBOARD_URL: Final = "http://127.0.0.1:8501"
MAX_BACKOFF_S: Final = 60.0  # the longest wait between two attempts of one delivery


def dashboard_link(dashboard_url: str, server: str) -> str:
    """The dashboard page of ``server``: ``{dashboard_url}/?server={server}``."""
    return f"{dashboard_url.rstrip('/')}/?{urlencode({'server': server})}"


class AlertmanagerNotifier:
    """Posts to Alertmanager's ``/api/v2/alerts``; ``generatorURL`` links the dashboard."""

    name = "alertmanager"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        dashboard_url: str = DEFAULT_DASHBOARD_URL,
        client: httpx.Client | None = None,
    ):
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.dashboard_url = dashboard_url
        self._client = client or httpx.Client(timeout=timeout)

    def send(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        firing = [self._alert(a) for a in active]
        live = {_label_key(body) for body in firing}
        ended = [self._alert(a) for a in ended_label_sets(events)]
        # a label set that fires again (a level back, an alert reopened) is not ended
        payload = [body for body in ended if _label_key(body) not in live] + firing
        if not payload:
            return
        response = self._client.post(self.url, json=payload)
        response.raise_for_status()

    def _alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        minutes = alert.get("minutes_ahead")
        when = "now" if minutes in (None, 0) else f"in about {minutes} min"
        if alert.get("cause") == "current":
            summary = (
                f"{alert['server']}: {alert['metric']} is at {alert.get('current_value')} "
                f"(threshold {alert['threshold']:g})"
            )
        else:
            summary = (
                f"{alert['server']}: {alert['metric']} predicted to cross "
                f"{alert['threshold']:g} {when}"
            )
        body: dict[str, Any] = {
            "labels": {
                "alertname": "TftmonPredictedThresholdCrossing",
                "server": alert["server"],
                "metric": alert["metric"],
                "severity": alert["level"],
                "service": "tftmon",
            },
            "annotations": {
                "summary": summary,
                "cause": str(alert.get("cause", "forecast")),
                "probability": f"{alert['probability']:.2f}",
                "predicted_value": f"{alert['predicted_value']:g}",
                "predicted_p90": f"{alert['predicted_p90']:g}",
                "threshold": f"{alert['threshold']:g}",
                "minutes_ahead": "" if minutes is None else str(minutes),
                "opened_at": alert["opened_at"],
            },
            # the label set (with its severity) began when the alert reached this level
            "startsAt": alert.get("level_since") or alert["opened_at"],
            "generatorURL": dashboard_link(self.dashboard_url, alert["server"]),
        }
        if alert.get("resolved_at"):
            body["endsAt"] = alert["resolved_at"]
        return body


def ended_label_sets(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts, as of their old level, that events end: a resolved alert, and the level
    a ``level_changed`` left (``resolved_at`` = the change)."""
    ended = []
    for event in events:
        alert = event["alert"]
        if event["event"] == "resolved":
            ended.append(alert)
        elif event["event"] == "level_changed" and event.get("previous_level"):
            old = event["previous_level"]
            since = event.get("previous_level_since") or alert["opened_at"]
            ended.append({**alert, "level": old, "level_since": since, "resolved_at": event["at"]})
    return ended


def _label_key(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(body["labels"].items()))


class NotificationLog(Protocol):
    """Where each notifier's delivered-event cursor is kept (``store.alerts.AlertStore``)."""

    def cursor(self, notifier: str) -> int | None:
        """The newest event id delivered; None for a notifier never seen."""
        ...

    def set_cursor(self, notifier: str, event_id: int) -> None:
        """Record delivery of every event up to ``event_id``."""
        ...

    def newest_event_id(self) -> int:
        """The newest event id stored (0: none)."""
        ...

    def events_after(self, event_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Events after ``event_id``, oldest first."""
        ...


_Batch = tuple[list[dict[str, Any]], list[dict[str, Any]], frozenset[str] | None]


class NotificationDispatcher:
    """Sends on its own thread with retries; ``submit`` never blocks.

    Args:
        notifiers: where to deliver.
        log: keeps each notifier's newest delivered event id (none: nothing is kept).
        retries, backoff_s: attempts after the first, and the first backoff.
        max_queue: batches waiting before the oldest is dropped.
        sleep: how to wait between attempts (tests pass a fake).
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        log: NotificationLog | None = None,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_queue: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.notifiers = list(notifiers)
        self.log = log
        self.retries = retries
        self.backoff_s = backoff_s
        self._backoff = Backoff(initial_s=backoff_s, cap_s=max(backoff_s, MAX_BACKOFF_S))
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=max_queue)
        self._sleep = sleep
        self._thread = threading.Thread(target=self._run, name="tftmon-notify", daemon=True)
        if self.notifiers:
            self._thread.start()

    def submit(
        self,
        events: list[dict[str, Any]],
        active: list[dict[str, Any]],
        *,
        only: frozenset[str] | None = None,
    ) -> None:
        """Queue one cycle's events and open alerts for delivery (to the notifiers named
        in ``only``, or all)."""
        if not self.notifiers:
            return
        while True:
            try:
                self._queue.put_nowait((events, active, only))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    logger.error("notification queue full: dropped the oldest cycle")
                except queue.Empty:
                    pass

    def resume(self, active: list[dict[str, Any]], limit: int = 1000) -> int:
        """At start: queue, per notifier, the events a previous run did not deliver (the
        newest ``limit``); a notifier seen for the first time starts after the newest event.
        Returns how many events were queued."""
        if self.log is None:
            return 0
        queued = 0
        for notifier in self.notifiers:
            cursor = self.log.cursor(notifier.name)
            if cursor is None:
                self.log.set_cursor(notifier.name, self.log.newest_event_id())
                continue
            events = self.log.events_after(cursor, limit)
            if events:
                logger.info(
                    "%s: re-sending %d undelivered alert events", notifier.name, len(events)
                )
                self.submit(events, active, only=frozenset({notifier.name}))
                queued += len(events)
        return queued

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (within ``timeout``) and stop."""
        if self.notifiers and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            events, active, only = item
            for notifier in self.notifiers:
                if only is not None and notifier.name not in only:
                    continue
                if self._deliver(notifier, events, active) and events:
                    self._delivered(notifier.name, events)

    def _delivered(self, name: str, events: list[dict[str, Any]]) -> None:
        ids = [int(e["id"]) for e in events if "id" in e]
        if self.log is None or not ids:
            return
        try:
            self.log.set_cursor(name, max(ids))
        except Exception:  # a cursor not kept means a re-send after restart, nothing worse
            logger.exception("%s: delivered-event cursor not saved", name)

    def _deliver(
        self, notifier: Notifier, events: list[dict[str, Any]], active: list[dict[str, Any]]
    ) -> bool:
        try:
            retry_call(
                lambda: notifier.send(events, active),
                retries=self.retries,
                backoff=self._backoff,
                retry_on=(httpx.HTTPError, OSError),
                sleep=self._sleep,
                what=f"{notifier.name} notification",
            )
        except (httpx.HTTPError, OSError) as exc:
            self.failed += 1
            logger.error(
                "%s notification failed after %d attempts: %s",
                notifier.name,
                self.retries + 1,
                exc,
            )
            return False
        self.sent += 1
        return True
