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


def merge_same_time(batch: NewSamples) -> Merged:
    """Fold each row into the first row of the batch with the same server and timestamp.

    A later row fills the metrics (and state, profile) the first lacks; a metric both
    have with different values keeps the first value and the later one is reported as a
    ``conflict``. A later row that brings nothing new is a repeat (counted a duplicate,
    as before). Rows keep the batch order of their first record.
    """
    first: dict[tuple[str, int], int] = {}
    later: list[tuple[int, int]] = []
    for row, key in enumerate(zip(batch.names, batch.ts_ms.tolist(), strict=True)):
        seen = first.setdefault(key, row)
        if seen != row:
            later.append((seen, row))
    if not later:
        return Merged(batch)
    values, state, profiles = batch.values.copy(), batch.state.copy(), list(batch.profiles)
    out = Merged(batch)
    for into, row in later:
        mine, theirs = values[into], values[row]
        new = np.isnan(mine) & ~np.isnan(theirs)
        clash = ~np.isnan(mine) & ~np.isnan(theirs) & (mine != theirs)
        mine[new] = theirs[new]
        if state[into] == NO_STATE:
            state[into] = state[row]
        profiles[into] = profiles[into] or profiles[row]
        index, kept_by = int(batch.origin[row]), int(batch.origin[into])
        for j in np.flatnonzero(clash):
            out.conflicts.append(
                RejectedField(
                    index=index,
                    server_name=batch.names[row],
                    field=METRICS[j],
                    reason="conflict",
                    message=f"{theirs[j]:g} differs from {mine[j]:g} in record {kept_by} of "
                    "the same server and timestamp; the first value is kept",
                )
            )
        if new.any():
            out.folded.setdefault(into, []).append(index)
        else:
            out.repeats += 1
    keep = np.ones(len(batch.names), dtype=bool)
    keep[[row for _, row in later]] = False
    rows = np.flatnonzero(keep)
    out.batch = NewSamples(
        origin=batch.origin[rows],
        names=[batch.names[i] for i in rows],
        profiles=[profiles[i] for i in rows],
        ts_ms=batch.ts_ms[rows],
        values=values[rows],
        state=state[rows],
    )
    row_of = {int(r): n for n, r in enumerate(rows)}
    out.folded = {row_of[r]: members for r, members in out.folded.items()}
    return out
