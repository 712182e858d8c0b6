"""Load and server-cap benchmarks against a real daemon serving the shipped TFT on the CPU.

Prints each figure with a baseline measured in the same run and their ratio:

1. load: 20 concurrent senders of 500-record batches against a daemon whose inference
   cycles run back to back over N warmed servers (the shipped TFT, ``TFTMON_DEVICE=cpu``),
   for at least 60 s and until at least one whole cycle ran under load: records/s
   acknowledged (target >= 20,000), p50/p99 of the POSTs (target p99 <= 1 s), and the mean
   time of the cycles that started and ended under load; baseline: the same daemon's cycle
   time idle, just before (target: under load <= 2 x idle);
2. server cap: records of ``TFTMON_MAX_SERVERS`` servers, then records of as many again
   plus an excess past the cap: the excess must be refused per record with reason
   ``server_limit`` (the rest of each batch stored) and the RSS stay bounded (target
   <= 2 GB for 100,000); baseline: the RSS of the same daemon before the first record.

Usage: .venv/bin/python bench/load.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from ingest import STEP, Daemon, build_store, iso  # noqa: E402

MODEL_ENV = {"TFTMON_MODELS_DIR": str(REPO / "models"), "TFTMON_DEVICE": "cpu"}


def cycle_totals(daemon: Daemon) -> tuple[float, float]:
    """(seconds, cycles) of every inference cycle so far, from ``/metrics``."""
    with daemon.client() as c:
        text = c.get("/metrics").text
    found = {}
    for line in text.splitlines():
        for key in ("tftmon_inference_seconds_sum", "tftmon_inference_seconds_count"):
            if line.startswith(key + " "):
                found[key] = float(line.split()[1])
    return found["tftmon_inference_seconds_sum"], found["tftmon_inference_seconds_count"]


def wait_cycles(daemon: Daemon, n: float, timeout: float = 900) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    while (totals := cycle_totals(daemon))[1] < n:
        if time.monotonic() > deadline:
            raise RuntimeError("inference cycles did not complete")
        time.sleep(0.2)
    return totals


class Sender(threading.Thread):
    """Posts 500-record batches (10 time steps x its 50 servers, 1 s apart) until stopped."""

    def __init__(self, daemon: Daemon, names: list[str], start: float, stop: threading.Event):
        super().__init__()
        self.daemon_process, self.start_at, self.halt = daemon, start, stop
        per_step = max(1, 500 // len(names))
        rng = np.random.default_rng(len(names))
        self.fragments = [
            b'{"timestamp":"%s","server_name":"'
            + n.encode()
            + b'","cpu_pct":'
            + f"{rng.uniform(5, 95):.2f}".encode()
            + b',"mem_pct":'
            + f"{rng.uniform(20, 95):.2f}".encode()
            + b',"state":"healthy"}'
            for n in names
        ]
        self.per_step = per_step
        self.accepted = 0
        self.latencies: list[float] = []

    def body(self, k: int) -> bytes:
        steps = range(k * self.per_step, (k + 1) * self.per_step)
        stamps = [iso(self.start_at + i).encode() for i in steps]
        return b"[" + b",".join(f % t for t in stamps for f in self.fragments) + b"]"

    def run(self) -> None:
        with self.daemon_process.client() as c:
            k = 0
            while not self.halt.is_set():
                body = self.body(k)
                started = time.perf_counter()
                r = c.post("/feed", content=body)
                self.latencies.append(time.perf_counter() - started)
                r.raise_for_status()
                self.accepted += r.json()["accepted"]
                k += 1


def bench_load(root: Path, n_servers: int, senders: int, window_s: float, idle_cycles: int) -> None:
    print(
        f"\n[1] load: {senders} senders x 500-record batches while inference runs back to back "
        f"over {n_servers} warmed servers (shipped TFT, CPU)"
    )
    end = time.time() - 3 * 3600  # room for 3 h of 1-s records before the daemon's clock
    build_store(root / "load", n_servers, 24, 300, end=end)
    daemon = Daemon(
        root / "load",
        TFTMON_INFERENCE_INTERVAL_S="0.01",
        TFTMON_INFERENCE_MIN_GAP_S="0",
        **MODEL_ENV,
    ).start()
    try:
        # idle baseline: the cycles after the first (which warms caches and code paths)
        s0, n0 = wait_cycles(daemon, 2)
        s1, n1 = wait_cycles(daemon, n0 + idle_cycles)
        idle = (s1 - s0) / (n1 - n0)
        per_sender = n_servers // senders
        t = (end // STEP + 1) * STEP
        stop = threading.Event()
        threads = [
            Sender(daemon, [f"srv{s * per_sender + i:05d}" for i in range(per_sender)], t, stop)
            for s in range(senders)
        ]
        started = time.perf_counter()
        for th in threads:
            th.start()
        # cycles that start and end under load: from the first completion after the load
        # began to the last completion before it stops (at least one whole cycle)
        _, n2 = cycle_totals(daemon)
        s3, n3 = wait_cycles(daemon, n2 + 1)
        s4, n4 = wait_cycles(daemon, n3 + 1)
        while time.perf_counter() - started < window_s:
            s4, n4 = cycle_totals(daemon)
            time.sleep(0.2)
        stop.set()
        for th in threads:
            th.join()
        took = time.perf_counter() - started
        loaded = (s4 - s3) / (n4 - n3)
    finally:
        daemon.stop()
    accepted = sum(th.accepted for th in threads)
    lat = [x * 1000 for th in threads for x in th.latencies]
    rate = accepted / took
    p50, p99 = statistics.median(lat), float(np.percentile(lat, 99))
    print(f"    acknowledged     : {rate:10,.0f} records/s ({accepted:,} in {took:.2f} s)")
    print(f"    POST latency     : p50 {p50:7.1f} ms  p99 {p99:7.1f} ms ({len(lat)} POSTs)")
    print(f"    inference cycle  : {loaded:7.2f} s under load ({n4 - n3:.0f} whole cycles)")
    print(f"    inference cycle  : {idle:7.2f} s idle (baseline, {n1 - n0:.0f} cycles)")
    ratio = loaded / idle
    verdict = "met" if rate >= 20_000 and p99 <= 1000 and ratio <= 2 else "NOT met"
    print(
        f"    ratio cycle load/idle: {ratio:.2f}; targets >= 20,000 records/s, p99 <= 1 s, "
        f"<= 2x idle: {verdict}"
    )


def cap_bodies(names: list[str], t: float) -> list[bytes]:
    rec = {"timestamp": iso(t), "cpu_pct": 40.0, "mem_pct": 50.0}
    return [
        orjson.dumps([{**rec, "server_name": n} for n in names[i : i + 500]])
        for i in range(0, len(names), 500)
    ]


def bench_cap(root: Path, cap: int, excess: int, senders: int) -> None:
    print(f"\n[2] server cap: TFTMON_MAX_SERVERS={cap:,}, then {excess:,} new servers past it")
    daemon = Daemon(
        root / "cap", TFTMON_MAX_SERVERS=str(cap), TFTMON_INFERENCE_INTERVAL_S="1", **MODEL_ENV
    ).start()
    try:
        base = daemon.rss_mb()
        t = time.time() - 600
        names = [f"cap{i:06d}" for i in range(cap)]
        extra = [f"new{i:06d}" for i in range(excess)]
        first = cap_bodies(names, t)
        # second round: every known server again plus the new ones, mixed in each batch
        mixed = [n for pair in zip(names, extra, strict=False) for n in pair]
        mixed += names[len(extra) :]
        second = cap_bodies(mixed, t + 60)
        counts = {"accepted": 0, "server_limit": 0, "other": 0}
        lock = threading.Lock()

        def send(bodies: list[bytes]) -> None:
            with daemon.client() as c:
                for body in bodies:
                    r = c.post("/feed", content=body)
                    r.raise_for_status()
                    answer = r.json()
                    reasons = [e["reason"] for rec in answer["rejected"] for e in rec["errors"]]
                    with lock:
                        counts["accepted"] += answer["accepted"]
                        counts["server_limit"] += reasons.count("server_limit")
                        counts["other"] += len(reasons) - reasons.count("server_limit")

        started = time.perf_counter()
        for bodies in (first, second):
            threads = [
                threading.Thread(target=send, args=(bodies[i::senders],)) for i in range(senders)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        took = time.perf_counter() - started
        # one inference cycle over the whole fleet (no server warmed up: none forecast)
        wait_cycles(daemon, cycle_totals(daemon)[1] + 1)
        rss = daemon.rss_mb()
        with daemon.client() as c:
            health = c.get("/health").json()["status"]
    finally:
        daemon.stop()
    sent = len(names) * 2 + len(extra)
    print(f"    sent             : {sent:,} records in {took:.1f} s; stored {counts['accepted']:,}")
    print(
        f"    refused          : {counts['server_limit']:,} server_limit (of {excess:,} past the "
        f"cap), {counts['other']} for another reason; /health {health}"
    )
    clean = counts["server_limit"] == excess and counts["accepted"] == 2 * cap
    print(f"    RSS at the cap   : {rss:8.1f} MB ({(rss - base) * 1024 / cap:.1f} KB per server)")
    print(
        f"    empty daemon     : {base:8.1f} MB (baseline); ratio {rss / base:.2f}; "
        f"excess refused cleanly: {'yes' if clean else 'NO'}; target <= 2048 MB for 100,000: "
        f"{'met' if rss <= 2048 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--only", choices=("load", "cap"), help="run one of the two measurements (default: both)"
    )
    args = parser.parse_args()
    q = args.quick
    print(
        f"tftmon bench/load.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        f"{' (quick: small sizes)' if q else ''}"
    )
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-") as tmp:
        root = Path(tmp)
        for sub in ("load", "cap"):
            (root / sub).mkdir()
        if args.only in (None, "load"):
            bench_load(root, 40 if q else 1000, 4 if q else 20, 0 if q else 60, 1 if q else 3)
        if args.only in (None, "cap"):
            bench_cap(root, 1_000 if q else 100_000, 200 if q else 5_000, 4 if q else 20)


if __name__ == "__main__":
    main()
