"""BaseAdapter's poll loop on an in-memory source: the position never runs ahead of the
daemon's acknowledgement, even while the next page is fetched during a POST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from tests.adapters.conftest import adapter_config
from tftmon.adapters.base import BaseAdapter, Batch
from tftmon.adapters.checkpoint import Checkpoint
from tftmon.client import TftmonClient
from tftmon.errors import DaemonUnavailableError, SourceError

DOCS = [
    {"timestamp": f"2026-11-26T10:{i // 60:02d}:{i % 60:02d}Z", "server_name": "a", "cpu_pct": 1.0}
    for i in range(10)
]


class ListSource(BaseModel):
    fail_at: int | None = None


class ListAdapter(BaseAdapter[ListSource]):
    kind = "list"
    source_model = ListSource

    def fetch(self, since: Checkpoint | None) -> Batch:
        start = since.position[0] + 1 if since else 0
        if self.source.fail_at is not None and start >= self.source.fail_at:
            raise SourceError("the source went away")
        page = DOCS[start : start + self.config.batch_size]
        if not page:
            return Batch([], None)
        end = start + len(page) - 1
        return Batch(page, [end], page[-1]["timestamp"], more=end < len(DOCS) - 1)


class Daemon:
    """A stand-in for the daemon's /feed that can refuse from the n-th POST on."""

    def __init__(self, fail_from: int | None = None) -> None:
        self.fail_from = fail_from
        self.received: list[dict[str, Any]] = []
        self.posts = 0

    def client(self) -> TftmonClient:
        return TftmonClient("http://daemon", "k", retries=0, transport=httpx.MockTransport(self))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.posts += 1
        if self.fail_from is not None and self.posts >= self.fail_from:
            return httpx.Response(503)
        records = orjson.loads(request.content)
        self.received += records
        return httpx.Response(200, json={"accepted": len(records), "duplicates": 0, "rejected": []})


def adapter(tmp_path: Path, daemon: Daemon, **source: Any) -> ListAdapter:
    config = adapter_config(tmp_path, source, batch_size=3, mapping={"preset": "flat"})
    return ListAdapter(config, daemon.client())


def test_all_pages_in_order_and_the_position_at_the_end(tmp_path: Path) -> None:
    daemon = Daemon()
    report = adapter(tmp_path, daemon).poll()
    assert daemon.received == DOCS
    assert (report.pages, report.accepted, report.checkpoint.position) == (4, 10, [9])  # type: ignore[union-attr]


def test_a_refused_post_keeps_the_position_of_the_last_acknowledged_page(tmp_path: Path) -> None:
    daemon = Daemon(fail_from=3)
    first = adapter(tmp_path, daemon)
    with pytest.raises(DaemonUnavailableError):
        first.poll()
    assert first.checkpoint is not None and first.checkpoint.position == [5]  # pages 1-2 only
    daemon.fail_from = None
    again = adapter(tmp_path, daemon)  # a restart reads the state file
    again.poll()
    assert daemon.received == DOCS  # page 3 on, nothing skipped, nothing twice


def test_a_failed_fetch_still_saves_the_page_acknowledged_meanwhile(tmp_path: Path) -> None:
    daemon = Daemon()
    broken = adapter(tmp_path, daemon, fail_at=6)
    with pytest.raises(SourceError):
        broken.poll()
    assert broken.checkpoint is not None and broken.checkpoint.position == [5]
    assert daemon.received == DOCS[:6]


def test_a_stop_ends_the_poll_after_the_page_in_flight(tmp_path: Path) -> None:
    import threading

    daemon = Daemon()
    stop = threading.Event()
    stopping = adapter(tmp_path, daemon)
    fetch = stopping.fetch

    def fetch_then_stop(since: Checkpoint | None) -> Batch:
        stop.set()  # SIGTERM arrives while the first page is fetched
        return fetch(since)

    stopping.fetch = fetch_then_stop  # type: ignore[method-assign]
    report = stopping.poll(stop=stop)
    assert report.pages == 1 and daemon.received == DOCS[:3]
    assert stopping.checkpoint is not None and stopping.checkpoint.position == [2]
