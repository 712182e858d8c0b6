"""The machinery of ``production_metrics_forwarder_TEMPLATE.py``: collect, send, spool, replay.

Every tick the forwarder calls the user's ``collect_metrics()``, sends its records in one
POST through ``tftmon.client`` (timeout, retry with backoff and jitter), and when the daemon
stays unreachable writes the batch to a bounded on-disk spool. Spooled batches are replayed
oldest first as soon as the daemon answers again, before new data, so nothing is lost and
order is kept; the daemon's duplicate detection makes a replay after a lost answer harmless.

A daemon that refuses the API key (401/403) refuses every batch: the forwarder then keeps
the batch (and this tick's records) in the spool and stops with ``DaemonResponseError``,
so nothing is lost and the backlog is sent once the key is fixed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson

from tftmon.client import TftmonClient
from tftmon.errors import DaemonResponseError, DaemonUnavailableError
from tftmon.fileio import atomic_write_bytes
from tftmon.timefmt import now_z

logger = logging.getLogger(__name__)

Collector = Callable[[], list[dict[str, Any]]]

KEY_REFUSED: Final = frozenset({401, 403})  # the key is wrong: every batch would be refused


def key_refused(exc: BaseException) -> bool:
    """True when ``exc`` is the daemon refusing the API key (HTTP 401 or 403)."""
    return isinstance(exc, DaemonResponseError) and exc.status_code in KEY_REFUSED


class Spool:
    """Batches waiting for the daemon: one JSON file each, named in arrival order.

    Bounded by ``max_batches`` and ``max_bytes``: past either, the oldest batch is dropped
    with an error in the log (and counted in ``dropped``).
    """

    def __init__(self, folder: Path, max_batches: int = 10_000, max_bytes: int = 200 << 20):
        self.folder = folder
        self.max_batches = max_batches
        self.max_bytes = max_bytes
        self.dropped = 0
        folder.mkdir(parents=True, exist_ok=True)
        existing = self.pending()
        self._seq = int(existing[-1].stem) + 1 if existing else 0

    def pending(self) -> list[Path]:
        """Spooled batches, oldest first."""
        return sorted(self.folder.glob("*.json"), key=lambda p: int(p.stem))

    def put(self, records: list[dict[str, Any]]) -> Path:
        """Store a batch durably (written to a temporary name, fsynced, then renamed)."""
        path = self.folder / f"{self._seq:012d}.json"
        self._seq += 1
        atomic_write_bytes(path, orjson.dumps(records))
        self._enforce_bounds()
        return path

    def _enforce_bounds(self) -> None:
        files = self.pending()
        total = sum(p.stat().st_size for p in files)
        while files and (len(files) > self.max_batches or total > self.max_bytes):
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink()
            self.dropped += 1
            logger.error("spool full: dropped the oldest batch %s", oldest.name)


class Forwarder:
    """Collects every ``interval_s`` and sends, spooling while the daemon is away."""

    def __init__(
        self,
        collect: Collector,
        client: TftmonClient,
        spool: Spool,
        *,
        interval_s: float = 5.0,
        replay_per_tick: int = 50,
    ) -> None:
        self.collect = collect
        self.client = client
        self.spool = spool
        self.interval_s = interval_s
        self.replay_per_tick = replay_per_tick
        self.stop_event = threading.Event()
        self.tick_count = 0

    def run(self, max_ticks: int | None = None) -> None:
        """Tick until stopped; on stop, whatever could not be sent is in the spool.

        Raises:
            DaemonResponseError: the daemon refused the API key (``key_refused``); the
                records are in the spool.
        """
        next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if max_ticks is not None and self.tick_count >= max_ticks:
                    break
                self.tick()
                if max_ticks is not None and self.tick_count >= max_ticks:
                    break  # --once: no wait after the last tick
                next_at += self.interval_s
                self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        finally:
            logger.info("forwarder stopped; %d batches spooled", len(self.spool.pending()))

    def tick(self) -> None:
        """One collection: replay the spool, then send (or spool) the new batch."""
        self.tick_count += 1
        try:
            records = self.collect()
        except NotImplementedError:
            raise  # the template's collect_metrics() was not filled in
        except Exception:
            logger.exception("collect_metrics() failed; nothing collected this tick")
            records = []
        try:
            delivered = self._replay()
        except DaemonResponseError:  # the key was refused: keep this tick's records too
            if records:
                self.spool.put(records)
            raise
        if not records:
            return
        if not delivered:
            self.spool.put(records)
            logger.warning(
                "daemon unreachable or backlog not yet sent: spooled %d records (%d batches "
                "waiting)",
                len(records),
                len(self.spool.pending()),
            )
            return
        self._send(records, spool_on_failure=True)

    def _replay(self) -> bool:
        """Send spooled batches in order; True only when the spool is empty afterwards.

        While a backlog remains, new batches join the spool behind it: sent now they would
        overtake older records, which the daemon then refuses as late.
        """
        pending = self.spool.pending()
        for path in pending[: self.replay_per_tick]:
            records = orjson.loads(path.read_bytes())
            if not self._send(records, spool_on_failure=False, replay=True):
                return False
            path.unlink()
        return len(pending) <= self.replay_per_tick

    def _send(
        self, records: list[dict[str, Any]], *, spool_on_failure: bool, replay: bool = False
    ) -> bool:
        try:
            answer = self.client.feed(records)
        except DaemonUnavailableError as exc:
            if spool_on_failure:
                self.spool.put(records)
            logger.warning("daemon unreachable (%s)", exc)
            return False
        except DaemonResponseError as exc:
            if key_refused(exc):  # not this batch's fault: keep it for when the key is fixed
                if spool_on_failure:
                    self.spool.put(records)
                raise
            # 4xx: the batch itself is refused (no record valid); retrying cannot help
            logger.error("daemon refused a batch of %d records: %s", len(records), exc.detail)
            return True
        rejected = answer.get("rejected", [])
        logger.info(
            "%s %d records | tick %d | warm-up %d/%d servers ready%s",
            "Replayed" if replay else "Sent",
            len(records),
            self.tick_count,
            answer.get("servers_ready", 0),
            answer.get("servers_tracked", 0),
            f" | {len(rejected)} rejected: {rejected[0]['errors'][0]['message']}"
            if rejected
            else "",
        )
        return True


def local_collector(daemon_url: str) -> Collector:
    """This machine's real metrics through psutil: cpu %, memory %, disk IO MB/s, and the
    round-trip time of a TCP connection to the daemon as the latency probe."""
    from urllib.parse import urlparse

    import psutil

    host = socket.gethostname().split(".")[0] or "localhost"
    parsed = urlparse(daemon_url)
    target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
    last_io = psutil.disk_io_counters()
    last_t = time.monotonic()
    psutil.cpu_percent(None)  # the first call only starts the measurement

    def collect() -> list[dict[str, Any]]:
        nonlocal last_io, last_t
        now = time.monotonic()
        io = psutil.disk_io_counters()
        record: dict[str, Any] = {
            "timestamp": now_z(),
            "server_name": host,
            "cpu_pct": psutil.cpu_percent(None),
            "mem_pct": psutil.virtual_memory().percent,
        }
        if io is not None and last_io is not None and now > last_t:
            moved = (io.read_bytes - last_io.read_bytes) + (io.write_bytes - last_io.write_bytes)
            record["disk_io_mb_s"] = round(max(moved, 0) / (now - last_t) / 1e6, 3)
        last_io, last_t = io, now
        started = time.perf_counter()
        try:
            with socket.create_connection(target, timeout=2):
                record["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        except OSError:
            pass  # daemon down: no latency this tick, the rest is still worth sending
        return [record]

    return collect
