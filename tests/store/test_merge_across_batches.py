"""A record for a sample stored by an earlier batch fills in the metrics it lacks while its
bucket is open; once the bucket closed, those fields are refused as late; a conflicting
value keeps the stored one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.store.fleets import open_fleet
from tftmon.errors import StoreError
from tftmon.schemas import METRICS
from tftmon.serving.ingest import FeedOutcome, ingest
from tftmon.store.fleet import FleetStore

T0 = 1_700_000_100  # s, inside a 5-minute step
CPU, MEM = METRICS.index("cpu_pct"), METRICS.index("mem_pct")


def rec(t: float, **metrics: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
    return {"timestamp": stamp, "server_name": "web001", **metrics}


def feed(fleet: FleetStore, *items: dict[str, Any]) -> FeedOutcome:
    outcome = ingest(list(items), fleet, datetime.now(UTC), 300.0)
    counted = outcome.accepted + outcome.duplicates + outcome.merged + len(outcome.rejected)
    assert counted == len(items)
    return outcome


def stored(fleet: FleetStore, t: float) -> list[float]:
    ms = int(t * 1000)
    return fleet.history.read_samples(0, ms, ms).values[0, [CPU, MEM]].tolist()


def test_a_later_batch_fills_an_open_buckets_sample(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    fleet = open_fleet(path)
    feed(fleet, rec(T0, cpu_pct=40.0), rec(T0 + 30, cpu_pct=50.0))
    out = feed(fleet, rec(T0, mem_pct=70.0), rec(T0 + 30, mem_pct=80.0))
    assert (out.accepted, out.duplicates, out.merged, out.fields_rejected) == (0, 0, 2, [])
    assert stored(fleet, T0) == [40.0, 70.0]
    assert fleet.window.open_count[0, [CPU, MEM]].tolist() == [2, 2]
    assert fleet.window.open_sum[0, MEM] == 150.0
    assert fleet.window.current[0, MEM] == 80.0
    open_sums = fleet.window.open_sum[0].copy()
    fleet.close()
    again = open_fleet(path)  # the open bucket is rebuilt from the updated raw rows
    np.testing.assert_array_equal(again.window.open_sum[0], open_sums)
    # the bucket closes with the merged metric in its mean
    feed(again, rec(T0 + 300, cpu_pct=10.0, mem_pct=10.0))
    bucket = again.history.read_buckets(0, 0)
    assert bucket.mean[0, [CPU, MEM]].tolist() == [45.0, 75.0]
    again.close()


def test_fills_and_a_bucket_the_same_batch_closes(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    feed(fleet, rec(T0, cpu_pct=40.0))
    out = feed(fleet, rec(T0, mem_pct=70.0), rec(T0 + 300, cpu_pct=1.0, mem_pct=1.0))
    assert (out.accepted, out.merged) == (1, 1)
    assert fleet.history.read_buckets(0, 0).mean[0, [CPU, MEM]].tolist() == [40.0, 70.0]
    fleet.close()


def test_fields_for_a_closed_bucket_are_late_and_conflicts_keep_the_stored_value(
    tmp_path: Path,
) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    feed(fleet, rec(T0, cpu_pct=40.0), rec(T0 + 300, cpu_pct=50.0))
    late = feed(fleet, rec(T0, mem_pct=70.0, cpu_pct=41.0))  # its bucket closed
    assert (late.accepted, late.duplicates, late.merged) == (0, 1, 0)
    assert [(f.field, f.reason) for f in late.fields_rejected] == [
        ("cpu_pct", "conflict"),
        ("mem_pct", "late"),
    ]
    assert np.isnan(stored(fleet, T0)[1])
    mixed = feed(fleet, rec(T0 + 300, cpu_pct=55.0, mem_pct=65.0))  # open: fills and clashes
    assert mixed.merged == 1
    assert [(f.field, f.reason) for f in mixed.fields_rejected] == [("cpu_pct", "conflict")]
    assert "50 stored" in mixed.fields_rejected[0].message
    assert stored(fleet, T0 + 300) == [50.0, 65.0]
    again = feed(fleet, rec(T0 + 300, cpu_pct=50.0, mem_pct=65.0))  # nothing new
    assert (again.duplicates, again.merged, again.fields_rejected) == (1, 0, [])
    fleet.close()


def test_a_failed_write_leaves_the_windows_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    feed(fleet, rec(T0, cpu_pct=40.0))
    before = fleet.window.open_sum.copy(), fleet.window.raw.copy(), fleet.window.current.copy()

    def fail(*args: object, **kwargs: object) -> None:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(fleet.history, "write", fail)
    with pytest.raises(StoreError):
        feed(fleet, rec(T0, mem_pct=70.0))
    after = fleet.window.open_sum, fleet.window.raw, fleet.window.current
    for kept, now in zip(before, after, strict=True):
        np.testing.assert_array_equal(kept, now)
    fleet.close()
