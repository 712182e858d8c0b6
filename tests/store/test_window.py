"""Rolling windows: bucket means, gaps, ring wrap-around, raw samples — against brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tftmon.store.columns import NO_STATE, SampleColumns
from tftmon.store.window import NONE, WindowStore

STEP = 300
M = 4


def make_batch(server, ts_s, values, state=None) -> SampleColumns:
    n = len(server)
    return SampleColumns(
        np.asarray(server, np.int64),
        (np.asarray(ts_s, np.float64) * 1000).astype(np.int64),
        np.asarray(values, np.float64).reshape(n, M),
        np.full(n, NO_STATE, np.int8) if state is None else np.asarray(state, np.int8),
    )


def feed(store: WindowStore, batch: SampleColumns) -> None:
    batch = batch.sorted()
    store.apply(store.plan(batch))


def brute_force(server_samples: list[tuple[float, np.ndarray]], length: int):
    """Closed-bucket means ending at the newest closed bucket, NaN for gaps."""
    buckets: dict[int, list[np.ndarray]] = {}
    for ts, vals in server_samples:
        buckets.setdefault(int(ts // STEP), []).append(vals)
    open_b = max(buckets)
    closed = sorted(b for b in buckets if b < open_b)
    if not closed:
        return None
    last = closed[-1]
    out = np.full((length, M), np.nan)
    for pos, b in enumerate(range(last - length + 1, last + 1)):
        if b in buckets:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a metric absent all bucket
                out[pos] = np.nanmean(np.stack(buckets[b]), axis=0)
    return last, out


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_over_random_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    length = 12
    store = WindowStore(M, STEP, length, raw_samples=8)
    n_servers = 5
    store.add_servers(n_servers)
    seen: dict[int, list[tuple[float, np.ndarray]]] = {s: [] for s in range(n_servers)}
    clock = {s: 1_700_000_000.0 + rng.integers(0, 600) for s in range(n_servers)}
    for _ in range(30):
        srv, ts, vals = [], [], []
        for s in range(n_servers):
            for _ in range(rng.integers(0, 25)):
                gap = rng.choice([5.0, 30.0, 400.0, 3000.0], p=[0.6, 0.3, 0.08, 0.02])
                clock[s] += gap
                v = rng.uniform(0, 100, M)
                v[rng.uniform(size=M) < 0.2] = np.nan  # metrics sometimes absent
                srv.append(s)
                ts.append(clock[s])
                vals.append(v)
                seen[s].append((clock[s], v))
        if srv:
            order = rng.permutation(len(srv))  # arrival order does not matter within a batch
            feed(
                store, make_batch(np.array(srv)[order], np.array(ts)[order], np.array(vals)[order])
            )
    snap = store.snapshot()
    for i, s in enumerate(snap.server.tolist()):
        expected = brute_force(seen[s], length)
        if expected is None:
            continue
        last, values = expected
        assert snap.end_bucket[i] == last
        np.testing.assert_allclose(snap.values[i], values, rtol=1e-5, equal_nan=True)
        latest = max(seen[s], key=lambda x: x[0])
        assert snap.last_ts_ms[i] == int(latest[0] * 1000)


def test_gap_longer_than_window_clears_everything() -> None:
    store = WindowStore(M, STEP, 6, raw_samples=4)
    store.add_servers(1)
    t0 = 1_700_000_100.0
    feed(store, make_batch([0] * 10, t0 + np.arange(10) * 300, np.ones((10, M))))
    feed(store, make_batch([0, 0], [t0 + 20_000, t0 + 20_400], np.full((2, M), 7.0)))
    snap = store.snapshot()
    assert np.isnan(snap.values[0, :-1]).all()
    assert (snap.values[0, -1] == 7.0).all()


def test_server_without_a_closed_step_shows_its_partial_mean() -> None:
    store = WindowStore(M, STEP, 6, raw_samples=4)
    store.add_servers(2)
    feed(
        store,
        make_batch([0, 0], [1_700_000_100, 1_700_000_110], [[1, 2, 3, np.nan], [3, 4, 5, np.nan]]),
    )
    snap = store.snapshot()
    assert list(snap.server) == [0]  # server 1 holds nothing yet
    np.testing.assert_allclose(snap.values[0, -1, :3], [2, 3, 4])
    assert np.isnan(snap.values[0, -1, 3])
    assert snap.history_steps[0] == 0


def test_raw_ring_keeps_the_newest_samples_and_current_values() -> None:
    store = WindowStore(M, STEP, 6, raw_samples=4)
    store.add_servers(1)
    vals = np.arange(40, dtype=float).reshape(10, M)
    vals[9, 1] = np.nan  # newest sample lacks metric 1: current keeps the previous value
    feed(store, make_batch([0] * 10, 1_700_000_000 + np.arange(10), vals, state=[2] * 10))
    assert sorted(store.raw_ts[0].tolist()) == [1_700_000_006_000 + i * 1000 for i in range(4)]
    np.testing.assert_allclose(store.current[0], [36, 33, 38, 39])
    assert store.state[0] == 2


def test_accepting_from_marks_late_buckets() -> None:
    store = WindowStore(M, STEP, 6, raw_samples=4)
    ids = store.add_servers(2)
    assert store.accepting_from(ids).tolist() == [0, 0]
    feed(store, make_batch([0, 0], [1_700_000_100, 1_700_000_500], np.ones((2, M))))
    b = 1_700_000_500 // STEP
    assert store.accepting_from(ids).tolist() == [b, 0]
    assert store.last_closed[0] == b - 1
    assert store.open_bucket[1] == NONE


def test_memory_per_server_is_bounded() -> None:
    store = WindowStore(M, STEP, 288, raw_samples=64)
    store.add_servers(1000)
    per_server = store.nbytes() / store.capacity
    assert per_server < 288 * M * 4 + 64 * M * 4 + 64 * 8 + 200
    before = store.nbytes()
    feed(store, make_batch([3] * 5000, 1_700_000_000 + np.arange(5000) * 5.0, np.ones((5000, M))))
    assert store.nbytes() == before


def test_spare_capacity_is_not_written_and_new_rows_start_empty() -> None:
    """Rows past the servers held stay unwritten (untouched pages: no memory), and a row
    handed out after a growth starts as an empty server, whatever the allocator left."""
    store = WindowStore(M, STEP, 288, raw_samples=64)
    store.add_servers(3)
    feed(store, make_batch([0, 1, 2], [1_700_000_000.0] * 3, np.ones((3, M))))
    store.closed[3:] = 7.0  # what an unwritten (np.empty) row may hold
    store.last_ts[3:] = 5
    within = store.add_servers(5)  # rows 3..7 of the first allocation
    grown = store.add_servers(100)  # past it: a growth, then rows 8..107
    assert within.tolist() == list(range(3, 8)) and grown.tolist() == list(range(8, 108))
    assert store.capacity >= 108
    assert np.isnan(store.closed[3:108]).all() and (store.last_ts[3:108] == NONE).all()
    assert (store.history_steps(np.arange(3, 108)) == 0).all()
    assert (store.last_ts[:3] != NONE).all()  # the servers held before keep their state
