"""A failed store write changes nothing in memory; start-up repairs what older versions left."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.store.test_fleet import open_fleet
from tftmon.errors import StoreError
from tftmon.schemas import METRICS
from tftmon.store.columns import BucketColumns, SampleColumns
from tftmon.store.fleet import FleetStore, NewSamples
from tftmon.store.history import HistoryStore, ServerRow

T0 = 1_700_000_000_000


def rows(name: str, count: int, start_ms: int = T0, every_ms: int = 30_000) -> NewSamples:
    values = np.tile(np.arange(len(METRICS), dtype=np.float64), (count, 1))
    return NewSamples(
        origin=np.arange(count),
        names=[name] * count,
        profiles=[None] * count,
        ts_ms=start_ms + every_ms * np.arange(count, dtype=np.int64),
        values=values,
        state=np.full(count, 1, np.int8),
    )


def disk_full(fleet: FleetStore, full: bool) -> sqlite3.Connection:
    """Make the database as large as it may grow (SQLite answers SQLITE_FULL), or not."""
    conn = fleet.history._connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages if full else 1 << 30}")
    return conn


def test_a_failed_write_leaves_no_server_behind(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    fleet = open_fleet(path)
    fleet.append(rows("a", 50))
    disk_full(fleet, True)
    with pytest.raises(StoreError, match="full"):
        fleet.append(rows("b", 2_000))
    assert fleet.names == ["a"] and fleet.server_id("b") is None
    assert fleet.window.size == 1
    failure = fleet.history.write_failure
    assert failure is not None and "full" in failure.error

    disk_full(fleet, False)  # space came back
    assert fleet.append(rows("b", 2_000)).accepted == 2_000
    assert fleet.history.write_failure is None
    assert fleet.append(rows("c", 10)).new_servers == 1
    assert [fleet.server_id(n) for n in ("a", "b", "c")] == [0, 1, 2]
    fleet.close()

    again = open_fleet(path)  # starts, and every acknowledged record is reachable
    assert again.names == ["a", "b", "c"]
    stored = again.history.read_samples(1, 0, T0 * 2)
    assert len(stored) == 2_000
    assert int(again.window.last_ts[1]) == T0 + 30_000 * 1_999
    again.close()


def test_a_failed_profile_change_is_not_applied(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(rows("a", 5))
    before = list(fleet.profiles)
    batch = rows("a", 2_000, start_ms=T0 + 10 * 60_000)
    batch = NewSamples(
        batch.origin, batch.names, ["database"] * 2_000, batch.ts_ms, batch.values, batch.state
    )
    disk_full(fleet, True)
    with pytest.raises(StoreError):
        fleet.append(batch)
    assert fleet.profiles == before
    assert int(fleet.window.last_ts[0]) == T0 + 4 * 30_000
    fleet.close()


def test_start_up_repairs_gaps_and_rows_of_no_server(tmp_path: Path) -> None:
    """What a failed write of an older version left: ids 0 and 2 registered, rows of id 1
    (never registered) and of id 3 (beyond every server)."""
    path = tmp_path / "h.sqlite3"
    history = HistoryStore(path, METRICS, 300)
    history.open()
    history.add_servers([ServerRow(0, "a", "generic"), ServerRow(2, "c", "generic")])
    m = len(METRICS)
    for sid, count in ((0, 3), (1, 4), (2, 5), (3, 6)):
        ts = T0 + 30_000 * np.arange(count, dtype=np.int64)
        cols = SampleColumns(
            np.full(count, sid, np.int64), ts, np.full((count, m), sid), np.ones(count, np.int8)
        )
        buckets = BucketColumns(
            np.array([sid]), np.array([T0 // 300_000 - 1]), np.ones((1, m)), np.array([1])
        )
        history.write(cols, buckets)
    history.close()

    fleet = open_fleet(path)
    assert fleet.names == ["a", "c"] and fleet.server_id("c") == 1
    assert len(fleet.history.read_samples(1, 0, T0 * 2)) == 5  # c's own samples, renumbered
    assert fleet.append(rows("d", 2)).new_servers == 1
    assert fleet.server_id("d") == 2
    assert len(fleet.history.read_samples(2, 0, T0 * 2)) == 2  # nothing inherited
    assert len(fleet.history.read_buckets(2, 0)) == 0
    fleet.close()
    assert open_fleet(path).names == ["a", "c", "d"]


def test_new_servers_past_the_limit_are_refused_per_record(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.max_servers = 2
    fleet.append(rows("a", 1))
    batch = NewSamples(
        origin=np.arange(4),
        names=["b", "c", "a", "c"],
        profiles=[None] * 4,
        ts_ms=np.full(4, T0 + 60_000, np.int64),
        values=np.ones((4, len(METRICS))),
        state=np.ones(4, np.int8),
    )
    result = fleet.append(batch)
    assert (result.accepted, result.over_limit, result.new_servers) == (2, [1, 3], 1)
    assert fleet.names == ["a", "b"]
    fleet.close()


def test_failed_reads_are_store_errors_and_reported(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(rows("a", 5))
    seen: list[tuple[str, str]] = []
    fleet.history.on_error(lambda label, op: seen.append((label, op)))
    conn = fleet.history._connection()
    conn.set_authorizer(
        lambda action, table, *_: sqlite3.SQLITE_DENY if table == "samples" else sqlite3.SQLITE_OK
    )
    with pytest.raises(StoreError, match="history store read failed: access to samples"):
        fleet.append(rows("a", 5))  # a resend: duplicates are looked up in the store
    assert seen == [("history store", "read")]
    assert fleet.history.write_failure is None  # reads do not mark writes failing
    conn.set_authorizer(None)
    assert fleet.append(rows("a", 5)).duplicates == 5
    fleet.close()
