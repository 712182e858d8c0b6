"""Remote-write ingest against a real daemon on 127.0.0.1: samples/s through
``POST /api/v1/write`` and, in the same run and daemon, records/s through ``POST /feed``.

Each server is a node_exporter as Prometheus forwards it after the ``write_relabel_configs``
of Docs/REMOTE_WRITE.md (only the mapped series): 4 CPUs x 8 modes, 2 memory gauges and
2 disks x 2 counters, 38 samples per scrape, 15 s apart. Bodies hold whole scrapes,
``--samples-per-request`` samples each (500: Prometheus 2.42's default max_samples_per_send)
and are encoded before the clock starts; ``--senders`` connections post them at once (like
Prometheus' shards). The /feed baseline posts the same number of (server, scrape) records
as 500-record JSON batches with the same senders. Target: >= 100,000 samples/s on 2 cores.

Usage: .venv/bin/python bench/remote_write.py [--quick] [--servers N] [--scrapes N]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tftmon.serving.remote_write_wire import encode_write_request  # noqa: E402

KEY = "bench-key-0123456789abcdefghijkl"
EVERY_S = 15
CPUS = 4
MODES = ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice")
SHARE = (0.70, 0.18, 0.06, 0.02, 0.0, 0.01, 0.0, 0.03)  # of each CPU's time, per mode
RW_HEADERS = {
    "Authorization": f"Bearer {KEY}",
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "TFTMON_API_KEYS": KEY,
        "TFTMON_DATA_DIR": str(data_dir),
        "TFTMON_MODELS_DIR": str(data_dir / "no-models"),  # the baseline: ingest is measured
        "TFTMON_INFERENCE_INTERVAL_S": "3600",
        "TFTMON_INFERENCE_MIN_GAP_S": "3600",
    }
    log = (data_dir.parent / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tft_inference_daemon.py"), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the daemon did not start; see daemon.log")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)


def scrape(name: str, k: int, t_ms: int) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """One scrape of server ``name``, the ``k``-th: 38 series of one sample."""
    inst = f"{name}:9100"
    base = {"instance": inst, "job": "node"}
    out = []
    for c in range(CPUS):
        for mode, share in zip(MODES, SHARE, strict=True):
            labels = {**base, "__name__": "node_cpu_seconds_total", "cpu": str(c), "mode": mode}
            out.append((labels, [(t_ms, 1e5 + k * EVERY_S * share)]))
    for metric, value in (("MemAvailable", 6e9 - k * 1e6), ("MemTotal", 16e9)):
        out.append(({**base, "__name__": f"node_memory_{metric}_bytes"}, [(t_ms, value)]))
    for dev in ("sda", "sdb"):
        for metric, rate in (("read", 2e6), ("written", 5e6)):
            labels = {**base, "__name__": f"node_disk_{metric}_bytes_total", "device": dev}
            out.append((labels, [(t_ms, 1e12 + k * EVERY_S * rate)]))
    return out


def rw_bodies(
    names: list[str], scrapes: int, t0_ms: int, per_request: int
) -> tuple[list[bytes], int]:
    """Remote-write bodies of whole scrapes of ``names``, time-ordered; and their samples."""
    bodies: list[bytes] = []
    samples = 0
    pending: list = []
    for k in range(scrapes):
        for name in names:
            one = scrape(name, k, t0_ms + k * EVERY_S * 1000)
            if len(pending) + len(one) > per_request:
                bodies.append(encode_write_request(pending))
                pending = []
            pending.extend(one)
            samples += len(one)
    if pending:
        bodies.append(encode_write_request(pending))
    return bodies, samples


def feed_bodies(names: list[str], scrapes: int, t0_ms: int) -> tuple[list[bytes], int]:
    """500-record /feed bodies of ``names``, time-ordered; and the records they hold."""
    rows = [
        {
            "timestamp": (t0_ms + k * EVERY_S * 1000) / 1000,
            "server_name": name,
            "cpu_pct": 30.0,
            "mem_pct": 62.5,
            "disk_io_mb_s": 14.0,
        }
        for k in range(scrapes)
        for name in names
    ]
    return [orjson.dumps(rows[i : i + 500]) for i in range(0, len(rows), 500)], len(rows)


def post_all(url: str, path: str, shards: list[list[bytes]], headers: dict[str, str]) -> float:
    """Post each shard's bodies in order over its own connection, the shards at once (as
    Prometheus' shards do: one series is always in one shard); the wall time in seconds."""
    failures: list[str] = []

    def sender(bodies: list[bytes]) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for body in bodies:
                r = http.post(path, content=body)
                if r.status_code not in (200, 204):
                    failures.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=sender, args=(bodies,)) for bodies in shards]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed


def counters(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", headers={"X-API-Key": KEY}).text
    out = {}
    for line in text.splitlines():
        if line.startswith(("tftmon_records_", "tftmon_remote_write_samples")) and (
            "_created" not in line
        ):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=40)
    parser.add_argument("--samples-per-request", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    servers, scrapes = (50, 4) if args.quick else (args.servers, args.scrapes)
    print(
        f"tftmon bench/remote_write.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}: "
        f"{servers} servers x {scrapes} scrapes, {args.samples_per_request} samples per "
        f"remote-write request, {args.senders} senders"
    )
    per_request = args.samples_per_request
    t0_ms = (int(time.time()) - scrapes * EVERY_S - 120) * 1000
    rw: list[list[bytes]] = []
    feed: list[list[bytes]] = []
    n_samples = n_records = 0
    for shard in range(args.senders):  # the servers are split over the senders
        ids = range(shard, servers, args.senders)
        bodies, count = rw_bodies([f"rw{s:05d}" for s in ids], scrapes, t0_ms, per_request)
        rw.append(bodies)
        n_samples += count
        bodies, count = feed_bodies([f"feed{s:05d}" for s in ids], scrapes, t0_ms)
        feed.append(bodies)
        n_records += count
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-rw-") as tmp:
        proc, url = start_daemon(Path(tmp) / "data")
        try:
            feed_s = post_all(url, "/feed", feed, {"X-API-Key": KEY})
            rw_s = post_all(url, "/api/v1/write", rw, RW_HEADERS)
            seen = counters(url)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    feed_rate = n_records / feed_s
    rw_rate = n_samples / rw_s
    rw_records = seen.get("tftmon_records_accepted_total", 0) - n_records
    print(
        f"\n[1] POST /feed: {n_records:,} records in {sum(map(len, feed))} bodies in {feed_s:.2f} s"
    )
    print(f"    {feed_rate:,.0f} records/s")
    print(
        f"[2] POST /api/v1/write: {n_samples:,} samples in {sum(map(len, rw))} bodies"
        f" in {rw_s:.2f} s"
        f" -> {rw_records:,.0f} records stored"
    )
    print(f"    {rw_rate:,.0f} samples/s ({rw_records / rw_s:,.0f} records/s)")
    dropped = {k: v for k, v in seen.items() if "dropped" in k}
    print(f"    samples dropped: {dropped or 'none'}")
    print(
        f"\nratio (remote-write samples/s / feed records/s): {rw_rate / feed_rate:.2f}; "
        f"target >= 100,000 samples/s: {'met' if rw_rate >= 100_000 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
