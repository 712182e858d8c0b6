"""Durable sample history in one SQLite file (WAL): append, range reads, retention, restore.

Two tiers: raw samples (``samples``, kept ``retention_days``) and closed model-step
buckets (``buckets``, kept ``bucket_retention_days``; what windows are restored from and
what training reads). A batch and the buckets it closes are committed in one transaction
before ``/feed`` answers, so an acknowledged record survives a crash of the process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tftmon.errors import ConfigError
from tftmon.store.columns import NO_STATE, BucketColumns, SampleColumns
from tftmon.store.sqlite import SQLiteFile
from tftmon.windows import Int64Array

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PRUNE_BATCH_ROWS = 10_000  # rows deleted per transaction by ``prune``


@dataclass(frozen=True, slots=True)
class ServerRow:
    """A known server."""

    server_id: int
    name: str
    profile: str


class HistoryStore(SQLiteFile):
    """The SQLite history store; safe to call from several threads (one writer at a time)."""

    label = "history store"

    def __init__(
        self,
        path: Path,
        metrics: Sequence[str],
        step_seconds: int,
        *,
        synchronous: str = "FULL",
    ) -> None:
        super().__init__(synchronous=synchronous)
        self.path = path
        self.metrics = tuple(metrics)
        self.step_ms = step_seconds * 1000
        cols = ", ".join(self.metrics)
        marks = ", ".join("?" for _ in self.metrics)
        self._insert_sample = (
            f"INSERT OR IGNORE INTO samples (server_id, ts_ms, {cols}, state) "
            f"VALUES (?, ?, {marks}, ?)"
        )
        self._insert_bucket = (
            f"INSERT OR REPLACE INTO buckets (server_id, bucket, {cols}, n) "
            f"VALUES (?, ?, {marks}, ?)"
        )
        self._cols = cols
        self._fill_sample = (
            "UPDATE samples SET "
            + ", ".join(f"{c} = coalesce({c}, ?)" for c in (*self.metrics, "state"))
            + " WHERE server_id = ? AND ts_ms = ?"
        )

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open (creating if needed) the database file and check it matches our settings."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect(str(self.path))
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-16384")
        metric_cols = ", ".join(f"{m} REAL" for m in self.metrics)
        conn.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS servers (
                server_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, profile TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS samples (
                server_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, {metric_cols}, state INTEGER,
                PRIMARY KEY (server_id, ts_ms)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS buckets (
                server_id INTEGER NOT NULL, bucket INTEGER NOT NULL, {metric_cols},
                n INTEGER NOT NULL, PRIMARY KEY (server_id, bucket)) WITHOUT ROWID;
            """
        )
        self._conn = conn
        self._check_meta()

    def _check_meta(self) -> None:
        wanted = {
            "schema_version": str(SCHEMA_VERSION),
            "step_seconds": str(self.step_ms // 1000),
            "metrics": ",".join(self.metrics),
        }
        conn = self._connection()
        stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        for key, value in wanted.items():
            if key not in stored:
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            elif stored[key] != value:
                raise ConfigError(
                    f"{self.path} was written with {key}={stored[key]!r} but this daemon runs "
                    f"with {value!r}; use another TFTMON_DATA_DIR or the original setting"
                )

    # ------------------------------------------------------------------ writes

    def add_servers(self, rows: Sequence[ServerRow]) -> None:
        """Register new servers (committed at once)."""
        self.write(
            SampleColumns.empty(len(self.metrics)),
            BucketColumns.empty(len(self.metrics)),
            servers=rows,
        )

    def write(
        self,
        samples: SampleColumns,
        buckets: BucketColumns,
        *,
        servers: Sequence[ServerRow] = (),
        profiles: Sequence[tuple[int, str]] = (),
        fills: SampleColumns | None = None,
    ) -> None:
        """Store new servers, changed profiles, samples and the buckets they closed in one
        durable transaction: all of it, or (``StoreError``) none of it.

        ``fills``: metrics (and states) for samples already stored; a sample's stored
        values are kept, only what it lacks is filled (NaN fills nothing).
        """
        fill_rows = [] if fills is None else self._rows(fills)
        sample_rows = self._rows(samples)
        bucket_rows = list(
            zip(
                buckets.server.tolist(),
                buckets.bucket.tolist(),
                *buckets.mean.T.tolist(),
                buckets.count.tolist(),
                strict=True,
            )
        )
        with self._transaction() as conn:
            if servers:
                conn.executemany(
                    "INSERT INTO servers (server_id, name, profile) VALUES (?, ?, ?)",
                    [(r.server_id, r.name, r.profile) for r in servers],
                )
            if profiles:
                conn.executemany(
                    "UPDATE servers SET profile = ? WHERE server_id = ?",
                    [(profile, sid) for sid, profile in profiles],
                )
            if sample_rows:
                conn.executemany(self._insert_sample, sample_rows)
            if bucket_rows:
                conn.executemany(self._insert_bucket, bucket_rows)
            if fill_rows:  # (server, ts, values..., state) -> (values..., state, server, ts)
                conn.executemany(self._fill_sample, [(*r[2:], *r[:2]) for r in fill_rows])

    @staticmethod
    def _rows(samples: SampleColumns) -> list[tuple[object, ...]]:
        """Sample rows as SQL parameters: ``NO_STATE`` as NULL (SQLite stores NaN as NULL)."""
        return list(
            zip(
                samples.server.tolist(),
                samples.ts_ms.tolist(),
                *samples.values.T.tolist(),
                [None if s == NO_STATE else s for s in samples.state.tolist()],
                strict=True,
            )
        )

    def delete_server(self, server_id: int) -> tuple[int, int]:
        """Delete a server's row, samples and buckets in one transaction; returns the
        samples and buckets deleted. Its id stays unused (a gap, closed at the next start
        by ``repair_server_ids``)."""
        with self._transaction() as conn:
            gone = [
                conn.execute(f"DELETE FROM {t} WHERE server_id = ?", (server_id,)).rowcount
                for t in ("samples", "buckets", "servers")
            ]
        return gone[0], gone[1]

    def repair_server_ids(self) -> int:
        """Make server ids 0..n-1 again and drop rows of ids no server holds; returns the
        rows dropped.

        A deleted server leaves a gap, and older versions could leave both after a failed
        write (a server id handed out but never committed): the ids of the servers after a
        gap move down by one per gap, in one transaction. Cheap when there is nothing to
        repair (two index look-ups).
        """
        ids = [r.server_id for r in self.servers()]
        top = ids[-1] if ids else -1
        beyond = "SELECT 1 FROM {table} WHERE server_id > ? LIMIT 1"
        orphans_beyond = any(
            self._query(beyond.format(table=t), [top]) for t in ("samples", "buckets")
        )
        if ids == list(range(len(ids))) and not orphans_beyond:
            return 0
        dropped = 0
        with self._transaction() as conn:
            for table in ("samples", "buckets"):
                dropped += conn.execute(
                    f"DELETE FROM {table} WHERE server_id NOT IN (SELECT server_id FROM servers)"
                ).rowcount
            for new, old in enumerate(ids):  # ascending: the new id is always free
                if new != old:
                    for table in ("servers", "samples", "buckets"):
                        conn.execute(
                            f"UPDATE {table} SET server_id = ? WHERE server_id = ?", (new, old)
                        )
        (logger.warning if dropped else logger.info)(  # a deleted server's gap is routine
            "history store: server ids renumbered 0..%d (%d gaps: deleted servers, or a "
            "failed write of an older version); %d rows of no known server dropped",
            len(ids) - 1,
            top + 1 - len(ids),
            dropped,
        )
        return dropped

    def prune(
        self,
        newest_ts_ms: int,
        retention_days: float,
        bucket_retention_days: float,
        *,
        batch_rows: int = PRUNE_BATCH_ROWS,
    ) -> int:
        """Delete raw samples and buckets older than their retention; returns rows deleted.

        Retention counts back from the newest stored timestamp, not the wall clock, so
        replayed or accelerated data is not pruned by mistake. At most ``batch_rows`` rows
        go per transaction, and the store's lock is released between them, so a write
        waits for one small transaction at most.
        """
        raw_cutoff = newest_ts_ms - int(retention_days * 86_400_000)
        bucket_cutoff = (newest_ts_ms - int(bucket_retention_days * 86_400_000)) // self.step_ms
        ids = [int(str(r[0])) for r in self._query("SELECT server_id FROM servers")]
        deleted = 0
        for table, column, cutoff in (
            ("samples", "ts_ms", raw_cutoff),
            ("buckets", "bucket", bucket_cutoff),
        ):
            nth = (
                f"SELECT {column} FROM {table} WHERE server_id = ? AND {column} < ? "
                f"ORDER BY {column} LIMIT 1 OFFSET ?"
            )
            delete = f"DELETE FROM {table} WHERE server_id = ? AND {column} <= ?"
            pending = ids[::-1]
            while pending:
                with self._transaction() as conn:
                    budget = batch_rows
                    while pending and budget > 0:
                        sid = pending[-1]
                        last = conn.execute(nth, (sid, cutoff, budget - 1)).fetchone()
                        if last is None:  # fewer than the budget left: this server is done
                            pending.pop()
                        gone = conn.execute(delete, (sid, cutoff - 1 if last is None else last[0]))
                        deleted += gone.rowcount
                        budget -= gone.rowcount
        if deleted:
            logger.info("retention: pruned %d rows older than their retention", deleted)
        return deleted

    # ------------------------------------------------------------------ reads

    def servers(self) -> list[ServerRow]:
        """Every known server, by id."""
        rows = self._query("SELECT server_id, name, profile FROM servers ORDER BY server_id")
        return [ServerRow(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]

    def existing(self, server: Int64Array, ts_ms: Int64Array) -> np.ndarray:
        """For each (server, ts_ms) pair, whether a sample is stored (bool[n])."""
        out = np.zeros(server.shape[0], dtype=bool)
        with self._reading() as conn:
            for i, (sid, ts) in enumerate(zip(server.tolist(), ts_ms.tolist(), strict=True)):
                row = conn.execute(
                    "SELECT 1 FROM samples WHERE server_id = ? AND ts_ms = ?", (sid, ts)
                ).fetchone()
                out[i] = row is not None
        return out

    def stored(self, server: Int64Array, ts_ms: Int64Array) -> SampleColumns:
        """The stored samples of (server, ts_ms) pairs, in the pairs' order; a pair with no
        stored sample reads as server -1."""
        m = len(self.metrics)
        sql = f"SELECT {self._cols}, state FROM samples WHERE server_id = ? AND ts_ms = ?"
        values = np.full((server.shape[0], m), np.nan)
        state = np.full(server.shape[0], NO_STATE, np.int8)
        found = np.full(server.shape[0], -1, np.int64)
        with self._reading() as conn:
            for i, (sid, ts) in enumerate(zip(server.tolist(), ts_ms.tolist(), strict=True)):
                row = conn.execute(sql, (sid, ts)).fetchone()
                if row is not None:
                    found[i] = sid
                    values[i] = [np.nan if v is None else v for v in row[:m]]
                    state[i] = NO_STATE if row[m] is None else row[m]
        return SampleColumns(found, ts_ms.copy(), values, state)

    def newest_ts_ms(self) -> int | None:
        """The newest stored sample time, or None for an empty store."""
        ids = [int(str(r[0])) for r in self._query("SELECT server_id FROM servers")]
        newest: int | None = None
        with self._reading() as conn:
            for sid in ids:
                row = conn.execute(
                    "SELECT max(ts_ms) FROM samples WHERE server_id = ?", (sid,)
                ).fetchone()
                if row and row[0] is not None:
                    newest = int(row[0]) if newest is None else max(newest, int(row[0]))
        return newest

    def read_samples(
        self, server_id: int, start_ms: int, end_ms: int, *, newest_first_limit: int | None = None
    ) -> SampleColumns:
        """Raw samples of one server with ``start_ms <= ts_ms <= end_ms``, oldest first.

        With ``newest_first_limit`` only the newest that many samples of the range.
        """
        sql = (
            f"SELECT server_id, ts_ms, {self._cols}, state FROM samples "
            "WHERE server_id = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms"
        )
        params: list[object] = [server_id, start_ms, end_ms]
        if newest_first_limit is not None:
            sql = sql.replace("ORDER BY ts_ms", "ORDER BY ts_ms DESC LIMIT ?")
            params.append(newest_first_limit)
        rows = self._query(sql, params)
        if newest_first_limit is not None:
            rows.reverse()
        return self._sample_columns(rows)

    def read_buckets(
        self, server_id: int | None, first_bucket: int, last_bucket: int | None = None
    ) -> BucketColumns:
        """Closed buckets with ``first_bucket <= bucket <= last_bucket``, by server then bucket.

        ``server_id=None`` reads every server (used to restore windows).
        """
        sql = f"SELECT server_id, bucket, {self._cols}, n FROM buckets WHERE bucket >= ?"
        params: list[object] = [first_bucket]
        if last_bucket is not None:
            sql += " AND bucket <= ?"
            params.append(last_bucket)
        if server_id is not None:
            sql += " AND server_id = ?"
            params.append(server_id)
        rows = self._query(sql + " ORDER BY server_id, bucket", params)
        m = len(self.metrics)
        if not rows:
            return BucketColumns.empty(m)
        arr = np.array(rows, dtype=np.float64)
        return BucketColumns(
            arr[:, 0].astype(np.int64),
            arr[:, 1].astype(np.int64),
            arr[:, 2 : 2 + m],
            arr[:, 2 + m].astype(np.int64),
        )

    def bucket_spans(self) -> dict[int, tuple[int, int]]:
        """The oldest and newest closed bucket number of each server that has one."""
        ids = [int(str(r[0])) for r in self._query("SELECT server_id FROM servers")]
        out: dict[int, tuple[int, int]] = {}
        with self._reading() as conn:
            for sid in ids:
                newest = conn.execute(
                    "SELECT max(bucket) FROM buckets WHERE server_id = ?", (sid,)
                ).fetchone()[0]
                if newest is None:
                    continue
                oldest = conn.execute(
                    "SELECT min(bucket) FROM buckets WHERE server_id = ?", (sid,)
                ).fetchone()[0]
                out[sid] = (int(oldest), int(newest))
        return out

    def count_samples(self) -> int:
        """How many raw samples are stored."""
        return int(str(self._query("SELECT count(*) FROM samples")[0][0]))

    def _sample_columns(self, rows: list[tuple[object, ...]]) -> SampleColumns:
        m = len(self.metrics)
        if not rows:
            return SampleColumns.empty(m)
        arr = np.array(rows, dtype=np.float64)
        state = np.nan_to_num(arr[:, 2 + m], nan=NO_STATE).astype(np.int8)
        return SampleColumns(
            arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2 : 2 + m], state
        )
