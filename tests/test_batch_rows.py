"""serving.batch_rows: clamping to a metric's range and merging rows of one server and time."""

from __future__ import annotations

import numpy as np

from tftmon.serving.batch_rows import clamp_to_range, merge_same_time
from tftmon.store.columns import NO_STATE
from tftmon.store.fleet import NewSamples

NAN = float("nan")


def samples(rows: list[tuple[str, int, list[float], int, str | None]]) -> NewSamples:
    return NewSamples(
        origin=np.arange(len(rows), dtype=np.int64),
        names=[r[0] for r in rows],
        profiles=[r[4] for r in rows],
        ts_ms=np.array([r[1] for r in rows], dtype=np.int64),
        values=np.array([r[2] for r in rows], dtype=np.float64),
        state=np.array([r[3] for r in rows], dtype=np.int8),
    )


def test_clamp_counts_per_metric_and_leaves_absent_values() -> None:
    values = np.array([[150.0, 100.0, 5e5, NAN], [NAN, 200.0, 0.0, 1.0]])
    assert clamp_to_range(values) == {"cpu_pct": 1, "mem_pct": 1}
    np.testing.assert_array_equal(values, [[100.0, 100.0, 5e5, NAN], [NAN, 100.0, 0.0, 1.0]])


def test_merge_first_value_wins_in_batch_order() -> None:
    batch = samples(
        [
            ("a", 1, [NAN, 10.0, NAN, NAN], NO_STATE, None),  # leader: memory only
            ("b", 1, [1.0, NAN, NAN, NAN], 0, None),
            ("a", 1, [20.0, 11.0, NAN, NAN], 2, "database"),  # cpu new, memory conflicts
            ("a", 1, [21.0, NAN, NAN, NAN], 3, None),  # cpu conflicts: a repeat
            ("a", 2, [NAN, NAN, 3.0, NAN], NO_STATE, None),  # another time: its own row
            ("a", 1, [NAN, NAN, NAN, 7.0], NO_STATE, None),  # latency new
        ]
    )
    merged = merge_same_time(batch)
    out = merged.batch
    assert out.origin.tolist() == [0, 1, 4]
    np.testing.assert_array_equal(out.values[0], [20.0, 10.0, NAN, 7.0])
    assert (int(out.state[0]), out.profiles[0]) == (2, "database")
    assert merged.folded == {0: [2, 5]}
    assert merged.repeats == 1
    assert [(c.index, c.field, c.reason) for c in merged.conflicts] == [
        (2, "mem_pct", "conflict"),
        (3, "cpu_pct", "conflict"),
    ]
    assert "kept" in merged.conflicts[0].message


def test_merge_leaves_a_batch_without_repeats_alone() -> None:
    batch = samples([("a", 1, [1.0, NAN, NAN, NAN], NO_STATE, None)])
    assert merge_same_time(batch).batch is batch
