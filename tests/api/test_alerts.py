"""``/alerts/active`` and ``/alerts/history``: pages of a history that survives restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, records
from tests.servers import wait_for
from tests.test_alerts import alert
from tftmon.api import create_app
from tftmon.settings import Settings

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_history_pages_back_and_survives_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        cycle = c.app.state.daemon.cycle
        wait_for(lambda: cycle.cycles >= 1)  # the start-up cycle is not racing ours
        tracker = cycle.alerts.tracker
        tracker.min_hold_s = 0
        for i in range(6):  # open and resolve three times: 6 events
            tracker.update([alert(metric="mem_pct")] if i % 2 == 0 else [], T0)
            tracker.update([], T0 + timedelta(minutes=i + 1))
        tracker.update([alert()], T0 + timedelta(hours=1))  # open: 7th event
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        [active] = c.get("/alerts/active").json()
        assert (active["id"], active["metric"], active["level_since"]) == (
            4,
            "cpu_pct",
            "2026-01-05T01:00:00Z",
        )
        page = c.get("/alerts/history", params={"limit": 3}).json()
        assert [e["id"] for e in page] == [5, 6, 7]
        before = page[0]["id"]
        page = c.get("/alerts/history", params={"limit": 3, "before_id": before}).json()
        assert [e["id"] for e in page] == [2, 3, 4]
        last = c.get("/alerts/history", params={"limit": 3, "before_id": 2}).json()
        assert [e["event"] for e in last] == ["opened"]  # shorter than limit: the first page
        since = c.get("/alerts/history", params={"since": "2026-01-05T00:30:00Z"}).json()
        assert [(e["id"], e["event"]) for e in since] == [(7, "opened")]
        assert c.get("/alerts/history", params={"limit": 0}).status_code == 422
        assert c.get("/alerts/history", params={"before_id": "x"}).status_code == 422


def test_a_hold_only_pair_keeps_its_alert_but_is_not_in_the_predictions(
    client: TestClient,
) -> None:
    cycle = client.app.state.daemon.cycle
    wait_for(lambda: cycle.cycles >= 1)
    tracker = cycle.alerts.tracker
    tracker.min_hold_s = 0
    opened = alert() | {"server": "ppweb009"}  # cpu_pct at warning
    tracker.update([opened], datetime.now(UTC) - timedelta(hours=1))
    # 84 %: just under the 85 % warning threshold, within the value band: hold only
    client.post("/feed", json=records(["ppweb009"], hours_ago(2), 240, cpu_pct=84.0))
    for _ in range(3):
        cycle.run_cycle()
    assert client.get("/predictions/current").json()["alerts"] == []
    [kept] = client.get("/alerts/active").json()
    assert (kept["server"], kept["level"], kept["current_value"]) == ("ppweb009", "warning", 84.0)
    assert [e["event"] for e in client.get("/alerts/history").json()] == ["opened"]


def test_the_paging_is_in_the_openapi_document(settings: Settings) -> None:
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        spec = c.get("/openapi.json").json()
    history = spec["paths"]["/alerts/history"]["get"]
    assert "before_id" in history["description"]
    assert {p["name"] for p in history["parameters"]} >= {"since", "before_id", "limit"}
    event = spec["components"]["schemas"]["AlertEvent"]["properties"]
    assert {"id", "previous_level", "previous_level_since"} <= set(event)


def test_since_is_a_date_and_time_as_documented(client: TestClient) -> None:
    """An epoch number or a bare date is refused (the document says date-time), per field."""
    for value in ("1767571200", "2026-01-05", "yesterday"):
        answer = client.get("/alerts/history", params={"since": value})
        assert answer.status_code == 422, value
        body = answer.json()
        assert body["code"] == "invalid_request"
        assert body["errors"][0]["field"] == "query.since"
    naive = client.get("/alerts/history", params={"since": "2026-01-05T00:30:00"})
    assert naive.status_code == 200 and naive.json() == []  # no offset: UTC
