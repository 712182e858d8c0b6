"""Rows of one ``/feed`` batch before they are stored: values clamped to their metric's range,
and records of the same server and timestamp merged into one row.

Metricbeat and other agents send one event per metric family (CPU in one, memory in
another) with the same timestamp; within one batch they become one record. Conflicting
values of one metric: the first record in the batch wins, the later value is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from tftmon.schemas import METRIC_SPECS, METRICS
from tftmon.schemas.records import RejectedField
from tftmon.store.columns import NO_STATE
from tftmon.store.fleet import NewSamples

_UPPER: Final = np.array([np.inf if s.upper is None else s.upper for s in METRIC_SPECS])


def clamp_to_range(values: np.ndarray) -> dict[str, int]:
    """Store values above a metric's upper bound (accepted up to its ``limit``, e.g. cpu_pct
    up to 200 %) at that bound, in place; returns how many per metric."""
    over = values > _UPPER[None, : values.shape[1]]  # NaN (absent) compares False
    counts = over.sum(axis=0)
    if counts.any():
        np.minimum(values, _UPPER[None, : values.shape[1]], out=values)
    return {METRICS[j]: int(n) for j, n in enumerate(counts) if n}


@dataclass(slots=True)
class Merged:
    """What merging did: the rows left, the records folded into an earlier row (by row
    index -> their batch indices), those that brought nothing new, and conflicts."""

    batch: NewSamples
    folded: dict[int, list[int]] = field(default_factory=dict)
    repeats: int = 0
    conflicts: list[RejectedField] = field(default_factory=list)


def _first_per_group(leader: np.ndarray, has: np.ndarray, n: int) -> np.ndarray:
    """Per leader row: the first row of its group (batch order) where ``has``; ``n`` if none."""
    first = np.full(n, n, dtype=np.int64)
    rows = np.flatnonzero(has)
    np.minimum.at(first, leader[rows], rows)
    return first


def merge_same_time(batch: NewSamples) -> Merged:
    """Fold each row into the first row of the batch with the same server and timestamp.

    A later row fills the metrics (and state, profile) the first lacks; a metric both
    have with different values keeps the first value and the later one is reported as a
    ``conflict``. A later row that brings no metric is a repeat (counted a duplicate, as
    before). Rows keep the batch order of their first record.
    """
    n = len(batch.names)
    first: dict[tuple[str, int], int] = {}
    leader = np.fromiter(
        (
            first.setdefault(key, row)
            for row, key in enumerate(zip(batch.names, batch.ts_ms.tolist(), strict=True))
        ),
        dtype=np.int64,
        count=n,
    )
    if len(first) == n:
        return Merged(batch)
    rows = np.arange(n)
    values, state, profiles = batch.values.copy(), batch.state.copy(), list(batch.profiles)
    later = leader != rows
    grouped = later | np.isin(rows, leader[later])  # rows of groups of two or more
    brought = np.zeros(n, dtype=bool)  # a later row supplies some metric of its group
    out = Merged(batch)
    clashes: list[tuple[int, int, float]] = []
    for j in range(values.shape[1]):
        has = grouped & ~np.isnan(values[:, j])
        if not has.any():
            continue
        winner = _first_per_group(leader, has, n)
        lead_rows = np.flatnonzero(winner < n)
        values[lead_rows, j] = values[winner[lead_rows], j]
        brought[winner[lead_rows]] = True
        kept = values[leader, j]
        for clash in np.flatnonzero(has & later & (values[:, j] != kept)).tolist():
            clashes.append((clash, j, float(kept[clash])))
    state_from = _first_per_group(leader, grouped & (state != NO_STATE), n)
    lead_rows = np.flatnonzero(state_from < n)
    state[lead_rows] = state[state_from[lead_rows]]
    for later_row in np.flatnonzero(later).tolist():
        lead = int(leader[later_row])
        profiles[lead] = profiles[lead] or profiles[later_row]
    for at, j, kept_value in sorted(clashes):
        out.conflicts.append(
            RejectedField(
                index=int(batch.origin[at]),
                server_name=batch.names[at],
                field=METRICS[j],
                reason="conflict",
                message=f"{batch.values[at, j]:g} differs from {kept_value:g} in record "
                f"{int(batch.origin[leader[at]])} of the same server and timestamp; the "
                "first value is kept",
            )
        )
    folded_rows = np.flatnonzero(later & brought)
    out.repeats = int(later.sum()) - len(folded_rows)
    keep = np.flatnonzero(~later)
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[keep] = np.arange(len(keep))
    for folded in folded_rows.tolist():
        out.folded.setdefault(int(row_of[leader[folded]]), []).append(int(batch.origin[folded]))
    out.batch = NewSamples(
        origin=batch.origin[keep],
        names=[batch.names[i] for i in keep],
        profiles=[profiles[i] for i in keep],
        ts_ms=batch.ts_ms[keep],
        values=values[keep],
        state=state[keep],
    )
    return out
