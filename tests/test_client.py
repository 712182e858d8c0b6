"""tftmon.client: retries with backoff on transport errors and 5xx, 4xx raised at once;
alert history pages against a real daemon."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.servers import API_KEY, DaemonProcess
from tests.test_alerts import CYCLE, T0, alert
from tftmon.alerting.lifecycle import AlertTracker
from tftmon.client import TftmonClient
from tftmon.errors import DaemonResponseError, DaemonUnavailableError
from tftmon.store.alerts import AlertStore


def make(handler, retries: int = 3) -> tuple[TftmonClient, list[float]]:
    waits: list[float] = []
    client = TftmonClient(
        "http://daemon",
        "k" * 20,
        retries=retries,
        backoff_s=1.0,
        transport=httpx.MockTransport(handler),
        sleep=waits.append,
    )
    return client, waits


def test_retries_5xx_and_transport_errors_with_growing_backoff() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"detail": "busy", "code": "x"})
        return httpx.Response(200, json={"accepted": 1})

    client, waits = make(handler)
    assert client.feed([{"a": 1}]) == {"accepted": 1}
    assert calls[0].headers["X-API-Key"] == "k" * 20
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0


def test_4xx_is_raised_without_retry() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={"detail": "invalid API key", "code": "unauthorized"})

    client, waits = make(handler)
    with pytest.raises(DaemonResponseError) as info:
        client.status()
    assert (info.value.status_code, info.value.code) == (401, "unauthorized")
    assert len(calls) == 1 and waits == []


def test_gives_up_after_the_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client, waits = make(handler, retries=2)
    with pytest.raises(DaemonUnavailableError, match="after 3 attempts"):
        client.health()
    assert len(waits) == 2


def test_query_parameters_of_predictions_and_alert_history() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=[])

    client, _ = make(handler)
    client.predictions(["a", "b"], summary=True)
    client.predictions()
    client.alert_history(datetime(2026, 1, 2, tzinfo=UTC))
    assert seen[0].path == "/predictions/current"
    assert dict(seen[0].params) == {"servers": "a,b", "view": "summary"}
    assert dict(seen[1].params) == {}
    assert seen[2].path == "/alerts/history"
    assert seen[2].params["since"] == "2026-01-02T00:00:00+00:00"


@pytest.fixture
def history_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A real daemon whose history file holds 10 alert events: ids 1-10, one alert on
    ``a``/``cpu_pct`` opened and resolved five times, a cycle apart from ``T0``."""
    data = tmp_path / "data"
    data.mkdir()
    store = AlertStore(data / "history.sqlite3")
    tracker = AlertTracker(store, min_hold_s=0, resolve_after_cycles=1)
    for i in range(5):
        tracker.update([alert()], T0 + 2 * i * CYCLE)
        tracker.update([], T0 + (2 * i + 1) * CYCLE)
    store.close()
    daemon = DaemonProcess(data_dir=data, log=tmp_path / "daemon.log")
    daemon.start()
    yield daemon
    daemon.kill(signal.SIGTERM)


@pytest.mark.integration
def test_alert_history_pages_back_through_a_real_daemon(history_daemon: DaemonProcess) -> None:
    with TftmonClient(history_daemon.url, API_KEY, retries=0) as client:
        assert [e["id"] for e in client.alert_history()] == list(range(1, 11))
        page = client.alert_history(limit=4)
        assert [e["id"] for e in page] == [7, 8, 9, 10]  # the newest, oldest first
        page = client.alert_history(limit=4, before_id=page[0]["id"])
        assert [e["id"] for e in page] == [3, 4, 5, 6]
        assert [e["id"] for e in client.alert_history(limit=4, before_id=3)] == [1, 2]
        # since narrows each page: the opening at T0 + 8 cycles and its resolution
        since = client.alert_history(T0 + 8 * CYCLE, limit=4)
        assert [(e["id"], e["event"]) for e in since] == [(9, "opened"), (10, "resolved")]
        # the iterator walks back a page at a time, newest first, to the oldest event
        assert [e["id"] for e in client.iter_alert_history(page_size=3)] == list(range(10, 0, -1))
        assert [e["id"] for e in client.iter_alert_history(T0 + 6 * CYCLE, page_size=2)] == [
            10,
            9,
            8,
            7,
        ]
        with pytest.raises(DaemonResponseError) as info:
            client.alert_history(limit=10_001)
        assert info.value.status_code == 422


def test_iter_alert_history_asks_for_each_page_before_the_last() -> None:
    seen: list[httpx.URL] = []
    events = [{"id": i, "event": "opened"} for i in range(1, 6)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        before = int(request.url.params.get("before_id", 10**9))
        limit = int(request.url.params["limit"])
        older = [e for e in events if e["id"] < before]
        return httpx.Response(200, json=older[-limit:])

    client, _ = make(handler)
    walked = client.iter_alert_history(datetime(2026, 1, 2, tzinfo=UTC), page_size=2)
    assert [e["id"] for e in walked] == [5, 4, 3, 2, 1]
    assert [dict(u.params) for u in seen] == [
        {"since": "2026-01-02T00:00:00+00:00", "limit": "2"},
        {"since": "2026-01-02T00:00:00+00:00", "limit": "2", "before_id": "4"},
        {"since": "2026-01-02T00:00:00+00:00", "limit": "2", "before_id": "2"},
    ]
