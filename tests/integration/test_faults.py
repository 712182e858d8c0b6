"""Fault runs against a real daemon: kill -9 at random moments under load, and a full disk.

Every record a 200 acknowledged must be in the store afterwards, whatever happened; the daemon
must come back each time. The disk is made full for real, from outside the process: the
daemon's file-size limit (``RLIMIT_FSIZE``, set with ``prlimit`` on its PID) is dropped to one
byte, so every SQLite write fails (EFBIG; Python ignores SIGXFSZ), then lifted again.
"""

from __future__ import annotations

import random
import resource
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import hours_ago, iso
from tests.servers import DaemonProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVERS = [f"fault{i:03d}" for i in range(50)]


def _batch(start: datetime, b: int, every_s: float = 2.0) -> list[dict[str, Any]]:
    """Batch ``b``: 10 time steps x 50 servers (500 records), ``every_s`` apart."""
    batch = []
    for k in range(10):
        t = iso(start + timedelta(seconds=every_s * (b * 10 + k)))
        batch += [{"timestamp": t, "server_name": s, "cpu_pct": 40.0} for s in SERVERS]
    return batch


def _stored(db: Path) -> set[tuple[str, int]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT s.name, x.ts_ms FROM samples x JOIN servers s USING (server_id)"
        ).fetchall()
    finally:
        conn.close()
    return {(str(name), int(ts)) for name, ts in rows}


def _keys(batch: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {
        (r["server_name"], int(datetime.fromisoformat(r["timestamp"]).timestamp() * 1000))
        for r in batch
    }


class Sender(threading.Thread):
    """Posts batches in order; remembers what a 200 acknowledged; a failed POST is sent
    again later (as a real sender would), so batches never run backwards in time."""

    def __init__(self, daemon: DaemonProcess, start: datetime, limit: int) -> None:
        super().__init__(daemon=True)
        self.daemon_process = daemon
        self.start_at = start
        self.limit = limit
        self.acknowledged: set[tuple[str, int]] = set()
        self.sent = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set() and self.sent < self.limit:
                batch = _batch(self.start_at, self.sent, every_s=1.0)
                try:
                    r = http.post(
                        f"{self.daemon_process.url}/feed",
                        json=batch,
                        headers={"X-API-Key": "test-key-0123456789abcdefghij"},
                    )
                except httpx.TransportError:
                    time.sleep(0.05)  # killed or restarting: try the same batch again
                    continue
                if r.status_code == 200:
                    body = r.json()
                    if body["accepted"] + body["duplicates"] != len(batch):
                        self.errors.append(str(body)[:500])
                    self.acknowledged |= _keys(batch)
                    self.sent += 1
                    time.sleep(0.01)  # paced: the kills must land while it sends
                else:
                    time.sleep(0.05)


def test_kill_9_loop_loses_no_acknowledged_record(tmp_path: Path) -> None:
    daemon = DaemonProcess(data_dir=tmp_path / "data", log=tmp_path / "daemon.log")
    daemon.start()
    sender = Sender(daemon, hours_ago(4), limit=1400)  # at most 14,000 s: none in the future
    sender.start()
    rng = random.Random(16)
    restarts = 0
    try:
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 1.5))
            assert sender.is_alive(), "the sender finished before the kills: send more"
            daemon.kill(signal.SIGKILL)
            daemon.start()  # fails the test if the daemon does not come back
            restarts += 1
        time.sleep(0.5)
    finally:
        sender.stop.set()
        sender.join(15)
        daemon.kill(signal.SIGKILL)
    assert restarts == 5
    print(f"{restarts} kill -9 + restarts; {sender.sent} batches acknowledged")
    assert not sender.errors, sender.errors[0]
    assert sender.sent >= 5, "the sender never got through"
    missing = sender.acknowledged - _stored(daemon.data_dir / "history.sqlite3")
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="prlimit is Linux-only")
def test_full_disk_refuses_with_503_and_loses_nothing(tmp_path: Path) -> None:
    daemon = DaemonProcess(data_dir=tmp_path / "data", log=tmp_path / "daemon.log")
    daemon.start()
    batches = [_batch(hours_ago(3), b) for b in range(6)]
    acknowledged: set[tuple[str, int]] = set()
    try:
        assert daemon.proc is not None
        pid = daemon.proc.pid
        with daemon.client() as http:
            assert http.post("/feed", json=batches[0]).status_code == 200
            acknowledged |= _keys(batches[0])
            soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))  # no file may grow
            for batch in batches[1:3]:
                r = http.post("/feed", json=batch)
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "store_unavailable"
                assert int(r.headers["Retry-After"]) > 0
            health = http.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))  # space again
            for batch in batches[1:]:  # the refused batches are sent again, then new ones
                r = http.post("/feed", json=batch)
                assert r.status_code == 200, r.text
                acknowledged |= _keys(batch)
            assert http.get("/health").json()["status"] == "ok"
        daemon.kill(signal.SIGKILL)
        daemon.start()
        with daemon.client() as http:
            assert http.get("/health").json()["status"] == "ok"
            again = http.post("/feed", json=batches[-1])  # the restart restored the history
            assert again.status_code == 200 and again.json()["duplicates"] == 500, again.text
    finally:
        daemon.kill(signal.SIGKILL)
    assert acknowledged <= _stored(daemon.data_dir / "history.sqlite3")
    assert len(acknowledged) == 6 * 500
