"""``fleet_from_history``: the store's bucket tier as dense per-server arrays, read server by
server (memory bounded by one server's rows, not the whole table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tftmon.schemas import METRICS
from tftmon.store.columns import BucketColumns, SampleColumns
from tftmon.store.history import HistoryStore, ServerRow
from tftmon.training.dataset import fleet_from_history

STEP = 300


def _store(data_dir: Path) -> None:
    store = HistoryStore(data_dir / "history.sqlite3", METRICS, STEP)
    store.open()
    store.add_servers(
        [ServerRow(0, "alpha", "web"), ServerRow(1, "beta", "db"), ServerRow(2, "idle", "web")]
    )
    m = len(METRICS)
    mean = np.full((5, m), np.nan)
    mean[:, 0] = [10, 11, 12, 20, 21]  # cpu only: the other metrics are dropped
    store.write(
        SampleColumns.empty(m),
        BucketColumns(
            np.array([0, 0, 0, 1, 1]),
            np.array([100, 101, 103, 200, 201]),  # alpha has a gap at 102
            mean,
            np.ones(5, np.int64),
        ),
    )
    store.close()


def test_fleet_from_history_reads_server_by_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path)
    asked: list[int | None] = []
    read = HistoryStore.read_buckets

    def spy(self: HistoryStore, server_id: int | None, *args: int) -> BucketColumns:
        asked.append(server_id)
        return read(self, server_id, *args)

    monkeypatch.setattr(HistoryStore, "read_buckets", spy)
    fleet = fleet_from_history(tmp_path, STEP)
    assert None not in asked  # never the whole table in one read
    assert sorted(a for a in asked if a is not None) == [0, 1, 2]
    assert fleet.names == ["alpha", "beta"] and fleet.profiles == ["web", "db"]
    assert fleet.metrics == (METRICS[0],)
    assert fleet.first.tolist() == [100, 200]
    np.testing.assert_array_equal(fleet.values[0][:, 0], [10, 11, np.nan, 12])
    np.testing.assert_array_equal(fleet.values[1][:, 0], [20, 21])
    assert all(v.flags.c_contiguous and v.shape[1] == 1 for v in fleet.values)
