"""Stale servers leave the forecasts, the alerts and the warm-up counts until they send
again; a deleted server leaves the store in one transaction and restarts cleanly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from tests.store.fleets import open_fleet
from tftmon.alerting.flow import AlertFlow
from tftmon.alerting.lifecycle import AlertTracker
from tftmon.errors import StoreError
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.schemas import METRICS
from tftmon.serving.cycle import InferenceCycle
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.store.fleet import NewSamples

T0 = 1_700_000_100_000  # ms, inside a 5-minute step
STEP = 300_000


def samples(name: str, first_ms: int, count: int, every_ms: int = STEP) -> NewSamples:
    values = np.full((count, len(METRICS)), np.nan)
    values[:, 0], values[:, 1] = 40.0, 60.0
    return NewSamples(
        origin=np.arange(count),
        names=[name] * count,
        profiles=[None] * count,
        ts_ms=first_ms + np.arange(count, dtype=np.int64) * every_ms,
        values=values,
        state=np.full(count, -1, np.int8),
    )


def test_a_server_that_went_away_leaves_snapshot_and_warmup_counts(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(samples("once001", T0, 1))  # one sample, then gone: never ready
    fleet.append(samples("steady001", T0, 10))  # 45 minutes on
    assert fleet.servers_tracked() == 2 and fleet.servers_ready() == 1  # warming up
    fleet.append(samples("steady001", T0 + 10 * STEP, 15))  # now 2 h past once001's sample
    snap = fleet.snapshot()
    assert snap.names == ["steady001"] and snap.stale == ["once001"]
    assert (fleet.servers_tracked(), fleet.servers_ready(), fleet.servers_stale()) == (1, 1, 1)
    rows = {r.name: r for r in fleet.warmup()}
    assert rows["once001"].stale and not rows["steady001"].stale
    assert rows["once001"].last_ts_ms == T0  # still stored and known
    # it comes back with its next record
    fleet.append(samples("once001", T0 + 25 * STEP, 1))
    assert sorted(fleet.snapshot().names) == ["once001", "steady001"]
    assert fleet.servers_stale() == 0
    fleet.close()


def test_stale_is_measured_against_the_fleets_newest_sample(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(samples("old001", T0 - 30 * 86_400_000, 10))  # replayed month-old data
    assert fleet.snapshot().names == ["old001"]  # the daemon's clock does not matter
    never = open_fleet(tmp_path / "n.sqlite3", stale_after_s=None)
    never.append(samples("a001", T0, 1))
    never.append(samples("b001", T0 + 100 * STEP, 1))
    assert sorted(never.snapshot().names) == ["a001", "b001"]
    fleet.close()
    never.close()


def candidate(server: str) -> dict[str, Any]:
    return {
        "server": server,
        "metric": "cpu_pct",
        "level": "critical",
        "severity": "critical",
        "probability": 0.9,
        "predicted_value": 99.0,
        "predicted_p90": 99.5,
        "threshold": 95.0,
        "minutes_ahead": 30,
        "opens": True,
    }


def test_stale_servers_are_not_forecast_and_their_alerts_resolve(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(samples("gone001", T0, 4))
    fleet.append(samples("here001", T0, 30))
    flow = AlertFlow(AlertTracker(resolve_after_cycles=5, min_hold_s=3600))
    flow.apply([candidate("gone001")], datetime.now(UTC))
    metrics = DaemonMetrics()
    cycle = InferenceCycle(fleet, BaselineForecaster(12, 300), metrics, alerts=flow)
    cache = cycle.run_cycle()
    assert cache is not None
    assert list(orjson.loads(cache.body)["predictions"]) == ["here001"]
    assert flow.active() == []  # at once, whatever the hysteresis
    (event,) = [e for e in flow.history(None) if e["event"] == "resolved"]
    assert event["alert"]["resolved_reason"] == "stale"
    assert metrics.servers_stale._value.get() == 1
    fleet.close()


def test_delete_removes_everything_and_the_name_makes_a_new_server(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    fleet = open_fleet(path)
    for name in ("a001", "b001", "c001"):
        fleet.append(samples(name, T0, 10))
    deleted = fleet.delete("b001")
    assert deleted is not None and (deleted.samples, deleted.buckets) == (10, 9)
    assert fleet.delete("b001") is None and fleet.server_id("b001") is None
    assert fleet.snapshot().names == ["a001", "c001"]
    assert [r.name for r in fleet.warmup()] == ["a001", "c001"]
    assert fleet.servers_tracked() == 2
    assert fleet.history.read_samples(1, 0, 2**62).server.size == 0
    fleet.append(samples("b001", T0 + 10 * STEP, 2))  # a new server, with a new id
    assert fleet.server_id("b001") == 3
    assert fleet.window.history_steps(np.array([3])).tolist() == [1]
    live = fleet.snapshot()
    fleet.close()

    again = open_fleet(path)  # the gap in the ids is closed at the start
    assert [(r.server_id, r.name) for r in again.history.servers()] == [
        (0, "a001"),
        (1, "c001"),
        (2, "b001"),
    ]
    restored = again.snapshot()
    assert restored.names == live.names
    np.testing.assert_array_equal(restored.windows.values, live.windows.values)
    again.close()


def test_a_failed_delete_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(samples("a001", T0, 10))

    def fail(server_id: int) -> tuple[int, int]:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(fleet.history, "delete_server", fail)
    with pytest.raises(StoreError):
        fleet.delete("a001")
    assert fleet.server_id("a001") == 0 and fleet.snapshot().names == ["a001"]
    fleet.close()


def test_cycle_delete_resolves_the_servers_alerts(tmp_path: Path) -> None:
    fleet = open_fleet(tmp_path / "h.sqlite3")
    fleet.append(samples("a001", T0, 10))
    flow = AlertFlow(AlertTracker())
    flow.apply([candidate("a001")], datetime.now(UTC))
    cycle = InferenceCycle(fleet, BaselineForecaster(12, 300), DaemonMetrics(), alerts=flow)
    outcome = cycle.delete_server("a001")
    assert outcome is not None and outcome[1] == 1
    assert flow.active() == []
    assert flow.history(None)[-1]["alert"]["resolved_reason"] == "deleted"
    assert cycle.delete_server("a001") is None
    fleet.close()
