"""One SQLite connection shared by threads: what the history and alert stores have in common.

WAL journal, the configured ``synchronous`` level and a busy timeout; one lock around every
use; SQLite errors surface as ``StoreError`` naming the store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tftmon.errors import StoreError


class SQLiteFile:
    """Base of the stores: the connection, its lock, transactions and reads."""

    label = "store"  # how errors name the store, e.g. "history store"

    def __init__(self, *, synchronous: str = "FULL") -> None:
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self, target: str) -> sqlite3.Connection:
        """A connection to ``target`` (a path or ``:memory:``) with the shared pragmas."""
        conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def close(self) -> None:
        """Close the database (a checkpoint of the WAL on the last connection)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def is_open(self) -> bool:
        """Whether ``open`` was called (and ``close`` not since)."""
        return self._conn is not None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.label} is not open")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"{self.label} write failed: {exc}") from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.label} read failed: {exc}") from exc
