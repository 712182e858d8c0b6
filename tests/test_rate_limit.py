"""Per-key rate limits: token buckets per key digest and route class, 429 ``rate_limited``
with ``Retry-After``, counted; 0 disables; the client waits ``Retry-After`` and retries."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, OTHER_KEY, make_settings
from tftmon.api import create_app
from tftmon.api.deps import RateLimiter, rate_class
from tftmon.client import TftmonClient
from tftmon.errors import DaemonUnavailableError
from tftmon.keys import key_digest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A, B = key_digest("a" * 20), key_digest("b" * 20)


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter({"read": (2.0, 3)}, clock=clock)
    assert [limiter.take(A, "read") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(A, "read") == pytest.approx(0.5)  # 1 token at 2/s
    clock.now += 0.25
    assert limiter.take(A, "read") == pytest.approx(0.25)  # half a token back, none taken
    clock.now += 0.25
    assert limiter.take(A, "read") == 0.0
    clock.now += 3600  # refills up to the burst, not beyond
    assert [limiter.take(A, "read") for _ in range(4)][-1] > 0


def test_buckets_are_per_key_and_per_route_class() -> None:
    limiter = RateLimiter({"read": (1.0, 1), "ingest": (1.0, 1)}, clock=Clock())
    assert limiter.take(A, "read") == 0.0
    assert limiter.take(A, "read") > 0
    assert limiter.take(B, "read") == 0.0  # another key: its own bucket
    assert limiter.take(A, "ingest") == 0.0  # another class: its own bucket
    assert rate_class("admin") == rate_class("read") == "read"
    assert rate_class("ingest") == "ingest"


def test_zero_per_second_disables_and_memory_is_bounded() -> None:
    limiter = RateLimiter({"read": (0.0, 1), "ingest": (1.0, 1)}, clock=Clock(), max_buckets=2)
    assert all(limiter.take(A, "read") == 0.0 for _ in range(1000))
    assert len(limiter) == 0
    for i in range(10):
        limiter.take(key_digest(f"key-{i}"), "ingest")
    assert len(limiter) == 2


def test_concurrent_takes_never_exceed_the_burst() -> None:
    limiter = RateLimiter({"read": (1e-9, 500)})
    granted: list[int] = []

    def worker() -> None:
        granted.append(sum(limiter.take(A, "read") == 0.0 for _ in range(200)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500


def _app(tmp_path: Path, **limits: float) -> TestClient:
    settings = make_settings(tmp_path, api_keys=[API_KEY, OTHER_KEY], **limits)
    return TestClient(create_app(settings))


def test_a_key_past_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    with _app(tmp_path, rate_limit_read_per_s=0.5, rate_limit_read_burst=2) as c:
        mine = {"X-API-Key": API_KEY}
        assert [c.get("/status", headers=mine).status_code for _ in range(2)] == [200, 200]
        r = c.get("/status", headers=mine)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "2"  # one token at 0.5/s
        body = r.json()
        assert set(body) == {"detail", "code"} and body["code"] == "rate_limited"
        assert API_KEY not in body["detail"]
        # another key, and the same key on ingest routes, have buckets of their own
        other = {"X-API-Key": OTHER_KEY}
        assert c.get("/status", headers=other).status_code == 200
        assert c.post("/feed", json=[], headers=mine).status_code != 429
        metrics = c.get("/metrics", headers=other).text
        assert 'tftmon_requests_rate_limited_total{scope="read"} 1.0' in metrics


def test_a_wrong_key_is_401_before_any_bucket(tmp_path: Path) -> None:
    with _app(tmp_path, rate_limit_read_per_s=0.001, rate_limit_read_burst=1) as c:
        for _ in range(3):
            r = c.get("/status", headers={"X-API-Key": "wrong-key-000000000000"})
            assert r.status_code == 401
        assert c.get("/status", headers={"X-API-Key": API_KEY}).status_code == 200


def test_ingest_limit_and_zero_disables(tmp_path: Path) -> None:
    with _app(
        tmp_path,
        rate_limit_ingest_per_s=0.01,
        rate_limit_ingest_burst=1,
        rate_limit_read_per_s=0,
    ) as c:
        mine = {"X-API-Key": API_KEY}
        assert c.post("/feed", json=[], headers=mine).status_code != 429
        r = c.post("/feed", json=[], headers=mine)
        assert r.status_code == 429 and r.headers["Retry-After"] == "100"
        assert all(c.get("/status", headers=mine).status_code == 200 for _ in range(30))


def test_openapi_documents_429_on_protected_routes(tmp_path: Path) -> None:
    paths = create_app(make_settings(tmp_path)).openapi()["paths"]
    assert "429" in paths["/feed"]["post"]["responses"]
    assert "429" in paths["/status"]["get"]["responses"]
    assert "429" not in paths["/health"]["get"]["responses"]


def _client(handler: httpx.MockTransport, **kwargs: float) -> tuple[TftmonClient, list[float]]:
    waits: list[float] = []
    client = TftmonClient(
        "http://daemon", "k" * 20, transport=handler, sleep=waits.append, **kwargs
    )
    return client, waits


def _limited(retry_after: str) -> httpx.Response:
    body = {"detail": "slow down", "code": "rate_limited"}
    return httpx.Response(429, json=body, headers={"Retry-After": retry_after})


def test_the_client_waits_retry_after_and_retries_a_429() -> None:
    answers = [_limited("3"), _limited("3"), httpx.Response(200, json={"accepted": 1})]
    client, waits = _client(
        httpx.MockTransport(lambda request: answers.pop(0)), retries=3, backoff_s=0.1
    )
    assert client.feed([{"a": 1}]) == {"accepted": 1}
    assert waits == [3.0, 3.0]


def test_the_client_caps_retry_after_and_gives_up_after_its_retries() -> None:
    client, waits = _client(
        httpx.MockTransport(lambda request: _limited("3600")),
        retries=2,
        backoff_s=0.1,
        max_backoff_s=5.0,
    )
    with pytest.raises(DaemonUnavailableError, match="429"):
        client.status()
    assert waits == [5.0, 5.0]


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    answers = [_limited("soon"), httpx.Response(200, json={})]
    client, waits = _client(
        httpx.MockTransport(lambda request: answers.pop(0)), retries=1, backoff_s=0.2
    )
    assert client.status() == {}
    assert len(waits) == 1 and 0.1 <= waits[0] <= 0.2
