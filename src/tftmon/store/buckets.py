"""Raw samples to model-step buckets: the one grouping the windows and the training set use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class BucketGroups:
    """Samples grouped by (server, bucket): ``sum``/``count`` per metric, ``n`` samples."""

    server: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]
    sum: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]
    n: npt.NDArray[np.int64]

    def means(self) -> npt.NDArray[np.float64]:
        """Mean of each metric per group (NaN where a metric had no sample)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), np.nan)


def group_by_bucket(
    server: npt.NDArray[np.int64],
    ts_ms: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    step_ms: int,
) -> BucketGroups:
    """Group samples sorted by (server, ts_ms) into model-step buckets (vectorised)."""
    n = server.shape[0]
    bucket = ts_ms // step_ms
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (server[1:] != server[:-1]) | (bucket[1:] != bucket[:-1])
    start = np.flatnonzero(new_group)
    observed = ~np.isnan(values)
    return BucketGroups(
        server=server[start],
        bucket=bucket[start],
        sum=np.add.reduceat(np.where(observed, values, 0.0), start, axis=0),
        count=np.add.reduceat(observed.astype(np.int64), start, axis=0),
        n=np.diff(np.append(start, n)).astype(np.int64),
    )
