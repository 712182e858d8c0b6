"""The network's forecasts of recent cycles, kept for the forecast selection's judge.

Each cycle the selection (``forecast.selection``) judges the network on the newest hours:
what it forecast from the windows as they were ``selection_steps`` buckets ago. In a
running daemon that forecast was made then, by the cycle of that bucket, from the same
inputs. ``PastForecasts`` keeps the first ``steps`` medians of every forecast the network
makes, keyed by a digest of exactly what the network read (the window's values of its
metrics, its encoder length, the bucket it ends at and the profile), so the judge looks
them up instead of running the network a second time. A window whose data changed since
(late samples) has another digest and is forecast again: a hit is always the network's
answer to the very same inputs.

Entries older than ``steps`` buckets behind the newest are dropped, and at most
``max_entries`` are held (about 0.5 KB each: at 4 metrics and 24 steps, 25 entries per
server, about 13 KB per server).
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

DEFAULT_MAX_ENTRIES: Final = 25 * 20_000  # 20,000 servers' worth


class PastForecasts:
    """Medians ``[steps, M]`` of the network's forecasts by a digest of their inputs."""

    def __init__(self, steps: int, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.steps = steps
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[int, npt.NDArray[np.float32]]] = {}
        self._newest = -(2**62)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def keys(
        window: npt.NDArray[np.float32],
        encoder_lengths: npt.NDArray[np.int64],
        end_bucket: npt.NDArray[np.int64],
        codes: npt.NDArray[np.int64],
    ) -> list[bytes]:
        """One digest per row of what the network reads: ``window [S, E, Mm]`` (NaN gaps
        included), the encoder length, the end bucket and the profile code."""
        window = np.ascontiguousarray(window, np.float32)
        meta = np.stack([encoder_lengths, end_bucket, codes], axis=1).astype(np.int64)
        return [
            hashlib.blake2b(row.tobytes() + info.tobytes(), digest_size=16).digest()
            for row, info in zip(window, meta, strict=True)
        ]

    def put(
        self,
        keys: list[bytes],
        end_bucket: npt.NDArray[np.int64],
        medians: npt.NDArray[np.float32],
    ) -> None:
        """Keep ``medians [S, steps, M]`` of rows ``keys`` (copied)."""
        if not keys:
            return
        self._newest = max(self._newest, int(end_bucket.max()))
        oldest = self._newest - self.steps - 1
        if len(self._entries) + len(keys) > self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= oldest}
        room = self.max_entries - len(self._entries)
        for key, end, row in zip(keys, end_bucket.tolist(), medians, strict=True):
            if key in self._entries or room > 0:
                room -= key not in self._entries
                self._entries[key] = (end, np.array(row[: self.steps], np.float32))

    def get(
        self, keys: list[bytes], shape: tuple[int, int]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
        """``(hit [S], medians [S, *shape])``: NaN rows where no forecast is held."""
        hit = np.zeros(len(keys), bool)
        out = np.full((len(keys), *shape), np.nan, np.float32)
        for i, key in enumerate(keys):
            entry = self._entries.get(key)
            if entry is not None and entry[1].shape == shape:
                hit[i] = True
                out[i] = entry[1]
        found = int(hit.sum())
        self.hits += found
        self.misses += len(keys) - found
        return hit, out
