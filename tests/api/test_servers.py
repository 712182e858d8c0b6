"""``DELETE /servers/{name}``: admin scope, 404 for an unknown name, and a restart after it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import hours_ago, make_settings, records
from tftmon.api import create_app
from tftmon.settings import Settings

ADMIN = "admin-only-0123456789abcdefghij"
OTHER = "ingest-read-0123456789abcdefghij"


def app_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, api_keys=[f"{ADMIN}:admin", f"{OTHER}:ingest+read"])


def test_delete_needs_admin_and_answers_what_it_removed(tmp_path: Path) -> None:
    settings = app_settings(tmp_path)
    with TestClient(create_app(settings), headers={"X-API-Key": OTHER}) as c:
        fed = c.post("/feed", json=records(["web001", "db001"], hours_ago(2), 20, every_s=300))
        assert fed.status_code == 200, fed.text
        c.app.state.daemon.cycle.run_cycle()
        assert c.delete("/servers/web001").status_code == 403  # ingest+read is not enough
        answer = c.delete("/servers/web001", headers={"X-API-Key": ADMIN})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["server_name"] == "web001" and body["samples_deleted"] == 20
        assert body["buckets_deleted"] == 19 and body["alerts_resolved"] == 0
        again = c.delete("/servers/web001", headers={"X-API-Key": ADMIN})
        assert again.status_code == 404 and again.json()["code"] == "not_found"
        assert c.get("/servers/web001/history").status_code == 404
        status = c.get("/status").json()
        assert list(status["servers"]) == ["db001"] and status["servers_tracked"] == 1
        c.app.state.daemon.cycle.run_cycle()
        assert list(c.get("/predictions/current").json()["predictions"]) == ["db001"]
        # the name comes back as a new server
        assert c.post("/feed", json=records(["web001"], hours_ago(0.2), 3)).status_code == 200
        assert c.get("/status").json()["servers"]["web001"]["history_steps"] <= 1

    with TestClient(create_app(settings), headers={"X-API-Key": OTHER}) as c:  # a restart
        status = c.get("/status").json()
        assert sorted(status["servers"]) == ["db001", "web001"]
        assert status["servers"]["db001"]["history_steps"] == 19
        history = c.get("/servers/web001/history").json()
        assert len(history["timestamps"]) <= 2  # only the new server's samples


def test_status_feed_and_metrics_leave_stale_servers_out(tmp_path: Path) -> None:
    for stale_after_s, tracked in ((3600.0, 1), (0.0, 2)):  # 0: never stale
        settings = make_settings(
            tmp_path / str(tracked), api_keys=[f"{OTHER}:ingest+read"], stale_after_s=stale_after_s
        )
        with TestClient(create_app(settings), headers={"X-API-Key": OTHER}) as c:
            c.post("/feed", json=records(["gone001"], hours_ago(3), 1))
            fed = c.post("/feed", json=records(["here001"], hours_ago(1), 2)).json()
            assert (fed["servers_tracked"], fed["warmup_complete"]) == (tracked, False)
            status = c.get("/status").json()
            assert status["servers_tracked"] == tracked
            assert status["servers"]["gone001"]["stale"] is (tracked == 1)
            stale_gauge = f"tftmon_servers_stale {2.0 - tracked}"
            assert stale_gauge in c.get("/metrics").text
