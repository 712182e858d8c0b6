"""Notifications: a real Alertmanager receives alerts; the webhook retries; never blocking."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.servers import Alertmanager, wait_for
from tftmon.api import create_app
from tftmon.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier

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


def am_alerts(server: Alertmanager) -> list[dict]:
    return httpx.get(f"{server.url}/api/v2/alerts", timeout=5).json()


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
    ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    closed = {**alert_sent, "resolved_at": ended, "status": "resolved"}
    notifier.send([{"event": "resolved", "alert": closed}], [])
    wait_for(lambda: am_alerts(alertmanager) == [])


def test_daemon_alerts_reach_alertmanager(alertmanager: Alertmanager, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, alertmanager_url=alertmanager.url)
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        c.post("/feed", json=records(["ppweb009"], hours_ago(2), 240, cpu_pct=97.0))
        c.app.state.tftmon.service.run_cycle()
        wait_for(lambda: any(a["labels"]["server"] == "ppweb009" for a in am_alerts(alertmanager)))
    [alert] = [a for a in am_alerts(alertmanager) if a["labels"]["server"] == "ppweb009"]
    assert alert["labels"]["metric"] == "cpu_pct"
    assert alert["annotations"]["cause"] == "current"
    assert alert["annotations"]["summary"] == "ppweb009: cpu_pct is at 97.0 (threshold 95)"


class Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
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
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        dispatcher = NotificationDispatcher([WebhookNotifier(url)], backoff_s=0.05)
        started = time.perf_counter()
        dispatcher.submit([{"event": "opened", "alert": tracked()}], [tracked()])
        assert time.perf_counter() - started < 0.05  # submit returns at once
        wait_for(lambda: len(Recorder.received) == 1)
        assert Recorder.received[0]["events"][0]["alert"]["server"] == "ppdb001"
        dispatcher.close()
        assert dispatcher.sent == 1 and dispatcher.failed == 0
    finally:
        server.shutdown()
