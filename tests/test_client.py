"""tftmon.client: retries with backoff on transport errors and 5xx, 4xx raised at once."""

from __future__ import annotations

import httpx
import pytest

from tftmon.client import TftmonClient
from tftmon.errors import DaemonResponseError, DaemonUnavailableError


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
    from datetime import UTC, datetime

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
