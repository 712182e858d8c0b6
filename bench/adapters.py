"""MongoDB adapter throughput and kill/restart safety, on real servers on 127.0.0.1.

Prints each figure with a baseline measured in the same run and their ratio:

1. MongoDB → daemon through ``MongoDBAdapter.poll`` (target >= 20,000 records/s);
   baselines: reading the same documents from MongoDB alone (pymongo, no daemon), and
   POSTing the same records, already mapped, straight to the daemon (no MongoDB);
2. SIGKILL the adapter process at random moments ``--kills`` times (target: 10 cycles,
   no record lost or duplicated in the daemon); prints the records the daemon stored
   against the source count, and how many re-sends its duplicate detection dropped.

The daemon serves the shipped TFT (``models/``), as in production.
Usage: .venv/bin/python bench/adapters.py [--records N] [--kills K] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pymongo

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.servers import API_KEY, DaemonProcess, MongoServer, model_daemon  # noqa: E402

from tftmon.adapters.base import AdapterConfig  # noqa: E402
from tftmon.adapters.mapping import FieldMapping, MappingConfig  # noqa: E402
from tftmon.adapters.mongodb import MongoDBAdapter  # noqa: E402
from tftmon.client import TftmonClient  # noqa: E402


def fill(collection: pymongo.collection.Collection, records: int, servers: int) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    steps = records // servers
    batch = []
    for i in range(steps):
        t = end - timedelta(seconds=5 * (steps - i))
        for s in range(servers):
            batch.append(
                {
                    "timestamp": t,
                    "hostname": f"ppweb{s:04d}",
                    "cpu_usage_pct": 20.0 + (i + s) % 50,
                    "memory_pct": 55.0,
                    "latency_ms": 12.5,
                }
            )
        if len(batch) >= 10_000:
            collection.insert_many(batch)
            batch = []
    if batch:
        collection.insert_many(batch)


def daemon(work: Path, name: str) -> DaemonProcess:
    d = model_daemon(work / name)
    d.data_dir.mkdir(parents=True)
    d.start(timeout=120)
    return d


def ingested(d: DaemonProcess) -> int:
    return d.records_ingested()


def config(work: Path, uri: str, collection: str, **extra: object) -> AdapterConfig:
    return AdapterConfig.model_validate(
        {
            "batch_size": 5000,
            "backfill_hours": 48,
            "state_file": str(work / f"{collection}.state.json"),
            "mapping": {"preset": "legacy"},
            "source": {"uri": uri, "database": "bench", "collection": collection},
            **extra,
        }
    )


def throughput(work: Path, mongo: MongoServer, records: int, servers: int) -> None:
    collection = pymongo.MongoClient(mongo.uri, tz_aware=True)["bench"]["speed"]
    fill(collection, records, servers)
    collection.create_index([("timestamp", 1), ("_id", 1)])

    started = time.perf_counter()
    documents = list(collection.find({}).sort([("timestamp", 1), ("_id", 1)]).batch_size(5000))
    read_s = time.perf_counter() - started
    mapped, _ = FieldMapping.from_config(MappingConfig(preset="legacy")).map_many(documents)

    direct = daemon(work, "direct")
    try:
        with TftmonClient(direct.url, API_KEY, timeout=60) as client:
            started = time.perf_counter()
            for i in range(0, len(mapped), 5000):
                client.feed_raw(orjson.dumps(mapped[i : i + 5000]))
            post_s = time.perf_counter() - started
    finally:
        direct.kill(signal.SIGTERM)

    target = daemon(work, "adapter")
    try:
        with TftmonClient(target.url, API_KEY, timeout=60) as client:
            cfg = config(work, mongo.uri, "speed")
            adapter = MongoDBAdapter(cfg.model_copy(update={"max_pages_per_poll": 1}), client)
            started = time.perf_counter()
            first = adapter.poll()  # opens the cursor: the server filters and sorts
            first_s = time.perf_counter() - started
            adapter.config = cfg
            report = adapter.poll()
            adapter_s = time.perf_counter() - started
            rest_s = adapter_s - first_s
            adapter.close()
        stored = ingested(target)
    finally:
        target.kill(signal.SIGTERM)

    rate = (first.accepted + report.accepted) / adapter_s
    rest = report.accepted / rest_s
    print(f"[1] MongoDB -> daemon, {records:,} records from {servers} servers (target >= 20,000/s)")
    print(f"    adapter (fetch + map + validate + POST + checkpoint): {rate:,.0f} records/s")
    print(f"      first page (opens the sorted cursor): {first_s:.2f} s")
    print(f"      the rest, cursor open: {rest:,.0f} records/s")
    print(f"    baseline MongoDB read alone:    {records / read_s:,.0f} records/s")
    print(f"    baseline daemon POST alone:     {records / post_s:,.0f} records/s")
    print(f"    ratio adapter / daemon alone:   {rate / (records / post_s):.2f}")
    print(f"    ratio adapter / MongoDB alone:  {rate / (records / read_s):.2f}")
    print(f"    ratio rest / daemon alone:      {rest / (records / post_s):.2f}")
    print(f"    stored by the daemon: {stored:,} of {records:,}")


def kills(work: Path, mongo: MongoServer, records: int, cycles: int) -> None:
    collection = pymongo.MongoClient(mongo.uri, tz_aware=True)["bench"]["kills"]
    fill(collection, records, 50)
    path = work / "kills.json"
    cfg = config(work, mongo.uri, "kills", batch_size=500, interval_s=0.2)
    path.write_bytes(orjson.dumps(cfg.model_dump(mode="json")))
    target = daemon(work, "kills")
    env = {**os.environ, "TFTMON_API_KEY": API_KEY, "TFTMON_DAEMON_URL": target.url}
    command = [sys.executable, str(REPO / "adapters" / "mongodb_adapter.py"), "--config", str(path)]
    rng = random.Random(11)
    log = (work / "kills-adapter.log").open("ab")
    mid_stream = 0
    try:
        for _ in range(cycles):
            before = ingested(target)
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=work)
            deadline = time.monotonic() + 60
            while ingested(target) == before and time.monotonic() < deadline:
                time.sleep(0.02)  # until this run has delivered a page
            time.sleep(rng.uniform(0.0, 0.3))  # then a random moment mid-stream
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            mid_stream += 0 < ingested(target) < records
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=work)
        deadline = time.monotonic() + 300
        while ingested(target) < records and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # anything more that arrived would be a duplicate stored twice
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stored = ingested(target)
        with target.client() as http:
            text = http.get("/metrics").text
        dropped = sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("tftmon_records_duplicate_total")
        )
    finally:
        target.kill(signal.SIGTERM)
    print(f"[2] {cycles} SIGKILL/restart cycles of the adapter process, {records:,} records")
    print(f"    kills that landed mid-stream: {mid_stream} of {cycles}")
    print(f"    stored by the daemon: {stored:,} of {records:,} (lost {records - stored:,})")
    print(f"    re-sent and dropped as duplicates: {dropped:,.0f}")
    print(f"    ratio stored / source: {stored / records:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--kill-records", type=int, default=60_000)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.records, args.servers, args.kills, args.kill_records = 10_000, 50, 2, 5_000
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-adapters-") as tmp:
        work = Path(tmp)
        mongo = MongoServer(work / "mongo")
        mongo.start()
        try:
            throughput(work, mongo, args.records, args.servers)
            kills(work, mongo, args.kill_records, args.kills)
        finally:
            mongo.stop()


if __name__ == "__main__":
    main()
