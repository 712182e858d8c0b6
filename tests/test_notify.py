"""Notifications: a real Alertmanager follows the alert lifecycle over a restart; the webhook
retries and gets every event; delivery never blocks and resumes what a restart left."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.servers import Alertmanager, wait_for
from tests.test_alerts import alert as candidate
from tftmon.alerting.lifecycle import AlertTracker
from tftmon.alerting.notifiers import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from tftmon.api import create_app
from tftmon.store.alerts import AlertStore

pytestmark = pytest.mark.integration


def tracked(level: str = "critical", resolved: str | None = None) -> dict:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": 1,
        "server": "ppdb001",
        "metric": "mem_pct",
        "level": level,
        "severity": level,
        "probability": 0.92,
        "predicted_value": 99.1,
        "predicted_p90": 99.6,
        "threshold": 99.0,
        "minutes_ahead": 25,
        "status": "resolved" if resolved else "active",
        "opened_at": now,
        "updated_at": now,
        "resolved_at": resolved,
    }


def am_alerts(server: Alertmanager, **params: str) -> list[dict]:
    """Alertmanager's alerts that are not resolved (active, silenced, inhibited alike)."""
    return httpx.get(f"{server.url}/api/v2/alerts", params=params, timeout=5).json()


def am_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def test_alertmanager_receives_and_resolves(alertmanager: Alertmanager) -> None:
    notifier = AlertmanagerNotifier(alertmanager.url)
    alert_sent = tracked()
    notifier.send([{"event": "opened", "alert": alert_sent}], [alert_sent])
    [alert] = am_alerts(alertmanager)
    assert alert["labels"]["server"] == "ppdb001"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["alertname"] == "TftmonPredictedThresholdCrossing"
    assert "in about 25 min" in alert["annotations"]["summary"]
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"] == "http://127.0.0.1:8501/?server=ppdb001"
    ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    closed = {**alert_sent, "resolved_at": ended, "status": "resolved"}
    notifier.send([{"event": "resolved", "alert": closed}], [])
    wait_for(lambda: am_alerts(alertmanager) == [])


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


class Daemon:
    """The alert half of a daemon on one SQLite file: store, tracker, dispatcher."""

    def __init__(self, path: Path, alertmanager: Alertmanager) -> None:
        self.store = AlertStore(path)
        self.store.open()
        self.tracker = AlertTracker(self.store, min_hold_s=0)
        notifier = AlertmanagerNotifier(alertmanager.url)
        self.dispatcher = NotificationDispatcher([notifier], log=self.store, backoff_s=0.1)
        self.dispatcher.resume(self.tracker.active())

    def cycle(self, *candidates: dict[str, Any], deliver: bool = True) -> list[str]:
        events = self.tracker.update(list(candidates), datetime.now(UTC))
        if deliver:
            sent = self.dispatcher.sent
            self.dispatcher.submit(events, self.tracker.active())
            wait_for(lambda: self.dispatcher.sent > sent)
        return kinds(events)

    def stop(self) -> None:
        self.dispatcher.close()
        self.store.close()


def test_alertmanager_follows_the_lifecycle_over_restarts(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite3"

    def firing() -> list[dict]:
        return am_alerts(alertmanager, filter='server="a"')

    def severities() -> list[str]:
        return sorted(a["labels"]["severity"] for a in firing())

    daemon = Daemon(path, alertmanager)
    try:
        assert daemon.cycle(candidate()) == ["opened"]
        wait_for(lambda: severities() == ["warning"])
        # escalation; the daemon dies before the event is delivered (warning still fires)
        assert daemon.cycle(candidate("critical", 0.9), deliver=False) == ["level_changed"]
        daemon.stop()
        assert severities() == ["warning"]

        daemon = Daemon(path, alertmanager)  # resumes: the undelivered event ends warning
        wait_for(lambda: severities() == ["critical"])  # no stale severity
        [critical] = firing()
        [alert] = daemon.tracker.active()
        # Alertmanager shows milliseconds: the critical label set began at the escalation
        gap = am_time(critical["startsAt"]) - am_time(alert["level_since"])
        assert abs(gap.total_seconds()) < 0.001
        assert daemon.cycle(candidate("critical", 0.9)) == []
        daemon.stop()

        daemon = Daemon(path, alertmanager)  # a clean restart: nothing opens again
        assert daemon.cycle(candidate("critical", 0.9)) == []
        [again] = firing()  # one alert per label set, the same one
        assert again["fingerprint"] == critical["fingerprint"]
        assert again["startsAt"] == critical["startsAt"]

        assert daemon.cycle(candidate()) == []  # below critical once: kept
        assert daemon.cycle(candidate()) == ["level_changed"]
        wait_for(lambda: severities() == ["warning"])  # critical ended explicitly
        assert daemon.cycle() == []
        assert daemon.cycle() == ["resolved"]
        wait_for(lambda: firing() == [])  # resolved: not active, silenced or inhibited
        assert am_alerts(alertmanager, active="false") == []
        history = kinds(daemon.tracker.history())
        assert history == ["opened", "level_changed", "level_changed", "resolved"]
    finally:
        daemon.stop()


def test_daemon_alerts_reach_alertmanager_once_over_a_restart(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, alertmanager_url=alertmanager.url, dashboard_url="https://dash.example/"
    )

    def ours() -> list[dict]:
        return am_alerts(alertmanager, filter='server="ppweb009"')

    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        c.post("/feed", json=records(["ppweb009"], hours_ago(2), 240, cpu_pct=97.0))
        c.app.state.daemon.cycle.run_cycle()
        wait_for(lambda: len(ours()) == 1)
        [opened] = c.get("/alerts/active").json()
    [alert] = ours()
    assert alert["labels"]["metric"] == "cpu_pct"
    assert alert["annotations"]["cause"] == "current"
    assert alert["annotations"]["summary"] == "ppweb009: cpu_pct is at 97.0 (threshold 95)"
    assert alert["generatorURL"] == "https://dash.example/?server=ppweb009"
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        dispatcher = c.app.state.daemon.alerts.dispatcher
        c.app.state.daemon.cycle.run_cycle()
        wait_for(lambda: dispatcher.sent >= 1)
        [event] = c.get("/alerts/history").json()  # no second "opened"
        assert event["event"] == "opened" and event["alert"]["id"] == opened["id"]
        [active] = c.get("/alerts/active").json()
        kept = ("id", "level", "opened_at", "level_since")
        assert [active[k] for k in kept] == [opened[k] for k in kept]
    [again] = ours()
    assert (again["fingerprint"], again["startsAt"]) == (alert["fingerprint"], alert["startsAt"])


def test_webhook_gets_each_event_with_the_level_it_left() -> None:
    received: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    webhook = WebhookNotifier("http://hooks.example/tftmon", client=client)
    tracker = AlertTracker(min_hold_s=0, resolve_after_cycles=1)
    cycles = [[candidate()], [candidate("critical", 0.9)], [candidate()], [], []]
    for step, candidates in enumerate(cycles):
        events = tracker.update(candidates, datetime(2026, 1, 5, 0, step, tzinfo=UTC))
        webhook.send(events, tracker.active())
    assert len(received) == 4  # a cycle without events sends nothing
    events = [e for body in received for e in body["events"]]
    assert [(e["event"], e["previous_level"], e["alert"]["level"]) for e in events] == [
        ("opened", None, "warning"),
        ("level_changed", "warning", "critical"),
        ("level_changed", "critical", "warning"),
        ("resolved", None, "warning"),
    ]
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert events[2]["previous_level_since"] == "2026-01-05T00:01:00Z"


class Flaky:
    """A notifier that records what it delivers, or fails while ``failing``."""

    name = "webhook"

    def __init__(self) -> None:
        self.failing = False
        self.delivered: list[list[dict[str, Any]]] = []

    def send(self, events: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
        if self.failing:
            raise httpx.ConnectError("down")
        self.delivered.append(events)


def test_a_restart_resends_only_what_was_not_delivered(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "history.sqlite3")
    store.open()
    tracker = AlertTracker(store, min_hold_s=0)
    first = Flaky()
    dispatcher = NotificationDispatcher([first], log=store, retries=0)
    assert dispatcher.resume([]) == 0
    now = datetime.now(UTC)
    dispatcher.submit(tracker.update([candidate()], now), tracker.active())
    wait_for(lambda: len(first.delivered) == 1)
    first.failing = True
    dispatcher.submit(tracker.update([candidate("critical")], now), tracker.active())
    dispatcher.close()
    assert dispatcher.failed == 1 and store.cursor("webhook") == 1

    second = Flaky()
    later = NotificationDispatcher([second], log=store)
    assert later.resume(tracker.active()) == 1
    later.close()
    [[event]] = second.delivered
    assert (event["id"], event["event"], event["previous_level"]) == (2, "level_changed", "warning")
    assert store.cursor("webhook") == 2
    assert NotificationDispatcher([Flaky()], log=store).resume([]) == 0


class Recorder(BaseHTTPRequestHandler):
    """A webhook that answers nothing until ``gate`` is set, then fails ``fail_first`` times."""

    received: list[dict] = []
    fail_first = 1
    gate = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.gate.wait(30)  # bounded: a test that fails does not leave it hanging
        if Recorder.fail_first > 0:
            Recorder.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        Recorder.received.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_retries_and_never_blocks() -> None:
    Recorder.received, Recorder.fail_first = [], 1
    Recorder.gate.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        dispatcher = NotificationDispatcher([WebhookNotifier(url)], backoff_s=0.05)
        returned = threading.Event()

        def submit() -> None:
            dispatcher.submit([{"event": "opened", "alert": tracked()}], [tracked()])
            returned.set()

        threading.Thread(target=submit, daemon=True).start()
        # the webhook answers nothing until the gate opens: submit must not wait for it
        wait_for(returned.is_set, 5, "submit to return while the webhook has not answered")
        Recorder.gate.set()
        wait_for(lambda: len(Recorder.received) == 1, what="the retried delivery")
        assert Recorder.received[0]["events"][0]["alert"]["server"] == "ppdb001"
        dispatcher.close()
        assert dispatcher.sent == 1 and dispatcher.failed == 0
    finally:
        Recorder.gate.set()
        server.shutdown()
