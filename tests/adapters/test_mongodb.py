"""The MongoDB adapter against a real MongoDB-protocol server (SecantusDB) and a real daemon."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest

from tests.adapters.conftest import adapter_config, client_of, ingested
from tests.servers import DaemonProcess, MongoServer
from tftmon.adapters.mongodb import MongoDBAdapter
from tftmon.errors import DaemonUnavailableError, SourceError

pytestmark = pytest.mark.integration
_names = itertools.count()


def fresh_collection(server: MongoServer) -> tuple[Any, dict[str, Any]]:
    name = f"metrics{next(_names)}"
    collection = pymongo.MongoClient(server.uri, tz_aware=True)["monitoring"][name]
    source = {"uri": server.uri, "database": "monitoring", "collection": name, "settle_s": 0}
    return collection, source


def docs(
    servers: int, count: int, end: datetime, every_s: float = 5.0, *, text: bool = False
) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        t = end - timedelta(seconds=(count - i) * every_s)
        stamp: Any = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if text else t
        for s in range(servers):
            out.append(
                {
                    "timestamp": stamp,
                    "hostname": f"ppdb{s:03d}",
                    "cpu_usage_pct": 40.0 + s,
                    "memory_pct": 55.0,
                }
            )
    return out


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_backfill_then_resume_after_restart_exactly_once(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection, source = fresh_collection(mongo_server)
    collection.insert_many(docs(2, 300, now() - timedelta(minutes=2)))  # 25 min of 5-s samples
    collection.insert_many(docs(2, 10, now() - timedelta(hours=3)))  # older than the backfill
    config = adapter_config(tmp_path, source, max_pages_per_poll=2)
    with client_of(daemon) as client:
        first = MongoDBAdapter(config, client)
        report = first.poll()
        assert (report.pages, report.accepted, report.more) == (2, 200, True)
        first.close()  # a restart: the next process knows only the state file
        second = MongoDBAdapter(config.model_copy(update={"max_pages_per_poll": 100}), client)
        report = second.poll()
        assert (report.accepted, report.duplicates, report.more) == (400, 0, False)
        collection.insert_many(docs(2, 5, now()))
        assert second.poll().accepted == 10
        assert second.poll().fetched == 0
        second.close()
    assert ingested(daemon) == 610
    assert any(k.startswith("timestamp_1__id_1") for k in collection.index_information())


def test_string_timestamps_with_ties_across_pages(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection, source = fresh_collection(mongo_server)
    collection.insert_many(docs(5, 40, now(), text=True))  # 5 servers share every timestamp
    config = adapter_config(tmp_path, source, batch_size=7)  # pages split the ties
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(config, client)
        report = adapter.poll()
        adapter.close()
    assert (report.fetched, report.accepted, report.duplicates) == (200, 200, 0)
    assert ingested(daemon) == 200


def test_malformed_documents_are_skipped_counted_and_passed(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection, source = fresh_collection(mongo_server)
    t = now() - timedelta(minutes=5)
    collection.insert_many(
        [
            {"timestamp": t, "hostname": "ok1", "cpu_usage_pct": 10.0},
            {"timestamp": t, "cpu_usage_pct": 10.0},
            {"timestamp": t, "hostname": "bad2", "cpu_usage_pct": "high"},
            {"timestamp": t, "hostname": "bad3", "cpu_usage_pct": 250.0},
            {"timestamp": t, "hostname": "bad4"},
            {"timestamp": t + timedelta(seconds=5), "hostname": "ok2", "memory_pct": 20.0},
        ]
    )
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(adapter_config(tmp_path, source), client)
        report = adapter.poll()
        assert adapter.poll().fetched == 0  # the position moved past the bad ones too
        adapter.close()
    assert report.accepted == 2
    assert dict(report.mapping.skipped) == {
        "no server name": 1,
        "cpu_pct: not a number (str)": 1,
        "cpu_pct: Input should be less than or equal to 200": 1,
        "record: Value error, a record needs at least one metric of "
        "cpu_pct, mem_pct, disk_io_mb_s, latency_ms": 1,
    }


def test_database_down_at_start_and_mid_run(daemon: DaemonProcess, tmp_path: Path) -> None:
    server = MongoServer(tmp_path / "mongo")
    source = {
        "uri": server.uri,
        "database": "m",
        "collection": "c",
        "server_selection_timeout_s": 0.5,
        "settle_s": 0,
    }
    config = adapter_config(tmp_path, source, batch_size=40, max_pages_per_poll=1)
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(config, client)
        with pytest.raises(SourceError, match="MongoDB"):
            adapter.poll()  # down at start: an error, no position
        assert adapter.checkpoint is None
        server.start()
        try:
            pymongo.MongoClient(server.uri)["m"]["c"].insert_many(docs(1, 100, now()))
            assert adapter.poll().accepted == 40
            kept = adapter.checkpoint
            server.stop()
            with pytest.raises(SourceError):
                adapter.poll()  # down mid-run: the position is kept
            assert adapter.checkpoint == kept
            server.start()  # same storage: the documents are still there
            adapter.config = config.model_copy(update={"max_pages_per_poll": 10})
            assert adapter.poll().accepted == 60
        finally:
            adapter.close()
            server.stop()
    assert ingested(daemon) == 100


def test_daemon_down_keeps_the_position(mongo_server: MongoServer, tmp_path: Path) -> None:
    collection, source = fresh_collection(mongo_server)
    collection.insert_many(docs(2, 50, now()))
    daemon = DaemonProcess(data_dir=tmp_path / "data", log=tmp_path / "daemon.log")
    config = adapter_config(tmp_path, source)
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(config, client)
        with pytest.raises(DaemonUnavailableError):
            adapter.poll()
        assert adapter.checkpoint is None
        daemon.start()
        try:
            assert adapter.poll().accepted == 100
            adapter.close()
            assert ingested(daemon) == 100
        finally:
            daemon.kill()


def test_a_torn_checkpoint_resends_and_loses_nothing(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection, source = fresh_collection(mongo_server)
    collection.insert_many(docs(2, 100, now() - timedelta(minutes=2)))
    config = adapter_config(tmp_path, source)
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(config, client)
        assert adapter.poll().accepted == 200
        adapter.close()
        state = Path(config.state_file)  # type: ignore[arg-type]
        state.write_bytes(state.read_bytes()[:20])  # the crash tore the file
        collection.insert_many(docs(2, 10, now()))
        again = MongoDBAdapter(config, client)
        report = again.poll()
        again.close()
    assert report.accepted == 20
    assert report.duplicates == 100  # the last page before the tear, sent again, dropped
    assert ingested(daemon) == 220


def test_documents_younger_than_settle_s_wait_for_the_next_poll(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection, source = fresh_collection(mongo_server)
    t = now()
    collection.insert_many(
        [
            {"timestamp": t - timedelta(seconds=60), "hostname": "a", "cpu_usage_pct": 1.0},
            {"timestamp": t - timedelta(seconds=2), "hostname": "b", "cpu_usage_pct": 1.0},
        ]
    )
    config = adapter_config(tmp_path, {**source, "settle_s": 15})
    with client_of(daemon) as client:
        adapter = MongoDBAdapter(config, client)
        assert adapter.poll().accepted == 1  # b may have company still on its way
        # a late writer's document, older than b but visible only now, is not skipped
        collection.insert_one(
            {"timestamp": t - timedelta(seconds=5), "hostname": "c", "cpu_usage_pct": 1.0}
        )
        adapter.now = lambda: datetime.now(UTC) + timedelta(seconds=20)
        assert adapter.poll().accepted == 2
        adapter.close()
