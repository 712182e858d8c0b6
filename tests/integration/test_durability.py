"""kill -9 right after acknowledged batches: nothing acknowledged is lost, warm-up is back."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.conftest import hours_ago, records
from tests.servers import DaemonProcess

pytestmark = pytest.mark.integration


def test_kill_9_loses_no_acknowledged_record(daemon: DaemonProcess) -> None:
    servers = [f"ppweb{i:03d}" for i in range(1, 11)]
    batch = records(servers, hours_ago(2), 240, every_s=30, cpu_pct=35.0, mem_pct=55.0)
    acknowledged = 0
    with daemon.client() as c:
        for start in range(0, len(batch), 500):
            r = c.post("/feed", json=batch[start : start + 500])
            assert r.status_code == 200
            acknowledged += r.json()["accepted"]
        before = c.get("/status").json()
        history_before = c.get("/servers/ppweb003/history", params={"hours": 3}).json()
    daemon.kill()  # SIGKILL straight after the last acknowledgement

    db = daemon.data_dir / "history.sqlite3"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == acknowledged == 2400
    conn.close()

    daemon.start()
    with daemon.client() as c:
        after = c.get("/status").json()
        assert after["records_ingested"] == 0  # counts this process's ingest only
        assert after["servers_tracked"] == before["servers_tracked"] == 10
        assert after["servers_ready"] == before["servers_ready"] == 10
        assert after["is_warmed_up"] is True
        for name in servers:
            assert (
                after["servers"][name]["history_steps"] == before["servers"][name]["history_steps"]
            )
        history_after = c.get("/servers/ppweb003/history", params={"hours": 3}).json()
        assert history_after == history_before
        # re-sending everything after the crash is harmless
        resent = c.post("/feed", json=batch[:500]).json()
        assert (resent["accepted"], resent["duplicates"]) == (0, 500)
        # and the restored daemon forecasts every server
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = c.get("/predictions/current").json()
            if len(doc["predictions"]) == 10:
                break
            time.sleep(0.2)
        assert sorted(doc["predictions"]) == servers
