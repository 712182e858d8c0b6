"""The adapter processes: ``--once --verbose``, ``--dry-run``, clear failures, and
SIGKILL at random moments without losing or duplicating a record."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest

from tests.adapters.conftest import ingested
from tests.servers import API_KEY, REPO, DaemonProcess, MongoServer, run_script, wait_for

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, source: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / "mongodb_adapter_config.json"
    config = {
        "batch_size": 500,
        "backfill_hours": 2,
        "state_file": str(tmp_path / "state.json"),
        "mapping": {"preset": "legacy"},
        "source": source,
        **extra,
    }
    path.write_text(json.dumps(config))
    return path


def run_adapter(config: Path, daemon_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(
        "adapters/mongodb_adapter.py",
        *("--config", str(config), *args),
        cwd=config.parent,
        env={**os.environ, "TFTMON_API_KEY": API_KEY, "TFTMON_DAEMON_URL": daemon_url},
    )


def fill(collection: Any, count: int, servers: int = 10) -> None:
    end = datetime.now(UTC) - timedelta(minutes=1)
    collection.insert_many(
        [
            {
                "timestamp": end - timedelta(seconds=5 * (count // servers - i // servers)),
                "hostname": f"ppml{i % servers:03d}",
                "cpu_usage_pct": 30.0,
            }
            for i in range(count)
        ]
    )


def test_once_verbose_reports_what_it_did(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection = pymongo.MongoClient(mongo_server.uri)["cli"]["once"]
    fill(collection, 300)
    collection.insert_one(
        {"timestamp": datetime.now(UTC) - timedelta(seconds=30), "cpu_usage_pct": 5.0}
    )
    config = write_config(
        tmp_path, {"uri": mongo_server.uri, "database": "cli", "collection": "once"}
    )

    dry = run_adapter(config, daemon.url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "fetched 301 documents" in dry.stdout and "sample: {" in dry.stdout
    assert ingested(daemon) == 0 and not (tmp_path / "state.json").exists()

    done = run_adapter(config, daemon.url, "--once", "--verbose")
    assert done.returncode == 0, done.stderr
    assert "fetched 301 documents" in done.stdout
    assert "skipped 1: no server name" in done.stdout
    assert "sent 300: accepted 300, duplicates 0" in done.stdout
    assert ingested(daemon) == 300


def test_clear_failures(mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path) -> None:
    down = write_config(
        tmp_path,
        {
            "uri": "mongodb://127.0.0.1:9",
            "database": "d",
            "collection": "c",
            "server_selection_timeout_s": 0.3,
        },
    )
    result = run_adapter(down, daemon.url, "--once")
    assert (
        result.returncode == 1 and "MongoDB" in result.stderr and "position kept" in result.stderr
    )
    wrong = write_config(tmp_path, {"uri": mongo_server.uri, "database": "d"})
    result = run_adapter(wrong, daemon.url, "--once")
    assert result.returncode == 2 and "collection: Field required" in result.stderr


@pytest.mark.slow
def test_sigkill_cycles_lose_and_duplicate_nothing(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection = pymongo.MongoClient(mongo_server.uri)["cli"]["kills"]
    total = 20_000
    fill(collection, total, servers=50)
    config = write_config(
        tmp_path,
        {"uri": mongo_server.uri, "database": "cli", "collection": "kills"},
        batch_size=200,
        interval_s=0.2,
    )
    env = {**os.environ, "TFTMON_API_KEY": API_KEY, "TFTMON_DAEMON_URL": daemon.url}
    command = [
        sys.executable,
        str(REPO / "adapters" / "mongodb_adapter.py"),
        "--config",
        str(config),
    ]
    rng = random.Random(7)
    log = (tmp_path / "adapter.log").open("ab")
    at_kill = []
    for _ in range(3):
        before = ingested(daemon)
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
        wait_for(lambda b=before: ingested(daemon) > b, timeout=60)  # delivering pages
        time.sleep(rng.uniform(0.0, 0.3))  # a random moment mid-stream
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill.append(ingested(daemon))
    assert all(0 < n < total for n in at_kill), at_kill  # every kill landed mid-stream
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        wait_for(lambda: ingested(daemon) >= total, timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert ingested(daemon) == total  # every record stored once; re-sends were duplicates


def test_daemon_mode_detaches_writes_its_pid_and_stops_on_sigterm(
    mongo_server: MongoServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    collection = pymongo.MongoClient(mongo_server.uri)["cli"]["detached"]
    fill(collection, 100)
    config = write_config(
        tmp_path, {"uri": mongo_server.uri, "database": "cli", "collection": "detached"}
    )
    pid_file, log_file = tmp_path / "run" / "a.pid", tmp_path / "logs" / "a.log"
    started = run_adapter(
        config, daemon.url, "--daemon", "--interval", "0.5",
        "--pid-file", str(pid_file), "--log-file", str(log_file),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr  # the parent returns at once
    wait_for(pid_file.exists, timeout=30)
    pid = int(pid_file.read_text())
    try:
        wait_for(lambda: ingested(daemon) == 100, timeout=60)
        collection.insert_one(
            {
                "timestamp": datetime.now(UTC) - timedelta(seconds=20),  # past settle_s
                "hostname": "ppml999",
                "cpu_usage_pct": 1.0,
            }
        )
        wait_for(lambda: ingested(daemon) == 101, timeout=30)  # it keeps polling
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30)
    assert "mongodb adapter" in log_file.read_text()
