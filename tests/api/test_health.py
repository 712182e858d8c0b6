"""/health says "degraded", and why, while store writes or a background loop fail; a failed
store write answers 503 with Retry-After and is counted on /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tftmon.api import create_app


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll ``check`` until it returns something true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def set_disk_full(client: TestClient, full: bool) -> None:
    """The history database may not grow (SQLite answers "database or disk is full")."""
    conn = client.app.state.daemon.fleet.history._connection()  # type: ignore[attr-defined]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages if full else 1 << 30}")


def test_store_failures_answer_503_and_degrade_health(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        failed_write_then_recovery(client)
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        assert client.get("/health").json()["status"] == "ok"  # it starts again
        status = client.get("/status").json()
        assert len(status["servers"]) == 3  # "a" is stale (an hour older than b and c)


def failed_write_then_recovery(client: TestClient) -> None:
    assert client.post("/feed", json=records(["a"], hours_ago(2), 5)).status_code == 200
    assert client.get("/health").json()["status"] == "ok"

    set_disk_full(client, True)
    r = client.post("/feed", json=records(["b", "c"], hours_ago(5), 500))
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "store_unavailable"
    assert r.headers["Retry-After"] == "5"
    health = client.get("/health")
    assert health.status_code == 200  # a liveness probe must not kill a daemon that recovers
    body = health.json()
    assert body["status"] == "degraded"
    assert body["reasons"][0].startswith("store: history store write failed: database or disk")
    assert metric(client, 'tftmon_feed_requests_total{status="503"}') == 1
    errors = 'tftmon_store_errors_total{operation="write",store="history store"}'
    assert metric(client, errors) == 1

    set_disk_full(client, False)  # space came back: the same batch goes through
    r = client.post("/feed", json=records(["b", "c"], hours_ago(5), 500))
    assert r.status_code == 200 and r.json()["accepted"] == 1000
    assert client.get("/health").json() == {**body, "status": "ok", "reasons": []}


def test_a_loop_that_raises_is_restarted_and_reported(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        inference_interval_s=0.1,
        task_restart_backoff_s=0.05,
        task_restart_backoff_max_s=0.2,
    )
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        client.post("/feed", json=records(["a"], hours_ago(2), 20))
        cycle = client.app.state.daemon.cycle  # type: ignore[attr-defined]
        wait_for(lambda: cycle.cycles >= 1)
        failing = True
        real_apply = cycle.alerts.apply

        def apply(*args: Any) -> Any:  # after the cycle's own try: it escapes run_cycle
            if failing:
                raise RuntimeError("alert flow broke")
            return real_apply(*args)

        cycle.alerts.apply = apply
        degraded = wait_for(lambda: client.get("/health").json()["status"] == "degraded")
        assert degraded
        reasons = client.get("/health").json()["reasons"]
        assert any(r.startswith("task inference: RuntimeError: alert flow broke") for r in reasons)
        restarts = 'tftmon_task_restarts_total{task="inference"}'
        wait_for(lambda: metric(client, restarts) >= 2)  # restarted, and failed again
        frozen = cycle.cycles

        failing = False
        wait_for(lambda: cycle.cycles > frozen + 2)  # forecasting goes on
        wait_for(lambda: client.get("/health").json()["status"] == "ok")
        assert client.get("/health").json()["reasons"] == []
