"""The fleet's state: server registry, durable history and rolling windows behind one lock.

A server that sent nothing for ``stale_after_s`` is *stale*: it stays stored and known,
but leaves the snapshot the inference cycle forecasts and the warm-up counts, until it
sends again. Staleness is measured against the fleet's newest sample, not the daemon's
clock, as retention is: replayed or backfilled data (timestamps far behind the clock),
senders with skewed clocks and a pipeline that stops for the whole fleet then leave
no server out, while one server that went away while the others report does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tftmon.schemas import METRICS, profile_for
from tftmon.store.columns import SampleColumns
from tftmon.store.fleet_results import AppendResult, FleetSnapshot, ServerDeletion, ServerWarmupRow
from tftmon.store.history import HistoryStore, ServerRow
from tftmon.store.stored_merge import merge_stored
from tftmon.store.window import NONE, WindowStore, WindowUpdate

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewSamples:
    """Validated records as columns, before server ids are assigned.

    ``origin[i]`` is the index of row i in the request, for error reports.
    """

    origin: np.ndarray
    names: list[str]
    profiles: list[str | None]
    ts_ms: np.ndarray
    values: np.ndarray
    state: np.ndarray


@dataclass(slots=True)
class _ServerPlan:
    """The server ids of a batch's rows (-1: over the limit), before anything changes."""

    ids: np.ndarray
    new: list[ServerRow]
    profiles: dict[int, str]  # changed profiles of known servers


class FleetStore:
    """Owns the server registry, history store and windows; thread-safe."""

    def __init__(
        self,
        history: HistoryStore,
        *,
        step_seconds: int,
        encoder_steps: int,
        raw_samples: int,
        min_history_steps: int,
        profile_rules: Mapping[str, str],
        max_servers: int | None = None,
        stale_after_s: float | None = 3600.0,
    ) -> None:
        self.history = history
        self.max_servers = max_servers  # new servers past it are refused per record
        self.stale_after_s = stale_after_s  # None or 0: no server is ever stale
        self.metrics = METRICS
        self.min_history_steps = min_history_steps
        self.profile_rules = dict(profile_rules)
        self.window = WindowStore(len(METRICS), step_seconds, encoder_steps, raw_samples)
        self.names: list[str] = []
        self.profiles: list[str] = []
        self._index: dict[str, int] = {}
        self._deleted: set[int] = set()  # ids of deleted servers (not reused until restart)
        self.lock = threading.Lock()
        self.records_total = 0  # accepted by this process since it started

    # ------------------------------------------------------------------ start-up

    def open(self) -> float:
        """Open the history store and rebuild every window from it; returns seconds taken."""
        started = time.perf_counter()
        self.history.open()
        with self.lock:
            self._restore()
        took = time.perf_counter() - started
        logger.info(
            "restored %d servers (%d ready) from %s in %.2f s",
            len(self.names),
            self.servers_ready(),
            self.history.path,
            took,
        )
        return took

    def close(self) -> None:
        """Close the history store."""
        self.history.close()

    def _restore(self) -> None:
        self.history.repair_server_ids()  # deleted servers' ids; an older version's failed write
        rows = self.history.servers()
        if not rows:
            return
        self.window.add_servers(len(rows))
        for row in rows:
            self._index[row.name] = row.server_id
            self.names.append(row.name)
            self.profiles.append(row.profile)
        length = self.window.encoder_steps
        spans = self.history.bucket_spans()
        last = {sid: newest for sid, (_, newest) in spans.items()}
        for sid, newest in last.items():  # one server at a time keeps the peak memory small
            self.window.restore_closed(self.history.read_buckets(sid, newest - length + 1, newest))
        for sid, (oldest, _) in spans.items():
            self.window.first_bucket[sid] = oldest
        step_ms = self.window.step_ms
        far = np.iinfo(np.int64).max
        raw_n = self.window.raw_samples
        for row in rows:
            sid = row.server_id
            open_from = (last[sid] + 1) * step_ms if sid in last else 0
            recent = self.history.read_samples(sid, 0, far, newest_first_limit=raw_n)
            if len(recent) and recent.ts_ms[0] >= open_from:
                recent = self.history.read_samples(sid, open_from, far)
            in_open = recent.ts_ms >= open_from
            self.window.append_raw(recent.take(~in_open))
            self.window.apply(self.window.plan(recent.take(in_open)))

    # ------------------------------------------------------------------ ingest

    def append(self, batch: NewSamples) -> AppendResult:
        """Store new samples durably, then add them to the windows.

        Duplicates (already stored, or repeated within the batch) are counted, not stored;
        samples of a bucket already closed are returned in ``late``. New servers, their
        samples and the buckets they close are committed in one transaction; if it fails
        (``StoreError``) neither the registry nor the windows change.
        """
        result = AppendResult()
        if len(batch.names) == 0:
            return result
        with self.lock:
            known_before = len(self.names)
            plan = self._server_ids(batch.names, batch.profiles)
            self.window.add_servers(len(plan.new))
            try:
                fresh, update, result = self._store(batch, plan)
            except BaseException:
                self.window.drop_servers(known_before)
                raise
            for row in plan.new:
                self._index[row.name] = row.server_id
                self.names.append(row.name)
                self.profiles.append(row.profile)
            for sid, profile in plan.profiles.items():
                self.profiles[sid] = profile
            self.window.apply(update)
            self.records_total += len(fresh)
        result.new_servers = len(plan.new)
        if result.over_limit:
            logger.warning(
                "%d records of new servers refused: %d servers tracked, the most allowed",
                len(result.over_limit),
                len(self.names),
            )
        return result

    def _store(
        self, batch: NewSamples, plan: _ServerPlan
    ) -> tuple[SampleColumns, WindowUpdate, AppendResult]:
        """Sort, drop duplicates and late samples, plan the windows and commit (memory is
        left to the caller)."""
        result = AppendResult()
        inside = plan.ids >= 0
        result.over_limit = sorted(batch.origin[~inside].tolist())
        cols = SampleColumns(plan.ids, batch.ts_ms, batch.values, batch.state).take(inside)
        origin = batch.origin[inside]
        order = np.lexsort((cols.ts_ms, cols.server))
        cols, origin = cols.take(order), origin[order]
        repeat = np.zeros(len(cols), dtype=bool)
        repeat[1:] = (cols.server[1:] == cols.server[:-1]) & (cols.ts_ms[1:] == cols.ts_ms[:-1])
        known = np.flatnonzero(~repeat & (cols.ts_ms <= self.window.last_ts[cols.server]))
        found, merged = np.zeros(len(cols), dtype=bool), np.zeros(len(cols), dtype=bool)
        fills = SampleColumns.empty(len(self.metrics))
        bucket = cols.ts_ms // self.window.step_ms
        if len(known):
            stored = self.history.stored(cols.server[known], cols.ts_ms[known])
            hit = stored.server >= 0
            known, stored = known[hit], stored.take(hit)
            found[known] = True
            still_open = bucket[known] == self.window.open_bucket[cols.server[known]]
            merge = merge_stored(cols.take(known), stored, still_open, origin[known], self.metrics)
            merged[known[merge.merged]] = True
            fills, result.refusals = merge.fills, merge.refusals
        duplicate = repeat | (found & ~merged)
        late = ~repeat & ~found & (bucket < self.window.accepting_from(cols.server))
        fresh = cols.take(~repeat & ~found & ~late)
        held = self.window.hold(np.unique(fills.server))
        self.window.fill(fills)  # before the plan: a bucket the batch closes holds the fills
        try:
            update = self.window.plan(fresh)
            self.history.write(
                fresh,
                update.closed,
                servers=plan.new,
                profiles=list(plan.profiles.items()),
                fills=fills,
            )
        except BaseException:
            self.window.release(held)
            raise
        result.accepted = len(fresh)
        result.duplicates = int(duplicate.sum())
        result.merged = sorted(origin[merged].tolist())
        result.late = sorted(origin[late].tolist())
        result.closed_buckets = len(update.closed)
        return fresh, update, result

    def _server_ids(self, names: Sequence[str], profiles: Sequence[str | None]) -> _ServerPlan:
        """Ids for the rows' servers; new ones numbered on from the known ones (nothing is
        registered here)."""
        first = len(self.names)
        known = first - len(self._deleted)
        room = None if self.max_servers is None else max(0, self.max_servers - known)
        pending: dict[str, int] = {}
        new_profiles: list[str] = []
        changed: dict[int, str] = {}
        ids = np.empty(len(names), dtype=np.int64)
        for i, (name, profile) in enumerate(zip(names, profiles, strict=True)):
            sid = self._index.get(name)
            if sid is not None:
                if profile is not None and profile != changed.get(sid, self.profiles[sid]):
                    changed[sid] = profile
            elif name in pending:
                sid = pending[name]
                if profile is not None:
                    new_profiles[sid - first] = profile
            elif room is not None and len(pending) >= room:
                sid = -1
            else:
                sid = pending[name] = first + len(new_profiles)
                new_profiles.append(profile or profile_for(name, self.profile_rules))
            ids[i] = sid
        new = [ServerRow(sid, name, new_profiles[sid - first]) for name, sid in pending.items()]
        return _ServerPlan(ids, new, changed)

    # ------------------------------------------------------------------ reads

    def delete(self, name: str) -> ServerDeletion | None:
        """Delete a server: its row, samples and buckets in one transaction, then its
        windows; None for an unknown name. A later record of the name makes a new server.

        Raises:
            StoreError: the delete did not commit; nothing changed.
        """
        with self.lock:
            sid = self._index.get(name)
            if sid is None:
                return None
            samples, buckets = self.history.delete_server(sid)
            self.window.clear_rows(np.array([sid], dtype=np.int64))
            del self._index[name]
            self._deleted.add(sid)
        logger.info("server %r deleted (%d samples, %d buckets)", name, samples, buckets)
        return ServerDeletion(name, samples, buckets)

    def _activity(self) -> tuple[np.ndarray, np.ndarray]:
        """Per server id: whether it is known (not deleted) and whether it is stale (no
        sample, or none within ``stale_after_s`` of the fleet's newest); under the lock."""
        last = self.window.last_ts[: self.window.size]
        known = np.ones(len(last), dtype=bool)
        known[list(self._deleted)] = False
        stale = known & (last == NONE)
        if self.stale_after_s and len(last):
            cutoff = int(last.max()) - round(self.stale_after_s * 1000)
            stale |= known & (last < cutoff)
        return known, stale

    def servers_ready(self) -> int:
        """Servers (not stale) holding at least the minimum history."""
        with self.lock:
            known, stale = self._activity()
            ready = self.window.history_steps() >= self.min_history_steps
            return int((ready & known & ~stale).sum())

    def servers_tracked(self) -> int:
        """Known servers that are not stale."""
        with self.lock:
            known, stale = self._activity()
            return int((known & ~stale).sum())

    def servers_stale(self) -> int:
        """Known servers that are stale."""
        with self.lock:
            return int(self._activity()[1].sum())

    def server_id(self, name: str) -> int | None:
        """The id of a known server."""
        return self._index.get(name)

    def snapshot(self) -> FleetSnapshot:
        """Copy the windows of every server that holds data and is not stale."""
        with self.lock:
            known, stale = self._activity()
            windows = self.window.snapshot(np.flatnonzero(known & ~stale))
            ids = windows.server.tolist()
            profiles = [self.profiles[i] for i in ids]
            return FleetSnapshot(
                replace(windows, profiles=profiles),
                [self.names[i] for i in ids],
                profiles,
                [self.names[i] for i in np.flatnonzero(stale).tolist()],
            )

    def warmup(self) -> list[ServerWarmupRow]:
        """Warm-up of every known server, stale ones too (marked)."""
        with self.lock:
            known, stale = self._activity()
            steps = self.window.history_steps().tolist()
            last = self.window.last_ts[: self.window.size].tolist()
            return [
                ServerWarmupRow(self.names[i], steps[i], last[i], bool(stale[i]))
                for i in np.flatnonzero(known).tolist()
            ]

    def bucket_history(self, server_id: int, hours: float) -> tuple[np.ndarray, np.ndarray]:
        """Bucket start times (epoch s) and means ([T, M]) of one server's last ``hours``.

        The open (still filling) bucket comes last, with its partial means.
        """
        step_ms = self.window.step_ms
        with self.lock:
            last_ts = int(self.window.last_ts[server_id])
            open_b = int(self.window.open_bucket[server_id])
            o_sum = self.window.open_sum[server_id].copy()
            o_cnt = self.window.open_count[server_id].copy()
        if last_ts == NONE:
            return np.empty(0, np.int64), np.empty((0, len(self.metrics)))
        first = (last_ts - int(hours * 3_600_000)) // step_ms
        rows = self.history.read_buckets(server_id, first)
        times = rows.bucket * (step_ms // 1000)
        values = rows.mean
        if open_b != NONE and (len(rows) == 0 or open_b > rows.bucket[-1]):
            with np.errstate(invalid="ignore", divide="ignore"):
                partial = np.where(o_cnt > 0, o_sum / np.maximum(o_cnt, 1), np.nan)
            times = np.append(times, open_b * (step_ms // 1000))
            values = np.vstack([values, partial[None, :]])
        return times, values
