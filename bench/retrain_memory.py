"""Peak memory of retraining's history read (``training.dataset.fleet_from_history``).

Builds a history store of N servers x D days of 5-minute buckets, then reads it in a fresh
process the way ``tftmon-retrain`` does and prints that process's peak RSS above its RSS
after imports, next to the bytes of the dense training arrays it returns: the ratio is the
point (about 1 when the read is bounded by one server at a time, plus
SQLite's 16 MB page cache). Same-run baseline: one
``read_buckets(None, 0)`` of the whole table, the read retraining made before issue 16
(every bucket as a Python tuple at once), in its own fresh process.

Usage: .venv/bin/python bench/retrain_memory.py [--servers 1000] [--days 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tftmon.schemas import METRICS  # noqa: E402
from tftmon.store.columns import BucketColumns, SampleColumns  # noqa: E402
from tftmon.store.history import HistoryStore, ServerRow  # noqa: E402

STEP = 300


def build_store(data_dir: Path, n_servers: int, days: float) -> int:
    """Buckets only (what retraining reads); returns how many were written."""
    store = HistoryStore(data_dir / "history.sqlite3", METRICS, STEP, synchronous="OFF")
    store.open()
    store.add_servers([ServerRow(i, f"srv{i:05d}", "generic") for i in range(n_servers)])
    n_buckets = int(days * 86_400 // STEP)
    last = int(time.time() // STEP) - 1
    rng = np.random.default_rng(3)
    chunk = max(1, 200_000 // n_buckets)
    for first in range(0, n_servers, chunk):
        ids = np.arange(first, min(n_servers, first + chunk))
        server = np.repeat(ids, n_buckets)
        store.write(
            SampleColumns.empty(len(METRICS)),
            BucketColumns(
                server,
                np.tile(np.arange(last - n_buckets + 1, last + 1), len(ids)),
                rng.uniform(0, 100, (len(server), len(METRICS))),
                np.full(len(server), 60, np.int64),
            ),
        )
    store.close()
    return n_servers * n_buckets


def rss_mb(field: str = "VmRSS") -> float:
    """This process's RSS (``VmHWM``: its peak since exec; ``ru_maxrss`` would carry the
    parent's peak over the fork) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def child(mode: str, data_dir: Path) -> None:
    """Run one read in this (fresh) process; print a JSON line of the figures."""
    from tftmon.training.dataset import fleet_from_history

    base = rss_mb()
    started = time.perf_counter()
    if mode == "chunked":
        fleet = fleet_from_history(data_dir, STEP)
        arrays = sum(v.nbytes for v in fleet.values)
    else:
        store = HistoryStore(data_dir / "history.sqlite3", METRICS, STEP)
        store.open()
        rows = store.read_buckets(None, 0)
        store.close()
        arrays = rows.mean.nbytes
    took = time.perf_counter() - started
    peak = rss_mb("VmHWM")
    print(json.dumps({"base_mb": base, "peak_mb": peak, "arrays": arrays, "seconds": took}))


def measure(mode: str, data_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="50 servers x 1 day (a smoke run)")
    parser.add_argument("--child", choices=("chunked", "whole"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data_dir)
        return
    servers, days = (50, 1.0) if args.quick else (args.servers, args.days)
    print(
        f"tftmon bench/retrain_memory.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-") as tmp:
        data = Path(tmp)
        n = build_store(data, servers, days)
        print(f"\n[1] retraining's history read: {servers} servers x {days:g} days = {n:,} buckets")
        now = measure("chunked", data)
        old = measure("whole", data)
    for label, r in (("server by server", now), ("whole table (baseline)", old)):
        grown = r["peak_mb"] - r["base_mb"]
        print(
            f"    {label:24s}: peak RSS {r['peak_mb']:7.1f} MB (+{grown:6.1f} MB over imports), "
            f"arrays {r['arrays'] / 2**20:6.1f} MB, ratio growth/arrays "
            f"{grown * 2**20 / r['arrays']:5.2f}, {r['seconds']:.2f} s"
        )
    saved = (old["peak_mb"] - old["base_mb"]) / max(1e-9, now["peak_mb"] - now["base_mb"])
    print(f"    ratio whole-table growth / server-by-server growth: {saved:.1f}")


if __name__ == "__main__":
    main()
