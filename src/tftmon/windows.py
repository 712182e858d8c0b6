"""The windows a forecaster reads: the one data type shared by the store and the forecasters.

``store`` produces ``WindowSnapshot``s and ``forecast``, ``monitoring`` and ``risk`` read
them, so it lives below all of them. Imports nothing from tftmon.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """A copy of the windows of some servers, ready for a forecaster.

    Attributes:
        server: server ids (int64[S]).
        values: bucket means oldest to newest, NaN where not observed (float32[S, L, M]).
        end_bucket: the bucket number of ``values[:, -1]`` (int64[S]).
        history_steps: closed steps held, at most L (int64[S]).
        current: newest raw value of each metric, NaN if never seen (float32[S, M]).
        last_ts_ms: newest sample time (int64[S]).
        step_seconds: the model step.
        profiles: profile of each server (empty when the caller does not know them).
    """

    server: Int64Array
    values: Float32Array
    end_bucket: Int64Array
    history_steps: Int64Array
    current: Float32Array
    last_ts_ms: Int64Array
    step_seconds: int
    profiles: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.server.shape[0])

    def part(self, start: int, stop: int) -> WindowSnapshot:
        """The servers ``start:stop`` of this snapshot (views, no copy)."""
        sl = slice(start, stop)
        return WindowSnapshot(
            self.server[sl],
            self.values[sl],
            self.end_bucket[sl],
            self.history_steps[sl],
            self.current[sl],
            self.last_ts_ms[sl],
            self.step_seconds,
            self.profiles[sl],
        )

    def rows(self, rows: npt.NDArray[np.intp]) -> WindowSnapshot:
        """The servers at ``rows`` of this snapshot (copies)."""
        return WindowSnapshot(
            self.server[rows],
            self.values[rows],
            self.end_bucket[rows],
            self.history_steps[rows],
            self.current[rows],
            self.last_ts_ms[rows],
            self.step_seconds,
            profiles=[self.profiles[i] for i in rows.tolist()] if self.profiles else [],
        )
