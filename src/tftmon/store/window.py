"""Per-server rolling windows as numpy arrays: recent raw samples and closed model-step buckets.

Every server owns one row of a few fleet-wide arrays, so appending a batch and taking a
snapshot for inference are vectorised over all servers. Closed buckets live in a ring
indexed by ``bucket_number % encoder_steps``; buckets with no sample stay NaN (a gap),
which the feature code fills forward with a mask. Memory per server is fixed:
``encoder_steps x metrics`` float32 plus ``raw_samples x metrics`` float32 and a few scalars.

A bucket closes when a sample of a later bucket arrives for the same server. Samples
of a bucket before the open one are *late* (callers reject them). Updates come in two
steps, ``plan`` (pure) and ``apply``, so the caller can commit the planned buckets to the
history store before memory changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.store.buckets import group_by_bucket
from tftmon.store.columns import BucketColumns, SampleColumns
from tftmon.windows import Int64Array, WindowSnapshot

NONE = -1
_FILLED = ("open_sum", "open_count", "raw", "current", "state")  # rows ``fill`` changes


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    """What a batch does to the windows; ``closed`` is what the history store must persist."""

    samples: SampleColumns
    closed: BucketColumns
    servers: Int64Array
    open_bucket: Int64Array
    open_sum: npt.NDArray[np.float64]
    open_count: npt.NDArray[np.int64]
    open_n: Int64Array
    last_closed: Int64Array
    first_bucket: Int64Array


class _Grower:
    """Copies the first ``used`` rows of an array into a new one of ``capacity`` rows.

    The rows past ``used`` are left unwritten (``np.empty``): the pages of a large array
    stay untouched, so spare capacity costs address space, not memory, and each row is
    filled when ``WindowStore.add_servers`` hands it out.
    """

    def __init__(self, used: int, capacity: int) -> None:
        self.used, self.capacity = used, capacity

    def __call__(self, old: npt.NDArray[Any] | None, shape: tuple[int, ...], dtype: type) -> Any:
        array: npt.NDArray[Any] = np.empty((self.capacity, *shape), dtype=dtype)
        if old is not None and self.used:
            array[: self.used] = old[: self.used]
        return array


class WindowStore:
    """Rolling windows of every server (not thread-safe: callers hold one lock).

    Row i of every array belongs to server id i.
    """

    closed: npt.NDArray[np.float32]  # [C, L, M] ring of closed bucket means
    last_closed: Int64Array  # newest closed bucket number
    first_bucket: Int64Array  # oldest bucket number held
    open_bucket: Int64Array  # bucket number still filling
    open_sum: npt.NDArray[np.float64]  # [C, M] sums of the open bucket
    open_count: npt.NDArray[np.int64]  # [C, M] samples per metric in the open bucket
    open_n: Int64Array  # samples in the open bucket
    raw: npt.NDArray[np.float32]  # [C, R, M] newest raw samples (ring)
    raw_ts: Int64Array  # [C, R]
    raw_total: Int64Array  # samples ever appended (ring position)
    current: npt.NDArray[np.float32]  # [C, M] newest value of each metric
    last_ts: Int64Array  # newest sample time (ms)
    state: npt.NDArray[np.int8]  # newest state code

    def __init__(
        self, n_metrics: int, step_seconds: int, encoder_steps: int, raw_samples: int
    ) -> None:
        self.n_metrics = n_metrics
        self.step_seconds = step_seconds
        self.step_ms = step_seconds * 1000
        self.encoder_steps = encoder_steps
        self.raw_samples = raw_samples
        self.size = 0
        self._allocate(16)

    # ------------------------------------------------------------------ capacity

    def _fields(self) -> dict[str, tuple[tuple[int, ...], float, type]]:
        """Per-server array: its shape beyond the server axis, its fill value and dtype."""
        m, length, r = self.n_metrics, self.encoder_steps, self.raw_samples
        return {
            "closed": ((length, m), np.nan, np.float32),
            "last_closed": ((), NONE, np.int64),
            "first_bucket": ((), NONE, np.int64),
            "open_bucket": ((), NONE, np.int64),
            "open_sum": ((m,), 0.0, np.float64),
            "open_count": ((m,), 0, np.int64),
            "open_n": ((), 0, np.int64),
            "raw": ((r, m), np.nan, np.float32),
            "raw_ts": ((r,), NONE, np.int64),
            "raw_total": ((), 0, np.int64),
            "current": ((m,), np.nan, np.float32),
            "last_ts": ((), NONE, np.int64),
            "state": ((), NONE, np.int8),
        }

    def _allocate(self, capacity: int) -> None:
        grow = _Grower(self.size, capacity)
        for name, (shape, _, dtype) in self._fields().items():
            setattr(self, name, grow(getattr(self, name, None), shape, dtype))
        self.capacity = capacity

    def add_servers(self, count: int) -> Int64Array:
        """Make room for ``count`` new servers; returns their ids."""
        start = self.size
        if start + count > self.capacity:
            self._allocate(max(self.capacity * 2, start + count))
        for name, (_, fill, _) in self._fields().items():
            getattr(self, name)[start : start + count] = fill
        self.size += count
        return np.arange(start, start + count, dtype=np.int64)

    def drop_servers(self, size: int) -> None:
        """Forget the servers from id ``size`` on (added for a write that failed): their
        rows are reset, and the next ``add_servers`` hands the same ids out again."""
        if size >= self.size:
            return
        for name, (_, fill, _) in self._fields().items():
            getattr(self, name)[size : self.size] = fill
        self.size = size

    def clear_rows(self, server: Int64Array) -> None:
        """Reset the rows of ``server`` (a deleted server): its ids stay taken, its windows
        empty, so it leaves every snapshot."""
        for name, (_, fill, _) in self._fields().items():
            getattr(self, name)[server] = fill

    def hold(self, server: Int64Array) -> tuple[npt.NDArray[Any], ...]:
        """Copies of what ``fill`` changes in the rows of ``server`` (for ``release``)."""
        return (server.copy(), *(getattr(self, n)[server].copy() for n in _FILLED))

    def release(self, held: tuple[npt.NDArray[Any], ...]) -> None:
        """Put back the rows ``hold`` copied (a write that failed after ``fill``)."""
        server, *arrays = held
        for name, array in zip(_FILLED, arrays, strict=True):
            getattr(self, name)[server] = array

    def nbytes(self) -> int:
        """Bytes held by the window arrays."""
        names = ("closed", "open_sum", "open_count", "raw", "raw_ts", "current")
        return int(sum(getattr(self, name).nbytes for name in names))

    # ------------------------------------------------------------------ queries

    def history_steps(self, server: Int64Array | None = None) -> Int64Array:
        """Closed steps held per server (gaps included, at most ``encoder_steps``)."""
        idx = np.arange(self.size) if server is None else server
        last = self.last_closed[idx]
        start = np.maximum(self.first_bucket[idx], last - self.encoder_steps + 1)
        return np.where(last >= 0, last - start + 1, 0).astype(np.int64)

    def accepting_from(self, server: Int64Array) -> Int64Array:
        """The first bucket number each server still takes samples for (older ones are late)."""
        open_b = self.open_bucket[server]
        after_closed = np.where(self.last_closed[server] != NONE, self.last_closed[server] + 1, 0)
        return np.where(open_b != NONE, open_b, after_closed)

    # ------------------------------------------------------------------ updates

    def plan(self, batch: SampleColumns) -> WindowUpdate:
        """Compute, without changing anything, what appending ``batch`` does.

        ``batch`` must be sorted by (server, ts_ms), hold no duplicate, and no sample of a
        bucket before its server's open bucket.
        """
        m = self.n_metrics
        if len(batch) == 0:
            empty = np.empty(0, np.int64)
            return WindowUpdate(
                batch,
                BucketColumns.empty(m),
                empty,
                empty,
                np.empty((0, m)),
                np.empty((0, m), np.int64),
                empty,
                empty,
                empty,
            )
        groups = group_by_bucket(batch.server, batch.ts_ms, batch.values, self.step_ms)
        g_s, g_b, g_sum, g_cnt, g_n = (
            groups.server,
            groups.bucket,
            groups.sum,
            groups.count,
            groups.n,
        )
        # the open bucket joins the group of the same bucket
        merge = g_b == self.open_bucket[g_s]
        g_sum[merge] += self.open_sum[g_s[merge]]
        g_cnt[merge] += self.open_count[g_s[merge]]
        g_n[merge] += self.open_n[g_s[merge]]
        # per server: the last group becomes the open bucket, earlier groups close
        first_of_server = np.ones(len(g_s), dtype=bool)
        first_of_server[1:] = g_s[1:] != g_s[:-1]
        sfirst = np.flatnonzero(first_of_server)
        slast = np.append(sfirst[1:], len(g_s)) - 1
        servers = g_s[sfirst]
        old_open = self.open_bucket[servers]
        close_old = (old_open != NONE) & (g_b[sfirst] != old_open)
        closes = np.ones(len(g_s), dtype=bool)
        closes[slast] = False
        c_s = np.concatenate([servers[close_old], g_s[closes]])
        c_b = np.concatenate([old_open[close_old], g_b[closes]])
        c_sum = np.concatenate([self.open_sum[servers[close_old]], g_sum[closes]])
        c_cnt = np.concatenate([self.open_count[servers[close_old]], g_cnt[closes]])
        c_n = np.concatenate([self.open_n[servers[close_old]], g_n[closes]])
        order = np.lexsort((c_b, c_s))
        with np.errstate(invalid="ignore", divide="ignore"):
            c_mean = np.where(c_cnt > 0, c_sum / np.maximum(c_cnt, 1), np.nan)[order]
        closed = BucketColumns(c_s[order], c_b[order], c_mean, c_n[order])
        # newest closed bucket per touched server
        last_closed = self.last_closed[servers].copy()
        several = slast > sfirst
        last_closed[several] = g_b[slast[several] - 1]
        only_old = ~several & close_old
        last_closed[only_old] = old_open[only_old]
        first_bucket = self.first_bucket[servers].copy()
        unset = first_bucket == NONE
        first_bucket[unset] = np.where(close_old[unset], old_open[unset], g_b[sfirst[unset]])
        return WindowUpdate(
            samples=batch,
            closed=closed,
            servers=servers,
            open_bucket=g_b[slast],
            open_sum=g_sum[slast],
            open_count=g_cnt[slast],
            open_n=g_n[slast],
            last_closed=last_closed,
            first_bucket=first_bucket,
        )

    def apply(self, update: WindowUpdate) -> None:
        """Apply a planned update (after its buckets were persisted)."""
        if len(update.servers) == 0:
            return
        servers = update.servers
        self._write_closed(servers, self.last_closed[servers], update.last_closed, update.closed)
        self.last_closed[servers] = update.last_closed
        self.first_bucket[servers] = update.first_bucket
        self.open_bucket[servers] = update.open_bucket
        self.open_sum[servers] = update.open_sum
        self.open_count[servers] = update.open_count
        self.open_n[servers] = update.open_n
        self.append_raw(update.samples)

    def fill(self, fills: SampleColumns) -> None:
        """Add metric values to samples already held, of their server's open bucket (callers
        check): the open sums and counts take them, and the raw ring and the newest values
        the sample's row; NaN (and ``state`` -1) where a sample gains nothing."""
        if len(fills) == 0:
            return
        s, has = fills.server, ~np.isnan(fills.values)
        np.add.at(self.open_sum, s, np.where(has, fills.values, 0.0))
        np.add.at(self.open_count, s, has.astype(np.int64))
        match = self.raw_ts[s] == fills.ts_ms[:, None]  # [n, R]
        held = match.any(axis=1)
        pos = match.argmax(axis=1)[held]
        old = self.raw[s[held], pos]
        self.raw[s[held], pos] = np.where(np.isnan(old), fills.values[held], old)
        newest = fills.ts_ms == self.last_ts[s]
        rows, metric = np.nonzero(has & newest[:, None])
        self.current[s[rows], metric] = fills.values[rows, metric]
        with_state = newest & (fills.state >= 0)
        self.state[s[with_state]] = fills.state[with_state]

    def append_raw(self, batch: SampleColumns) -> None:
        """Add samples (sorted by server, ts_ms) to the raw rings and current values only."""
        n = len(batch)
        if n == 0:
            return
        s = batch.server
        first = np.ones(n, dtype=bool)
        first[1:] = s[1:] != s[:-1]
        sfirst = np.flatnonzero(first)
        counts = np.diff(np.append(sfirst, n))
        rank = np.arange(n) - np.repeat(sfirst, counts)
        servers = s[sfirst]
        total = np.repeat(self.raw_total[servers], counts) + rank
        keep = rank >= np.repeat(counts, counts) - self.raw_samples  # newest R per server
        pos = total[keep] % self.raw_samples
        self.raw[s[keep], pos] = batch.values[keep]
        self.raw_ts[s[keep], pos] = batch.ts_ms[keep]
        self.raw_total[servers] += counts
        # newest value of each metric, only from samples newer than what was seen
        fresh = batch.ts_ms > self.last_ts[s]
        idx = np.arange(n)
        for metric in range(self.n_metrics):
            usable = fresh & ~np.isnan(batch.values[:, metric])
            last = np.maximum.reduceat(np.where(usable, idx, -1), sfirst)
            hit = last >= 0
            self.current[servers[hit], metric] = batch.values[last[hit], metric]
        newest = np.maximum.reduceat(np.where(fresh, idx, -1), sfirst)
        hit = newest >= 0
        self.last_ts[servers[hit]] = batch.ts_ms[newest[hit]]
        with_state = fresh & (batch.state >= 0)
        newest_state = np.maximum.reduceat(np.where(with_state, idx, -1), sfirst)
        hit = newest_state >= 0
        self.state[servers[hit]] = batch.state[newest_state[hit]]

    def restore_closed(self, buckets: BucketColumns) -> None:
        """Load closed buckets (sorted by server, bucket) read back from the history store."""
        if len(buckets) == 0:
            return
        s = buckets.server
        first = np.ones(len(s), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        sfirst = np.flatnonzero(first)
        slast = np.append(sfirst[1:], len(s)) - 1
        servers = s[sfirst]
        new_last = np.maximum(self.last_closed[servers], buckets.bucket[slast])
        self._write_closed(servers, self.last_closed[servers], new_last, buckets)
        self.last_closed[servers] = new_last
        unset = self.first_bucket[servers] == NONE
        self.first_bucket[servers[unset]] = buckets.bucket[sfirst[unset]]

    def _write_closed(
        self, servers: Int64Array, old_last: Int64Array, new_last: Int64Array, rows: BucketColumns
    ) -> None:
        length = self.encoder_steps
        moved = new_last > old_last
        if moved.any():
            # clear the ring slots the window moves over, so skipped buckets read as gaps
            start = np.maximum(old_last[moved] + 1, new_last[moved] - length + 1)
            counts = new_last[moved] - start + 1
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            slots = (np.repeat(start, counts) + offsets) % length
            self.closed[np.repeat(servers[moved], counts), slots] = np.nan
        if len(rows) == 0:
            return
        last_of = np.full(self.size, NONE, np.int64)
        last_of[servers] = new_last
        inside = rows.bucket > last_of[rows.server] - length
        self.closed[rows.server[inside], rows.bucket[inside] % length] = rows.mean[inside]

    # ------------------------------------------------------------------ snapshot

    def snapshot(self, server: Int64Array | None = None) -> WindowSnapshot:
        """Copy the windows of ``server`` (default: every server holding any sample)."""
        if server is None:
            candidates = np.arange(self.size)
            server = candidates[self.last_ts[: self.size] != NONE]
        length = self.encoder_steps
        last_closed = self.last_closed[server]
        has_closed = last_closed != NONE
        end: Int64Array = np.where(has_closed, last_closed, self.open_bucket[server])
        slots = (end[:, np.newaxis] - np.arange(length - 1, -1, -1)[np.newaxis, :]) % length
        values = self.closed[server[:, None], slots]
        if (~has_closed).any():
            # no closed step yet: the open bucket's partial mean stands in as the only point
            rows = server[~has_closed]
            with np.errstate(invalid="ignore", divide="ignore"):
                partial = np.where(
                    self.open_count[rows] > 0,
                    self.open_sum[rows] / np.maximum(self.open_count[rows], 1),
                    np.nan,
                )
            values[~has_closed] = np.nan
            values[~has_closed, -1] = partial
        return WindowSnapshot(
            server=server.astype(np.int64),
            values=values,
            end_bucket=end,
            history_steps=self.history_steps(server),
            current=self.current[server].copy(),
            last_ts_ms=self.last_ts[server].copy(),
            step_seconds=self.step_seconds,
        )
