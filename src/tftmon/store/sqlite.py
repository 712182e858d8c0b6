"""One SQLite connection shared by threads: what the history and alert stores have in common.

WAL journal, the configured ``synchronous`` level and a busy timeout; one lock around every
use; SQLite errors surface as ``StoreError`` naming the store. Each store remembers whether
its writes are failing (``write_failure``, cleared by the next write that commits) and tells
its listeners of every failed read or write (the daemon counts them on ``/metrics``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from tftmon.errors import StoreError


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """The newest failed write of a store, and since when its writes fail (epoch s)."""

    error: str
    since: float


class SQLiteFile:
    """Base of the stores: the connection, its lock, transactions and reads."""

    label = "store"  # how errors name the store, e.g. "history store"

    def __init__(self, *, synchronous: str = "FULL") -> None:
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.write_failure: WriteFailure | None = None  # None once a write commits
        self._listeners: list[Callable[[str, str], None]] = []

    def on_error(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(store label, "read" | "write")`` on every failed read or write."""
        self._listeners.append(listener)

    def _failed(self, operation: str, error: StoreError) -> None:
        if operation == "write":
            since = self.write_failure.since if self.write_failure else time.time()
            self.write_failure = WriteFailure(str(error), since)
        for listener in self._listeners:
            listener(self.label, operation)

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
            except BaseException as exc:
                self._rollback(conn)
                if not isinstance(exc, sqlite3.Error):
                    raise  # not the store's fault, but the transaction must not stay open
                error = StoreError(f"{self.label} write failed: {exc}")
                self._failed("write", error)
                raise error from exc
            self.write_failure = None

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock for several reads; SQLite errors as ``StoreError``."""
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.Error as exc:
                error = StoreError(f"{self.label} read failed: {exc}")
                self._failed("read", error)
                raise error from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()
