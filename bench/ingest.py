"""Ingest, latency, memory and restart benchmarks against a real daemon on 127.0.0.1.

Prints each figure with a baseline measured in the same run and their ratio:

1. durable ingest, 500-record batches over HTTP (target >= 30,000 records/s on 2 cores);
   baseline: the same rows written straight into SQLite by one process (no HTTP, no
   validation), the ceiling of the storage layer;
2. p50/p99 latency of 20-record POSTs while the inference loop runs back to back on a
   warmed fleet (target p99 <= 20 ms); baseline: the same POSTs with the loop idle;
3. RSS of a daemon holding N servers x 24 h of buckets (target <= 1 GB for 10,000);
   baseline: RSS of the same daemon with an empty store;
4. restart: time until a daemon whose store holds N servers x 24 h of history answers
   /health, and the restore time it reports (target <= 10 s for 1,000); baseline: the
   start-up of a daemon with an empty store.

Usage: .venv/bin/python bench/ingest.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tftmon.schemas import METRICS  # noqa: E402
from tftmon.store.columns import BucketColumns, SampleColumns  # noqa: E402
from tftmon.store.history import HistoryStore, ServerRow  # noqa: E402

KEY = "bench-key-0123456789abcdefghijkl"
MODELS_DIR = REPO / "models"
STEP = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    def start(self) -> Daemon:
        env = {
            **os.environ,
            "TFTMON_API_KEYS": KEY,
            "TFTMON_DATA_DIR": str(self.data_dir),
            "TFTMON_MODELS_DIR": str(MODELS_DIR),  # the shipped TFT (baseline if none there)
        }
        env.update(self.env)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tft_inference_daemon.py"), "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir.parent / f"daemon-{self.port}.log", "wb"),  # noqa: SIM115
        )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited during start-up")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        self.startup_s = time.perf_counter() - started
        return self

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-API-Key": KEY, "Content-Type": "application/json"},
            timeout=60,
        )

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def status(self) -> dict:
        with self.client() as c:
            return c.get("/status").json()

    def wait_cycles(self, n: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.status()["inference_cycles"] < n:
            if time.monotonic() > deadline:
                raise RuntimeError("inference cycles did not complete")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def make_bodies(
    servers: list[str], steps: int, t0: float, every: float, per_batch: int
) -> list[bytes]:
    """Bodies of ``per_batch`` records, time-ordered per server."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(steps):
        t = iso(t0 + k * every)
        for name in servers:
            cpu, mem, disk, lat = rng.uniform([5, 20, 0, 1], [95, 95, 200, 300]).tolist()
            rows.append(
                {
                    "timestamp": t,
                    "server_name": name,
                    "cpu_pct": round(cpu, 2),
                    "mem_pct": round(mem, 2),
                    "disk_io_mb_s": round(disk, 2),
                    "latency_ms": round(lat, 2),
                    "state": "healthy",
                }
            )
    return [orjson.dumps(rows[i : i + per_batch]) for i in range(0, len(rows), per_batch)]


def bench_ingest(root: Path, n_records: int, n_servers: int, senders: int) -> None:
    print(f"\n[1] durable ingest: {n_records} records in 500-record batches, {senders} senders")
    per_sender = n_servers // senders
    steps = n_records // n_servers
    t0 = time.time() - steps * 5 - 120
    work = [
        make_bodies(
            [f"srv{s * per_sender + i:05d}" for i in range(per_sender)], steps, t0, 5.0, 500
        )
        for s in range(senders)
    ]
    daemon = Daemon(root / "ingest", TFTMON_INFERENCE_INTERVAL_S="3600").start()
    accepted = [0] * senders

    def send(idx: int) -> None:
        with daemon.client() as c:
            for body in work[idx]:
                r = c.post("/feed", content=body)
                r.raise_for_status()
                accepted[idx] += r.json()["accepted"]

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    daemon.stop()
    total = sum(accepted)
    rate = total / took

    # baseline: the same number of rows straight into SQLite (FULL sync, 500-row commits)
    store = HistoryStore(root / "raw" / "h.sqlite3", METRICS, STEP)
    store.open()
    store.add_servers([ServerRow(i, f"srv{i:05d}", "generic") for i in range(n_servers)])
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for start in range(0, total, 500):
        n = min(500, total - start)
        idx = np.arange(start, start + n)
        store.write(
            SampleColumns(
                (idx % n_servers).astype(np.int64),
                ((t0 + (idx // n_servers) * 5) * 1000).astype(np.int64),
                rng.uniform(0, 100, (n, len(METRICS))),
                np.zeros(n, np.int8),
            ),
            BucketColumns.empty(len(METRICS)),
        )
    raw_took = time.perf_counter() - started
    store.close()
    raw_rate = total / raw_took
    print(f"    daemon over HTTP : {rate:10,.0f} records/s ({total} stored in {took:.2f} s)")
    print(f"    SQLite alone     : {raw_rate:10,.0f} records/s (baseline)")
    print(
        f"    ratio            : {rate / raw_rate:.2f} of the storage ceiling; target >= 30,000/s:"
        f" {'met' if rate >= 30_000 else 'NOT met'}"
    )


def build_store(
    data_dir: Path, n_servers: int, hours: float, raw_every: float, end: float | None = None
) -> None:
    """A history store holding ``hours`` of buckets and raw samples for each server."""
    store = HistoryStore(data_dir / "history.sqlite3", METRICS, STEP)
    store.open()
    store.add_servers([ServerRow(i, f"srv{i:05d}", "generic") for i in range(n_servers)])
    now = end if end is not None else time.time() - 60
    n_buckets = int(hours * 3600 // STEP)
    last_bucket = int(now // STEP) - 1
    rng = np.random.default_rng(2)
    chunk = max(1, 200_000 // n_buckets)
    for first in range(0, n_servers, chunk):
        ids = np.arange(first, min(n_servers, first + chunk))
        server = np.repeat(ids, n_buckets)
        bucket = np.tile(np.arange(last_bucket - n_buckets + 1, last_bucket + 1), len(ids))
        store.write(
            SampleColumns.empty(len(METRICS)),
            BucketColumns(
                server,
                bucket,
                rng.uniform(0, 100, (len(server), len(METRICS))),
                np.full(len(server), int(STEP / raw_every)),
            ),
        )
    n_raw = int(hours * 3600 / raw_every)
    start_ms = int((now - hours * 3600) * 1000)
    per_write = max(1, 200_000 // n_raw)
    for first in range(0, n_servers, per_write):
        ids = np.arange(first, min(n_servers, first + per_write))
        server = np.repeat(ids, n_raw)
        ts = np.tile(start_ms + (np.arange(n_raw) * raw_every * 1000).astype(np.int64), len(ids))
        store.write(
            SampleColumns(
                server,
                ts,
                rng.uniform(0, 100, (len(server), len(METRICS))),
                np.zeros(len(server), np.int8),
            ),
            BucketColumns.empty(len(METRICS)),
        )
    store.close()


def bench_latency(root: Path, n_servers: int, n_posts: int) -> None:
    print(f"\n[2] 20-record POST latency, {n_servers} warmed servers, {n_posts} POSTs")
    data = root / "latency" / "data"
    end = time.time() - n_posts * 5 - 900
    build_store(data, n_servers, 24, 60, end=end)
    results = {}
    # idle: one cycle at start, then none; running: cycles back to back over the whole fleet
    for label, interval, gap in (
        ("inference idle", "3600", "3600"),
        ("inference running", "0.01", "0"),
    ):
        copy = root / "latency" / label.replace(" ", "_")
        shutil.copytree(data, copy)
        daemon = Daemon(
            copy, TFTMON_INFERENCE_INTERVAL_S=interval, TFTMON_INFERENCE_MIN_GAP_S=gap
        ).start()
        daemon.wait_cycles(1)
        t = (end // STEP + 1) * STEP
        bodies = make_bodies([f"srv{i:05d}" for i in range(20)], n_posts + 20, t, 5.0, 20)
        lat = []
        with daemon.client() as c:
            for body in bodies[:20]:  # warm-up: connection, first-call code paths
                c.post("/feed", content=body).raise_for_status()
            for body in bodies[20:]:
                started = time.perf_counter()
                c.post("/feed", content=body).raise_for_status()
                lat.append((time.perf_counter() - started) * 1000)
        cycles = daemon.status()["inference_cycles"]
        daemon.stop()
        p50, p99 = statistics.median(lat), float(np.percentile(lat, 99))
        results[label] = p99
        print(f"    {label:18s}: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({cycles} inference cycles)")
    ratio = results["inference running"] / results["inference idle"]
    print(
        f"    ratio p99 running/idle: {ratio:.2f}; target p99 <= 20 ms: "
        f"{'met' if results['inference running'] <= 20 else 'NOT met'}"
    )


def bench_memory_and_restart(root: Path, rss_servers: int, restart_servers: int) -> None:
    print(f"\n[3] RSS with {rss_servers} servers x 24 h of buckets")
    empty = Daemon(root / "empty" / "data", TFTMON_INFERENCE_INTERVAL_S="3600").start()
    empty.wait_cycles(1)
    base_rss, base_start = empty.rss_mb(), empty.startup_s
    empty.stop()
    data = root / "rss" / "data"
    build_store(data, rss_servers, 24, 300)
    daemon = Daemon(data, TFTMON_INFERENCE_INTERVAL_S="3600").start()
    daemon.wait_cycles(1)
    rss = daemon.rss_mb()
    status = daemon.status()
    daemon.stop()
    print(
        f"    {rss_servers} servers: {rss:8.1f} MB RSS after restore and one inference cycle "
        f"({(rss - base_rss) * 1024 / rss_servers:.1f} KB per server)"
    )
    print(f"    empty daemon     : {base_rss:8.1f} MB (baseline); ratio {rss / base_rss:.2f}")
    print(
        f"    servers ready    : {status['servers_ready']}/{status['servers_tracked']}; "
        f"target <= 1024 MB for 10,000: {'met' if rss <= 1024 else 'NOT met'}"
    )

    print(f"\n[4] restart with {restart_servers} servers x 24 h of history (5-s raw samples)")
    data = root / "restart" / "data"
    build_store(data, restart_servers, 24, 5)
    daemon = Daemon(data, TFTMON_INFERENCE_INTERVAL_S="3600").start()
    status = daemon.status()
    daemon.stop()
    print(
        f"    start to /health : {daemon.startup_s:6.2f} s, of which restore "
        f"{status['restore_seconds']:.2f} s; {status['servers_ready']} servers ready"
    )
    print(
        f"    empty store      : {base_start:6.2f} s (baseline); ratio "
        f"{daemon.startup_s / base_start:.2f}; target <= 10 s: "
        f"{'met' if daemon.startup_s <= 10 else 'NOT met'}"
    )


def main() -> None:
    global MODELS_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=MODELS_DIR,
        help="models folder the daemons serve from (a folder without LATEST: the baseline)",
    )
    args = parser.parse_args()
    MODELS_DIR = args.models_dir
    q = args.quick
    print(
        f"tftmon bench/ingest.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        f"{' (quick: small sizes)' if q else ''}"
    )
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-") as tmp:
        root = Path(tmp)
        for sub in ("ingest", "raw", "empty", "latency"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        bench_ingest(root, 4_000 if q else 200_000, 200 if q else 1000, 4)
        bench_latency(root, 50 if q else 1000, 50 if q else 500)
        bench_memory_and_restart(root, 200 if q else 10_000, 50 if q else 1000)


if __name__ == "__main__":
    main()
