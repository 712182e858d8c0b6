"""Records of a sample already stored: what they fill in, and which of their fields are refused.

Metricbeat and other agents send one event per metric family (CPU in one, memory in
another) with the same timestamp, possibly in separate batches. A record for a (server,
timestamp) already stored fills the metrics the stored sample lacks while the sample's
bucket is still open; once it closed, those fields are refused as ``late`` (the bucket's
mean is final). A metric both hold with different values keeps the stored value and the
record's is refused as ``conflict``: the rule records of one batch follow too
(``serving.batch_rows``). A record that brings nothing new is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tftmon.store.columns import NO_STATE, SampleColumns


@dataclass(frozen=True, slots=True)
class FieldRefusal:
    """A field of an otherwise counted record that was not stored.

    ``row`` is the record's index in the request; ``stored`` the value kept (a conflict).
    """

    row: int
    metric: str
    reason: str  # "conflict" | "late"
    stored: float | None = None


@dataclass(slots=True)
class StoredMerge:
    """What records of stored samples do.

    Attributes:
        merged: per record, whether it filled in something (bool[n]).
        fills: the merged records' new values only (NaN elsewhere; ``state`` only where the
            stored sample had none), for the history store and the windows.
        refusals: refused fields, by request index then metric order.
    """

    merged: npt.NDArray[np.bool_]
    fills: SampleColumns
    refusals: list[FieldRefusal] = field(default_factory=list)


def merge_stored(
    records: SampleColumns,
    stored: SampleColumns,
    bucket_open: npt.NDArray[np.bool_],
    origin: npt.NDArray[np.int64],
    metrics: tuple[str, ...],
) -> StoredMerge:
    """Merge records into the stored samples of the same server and time.

    Args:
        records: the records (each one's sample is stored).
        stored: the stored samples, row for row.
        bucket_open: per record, whether its sample's bucket is still open.
        origin: the records' indices in the request.
        metrics: the metric names, in column order.
    """
    new_has = ~np.isnan(records.values)
    stored_has = ~np.isnan(stored.values)
    gain = new_has & ~stored_has
    conflict = new_has & stored_has & (records.values != stored.values)
    merged = bucket_open & gain.any(axis=1)
    late = gain & ~bucket_open[:, None]
    values = np.where(gain & merged[:, None], records.values, np.nan)
    state = np.where(merged & (stored.state == NO_STATE), records.state, NO_STATE)
    fills = SampleColumns(records.server, records.ts_ms, values, state.astype(np.int8)).take(merged)
    refusals = [
        FieldRefusal(int(origin[i]), metrics[j], "conflict", float(stored.values[i, j]))
        for i, j in zip(*np.nonzero(conflict), strict=True)
    ] + [
        FieldRefusal(int(origin[i]), metrics[j], "late")
        for i, j in zip(*np.nonzero(late), strict=True)
    ]
    refusals.sort(key=lambda r: (r.row, metrics.index(r.metric)))
    return StoredMerge(merged, fills, refusals)
