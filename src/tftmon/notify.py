"""Alert notifications: a generic JSON webhook and the Alertmanager v2 API.

Notifications never block ingest or inference: the inference thread hands events to a
``NotificationDispatcher``, whose own thread sends them with retries (exponential backoff
with jitter) and drops the oldest batch, with an error in the log, when its bounded queue
is full. Alertmanager is sent every open alert on each cycle (it expects active alerts to
be re-sent, and resolves those it stops hearing about) plus resolved ones with ``endsAt``,
so its own routing to Slack, PagerDuty or email works unchanged.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

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


class AlertmanagerNotifier:
    """Posts to Alertmanager's ``/api/v2/alerts``."""

    name = "alertmanager"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        generator_url: str = "",
        client: httpx.Client | None = None,
    ):
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.generator_url = generator_url
        self._client = client or httpx.Client(timeout=timeout)

    def send(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        resolved = [e["alert"] for e in events if e["event"] == "resolved"]
        payload = [self._alert(a) for a in [*active, *resolved]]
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
            },
            "startsAt": alert["opened_at"],
        }
        if alert.get("resolved_at"):
            body["endsAt"] = alert["resolved_at"]
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


class NotificationDispatcher:
    """Sends on its own thread with retries; ``submit`` never blocks."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_queue: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.notifiers = list(notifiers)
        self.retries = retries
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[list[dict[str, Any]], list[dict[str, Any]]] | None]
        self._queue = queue.Queue(maxsize=max_queue)
        self._sleep = sleep
        self._thread = threading.Thread(target=self._run, name="tftmon-notify", daemon=True)
        if self.notifiers:
            self._thread.start()

    def submit(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        """Queue one cycle's events and open alerts for delivery."""
        if not self.notifiers:
            return
        while True:
            try:
                self._queue.put_nowait((events, active))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    logger.error("notification queue full: dropped the oldest cycle")
                except queue.Empty:
                    pass

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
            events, active = item
            for notifier in self.notifiers:
                self._deliver(notifier, events, active)

    def _deliver(
        self, notifier: Notifier, events: list[dict[str, Any]], active: list[dict[str, Any]]
    ) -> None:
        for attempt in range(self.retries + 1):
            try:
                notifier.send(events, active)
                self.sent += 1
                return
            except (httpx.HTTPError, OSError) as exc:
                if attempt == self.retries:
                    self.failed += 1
                    logger.error(
                        "%s notification failed after %d attempts: %s",
                        notifier.name,
                        attempt + 1,
                        exc,
                    )
                    return
                wait = self.backoff_s * 2**attempt * random.uniform(0.5, 1.0)
                logger.warning(
                    "%s notification failed (%s); retrying in %.1f s", notifier.name, exc, wait
                )
                self._sleep(wait)
