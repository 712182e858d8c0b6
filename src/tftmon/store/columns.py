"""Column batches of samples and buckets exchanged between ingest, windows and history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tftmon.windows import Int64Array

NO_STATE = -1

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SampleColumns:
    """Raw samples as columns; ``values[i, m]`` is NaN where metric m was not reported.

    Attributes:
        server: server ids (int64[n]).
        ts_ms: sample times, epoch milliseconds UTC (int64[n]).
        values: metric values in ``schemas.METRICS`` order (float64[n, M]).
        state: state codes, index into ``schemas.STATES``, ``NO_STATE`` when absent (int8[n]).
    """

    server: Int64Array
    ts_ms: Int64Array
    values: Float64Array
    state: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.server.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> SampleColumns:
        """The rows selected by an index or a boolean mask."""
        return SampleColumns(
            self.server[index], self.ts_ms[index], self.values[index], self.state[index]
        )

    def sorted(self) -> SampleColumns:
        """The rows ordered by (server, ts_ms)."""
        return self.take(np.lexsort((self.ts_ms, self.server)))

    @classmethod
    def empty(cls, n_metrics: int) -> SampleColumns:
        """A batch of no rows."""
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, n_metrics), np.float64),
            np.empty(0, np.int8),
        )


@dataclass(frozen=True, slots=True)
class BucketColumns:
    """Closed model-step buckets: the mean of each metric over the bucket.

    Attributes:
        server: server ids (int64[k]).
        bucket: bucket numbers, ``ts_ms // (step_seconds * 1000)`` (int64[k]).
        mean: per-metric means, NaN where the metric had no sample (float64[k, M]).
        count: samples in the bucket (int64[k]).
    """

    server: Int64Array
    bucket: Int64Array
    mean: Float64Array
    count: Int64Array

    def __len__(self) -> int:
        return int(self.server.shape[0])

    @classmethod
    def empty(cls, n_metrics: int) -> BucketColumns:
        """No buckets."""
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, n_metrics), np.float64),
            np.empty(0, np.int64),
        )
