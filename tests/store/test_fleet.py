"""The fleet store: restart rebuilds the same windows from the history store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tftmon.schemas import DEFAULT_PROFILE_RULES, METRICS
from tftmon.store.fleet import FleetStore, NewSamples
from tftmon.store.history import HistoryStore


def open_fleet(path: Path, encoder: int = 24) -> FleetStore:
    fleet = FleetStore(
        HistoryStore(path, METRICS, 300),
        step_seconds=300,
        encoder_steps=encoder,
        raw_samples=16,
        min_history_steps=6,
        profile_rules=DEFAULT_PROFILE_RULES,
    )
    fleet.open()
    return fleet


def batch(names: list[str], ts_s: np.ndarray, rng: np.random.Generator) -> NewSamples:
    n = len(names)
    values = rng.uniform(0, 100, (n, len(METRICS)))
    values[rng.uniform(size=values.shape) < 0.1] = np.nan
    return NewSamples(
        origin=np.arange(n),
        names=names,
        profiles=[None] * n,
        ts_ms=(ts_s * 1000).astype(np.int64),
        values=values,
        state=np.full(n, 1, np.int8),
    )


def test_restart_restores_windows_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "h.sqlite3"
    fleet = open_fleet(path)
    t = 1_700_000_000.0
    for _ in range(20):
        names, ts = [], []
        for server in ("ppdb001", "ppweb001", "x-1"):
            k = int(rng.integers(1, 80))
            names += [server] * k
            ts += list(t + np.sort(rng.uniform(0, 1200, k)).round(1))
        t += 1200
        fleet.append(batch(names, np.array(ts), rng))
    live = fleet.snapshot()
    live_open = fleet.window.open_sum[:3].copy(), fleet.window.open_count[:3].copy()
    fleet.close()

    again = open_fleet(path)
    restored = again.snapshot()
    assert restored.names == live.names
    assert restored.profiles == ["database", "web_api", "generic"]
    np.testing.assert_array_equal(restored.windows.end_bucket, live.windows.end_bucket)
    np.testing.assert_allclose(restored.windows.values, live.windows.values, equal_nan=True)
    np.testing.assert_array_equal(restored.windows.history_steps, live.windows.history_steps)
    np.testing.assert_allclose(restored.windows.current, live.windows.current, equal_nan=True)
    np.testing.assert_allclose(again.window.open_sum[:3], live_open[0])
    np.testing.assert_array_equal(again.window.open_count[:3], live_open[1])
    assert again.history.count_samples() == fleet.records_total
    again.close()


def test_duplicates_and_late_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    fleet = open_fleet(tmp_path / "h.sqlite3")
    t0 = 1_700_000_100.0
    first = fleet.append(batch(["a"] * 4, t0 + np.array([0, 30, 400, 700.0]), rng))
    assert (first.accepted, first.duplicates, first.late) == (4, 0, [])
    again = fleet.append(batch(["a"] * 3, t0 + np.array([0, 10, 700.0]), rng))
    # t0 is stored (duplicate), t0+10 falls in a closed bucket (late), t0+700 is stored
    assert (again.accepted, again.duplicates, again.late) == (0, 2, [1])
    fleet.close()
