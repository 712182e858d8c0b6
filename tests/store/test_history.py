"""SQLite history: WAL, idempotent writes, range reads, retention, settings check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tftmon.errors import ConfigError
from tftmon.schemas import METRICS
from tftmon.store.columns import BucketColumns, SampleColumns
from tftmon.store.history import HistoryStore, ServerRow

DAY_MS = 86_400_000


def samples(server: int, ts_ms: list[int], value: float = 1.0) -> SampleColumns:
    n = len(ts_ms)
    vals = np.full((n, len(METRICS)), value)
    vals[:, 3] = np.nan
    return SampleColumns(
        np.full(n, server, np.int64), np.asarray(ts_ms, np.int64), vals, np.full(n, 3, np.int8)
    )


@pytest.fixture
def store(tmp_path: Path):
    s = HistoryStore(tmp_path / "h.sqlite3", METRICS, 300)
    s.open()
    s.add_servers([ServerRow(0, "a", "generic"), ServerRow(1, "b", "database")])
    yield s
    s.close()


def test_wal_mode_and_servers(store: HistoryStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r.name for r in store.servers()] == ["a", "b"]


def test_writes_are_idempotent(store: HistoryStore) -> None:
    batch = samples(0, [1000, 2000, 3000])
    store.write(batch, BucketColumns.empty(len(METRICS)))
    store.write(batch, BucketColumns.empty(len(METRICS)))
    assert store.count_samples() == 3
    assert store.existing(np.array([0, 0, 1]), np.array([2000, 2500, 2000])).tolist() == [
        True,
        False,
        False,
    ]


def test_range_reads_keep_missing_metrics_missing(store: HistoryStore) -> None:
    store.write(samples(0, [1000, 2000, 3000, 4000]), BucketColumns.empty(len(METRICS)))
    got = store.read_samples(0, 2000, 3000)
    assert got.ts_ms.tolist() == [2000, 3000]
    assert np.isnan(got.values[:, 3]).all()
    assert got.state.tolist() == [3, 3]
    newest = store.read_samples(0, 0, 10_000, newest_first_limit=2)
    assert newest.ts_ms.tolist() == [3000, 4000]


def test_buckets_round_trip(store: HistoryStore) -> None:
    mean = np.array([[1.0, 2.0, np.nan, 4.0], [5.0, 6.0, 7.0, 8.0]])
    store.write(
        samples(1, [1]),
        BucketColumns(np.array([1, 1]), np.array([10, 11]), mean, np.array([3, 4])),
    )
    got = store.read_buckets(1, 0)
    assert got.bucket.tolist() == [10, 11]
    np.testing.assert_array_equal(got.mean, mean)
    assert store.bucket_spans() == {1: (10, 11)}


def test_retention_counts_back_from_the_newest_record(store: HistoryStore) -> None:
    newest = 100 * DAY_MS
    store.write(
        samples(0, [newest - 40 * DAY_MS, newest - 10 * DAY_MS, newest]), BucketColumns.empty(4)
    )
    assert store.newest_ts_ms() == newest
    store.prune(newest, retention_days=30, bucket_retention_days=400)
    assert store.read_samples(0, 0, newest).ts_ms.tolist() == [newest - 10 * DAY_MS, newest]


def test_a_different_step_is_refused(tmp_path: Path) -> None:
    first = HistoryStore(tmp_path / "h.sqlite3", METRICS, 300)
    first.open()
    first.close()
    other = HistoryStore(tmp_path / "h.sqlite3", METRICS, 60)
    with pytest.raises(ConfigError, match="step_seconds"):
        other.open()


def test_prune_deletes_in_small_transactions(tmp_path: Path) -> None:
    """The lock is released every ``batch_rows`` rows, so a write never waits for all."""
    changes: list[int] = []

    class Spy(HistoryStore):
        @contextmanager
        def _transaction(self) -> Iterator[sqlite3.Connection]:
            with super()._transaction() as conn:
                before = conn.total_changes
                yield conn
                changes.append(conn.total_changes - before)

    store = Spy(tmp_path / "h.sqlite3", METRICS, 300)
    store.open()
    store.add_servers([ServerRow(i, f"s{i}", "generic") for i in range(3)])
    newest = 100 * DAY_MS
    old = [newest - 40 * DAY_MS + i * 1000 for i in range(10)]
    for sid in range(3):
        store.write(samples(sid, [*old, newest - DAY_MS]), BucketColumns.empty(len(METRICS)))
    changes.clear()
    assert store.prune(newest, 30, 400, batch_rows=7) == 30
    assert [c for c in changes if c] == [7, 7, 7, 7, 2]  # samples; no bucket to prune
    for sid in range(3):
        assert store.read_samples(sid, 0, newest).ts_ms.tolist() == [newest - DAY_MS]
    store.close()
