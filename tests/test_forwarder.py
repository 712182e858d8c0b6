"""The production forwarder: spool bounds, replay order, and a daemon killed mid-stream."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.conftest import API_KEY
from tests.servers import DaemonProcess, run_script, wait_for
from tftmon.client import TftmonClient
from tftmon.errors import DaemonResponseError
from tftmon.forwarder import Forwarder, Spool, key_refused


def test_spool_keeps_order_and_bounds(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_batches=3)
    for i in range(5):
        spool.put([{"i": i}])
    assert [p.stem for p in spool.pending()] == ["000000000002", "000000000003", "000000000004"]
    assert spool.dropped == 2
    again = Spool(tmp_path / "s", max_batches=3)  # a restart continues the numbering
    assert again.put([{"i": 5}]).stem == "000000000005"


class Sequence:
    """A deterministic collector: 3 servers, one record each per tick, 60 s apart."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.produced: list[tuple[str, str]] = []
        self.tick = 0

    def __call__(self) -> list[dict]:
        t = (self.start + timedelta(seconds=60 * self.tick)).isoformat().replace("+00:00", "Z")
        self.tick += 1
        records = [
            {"timestamp": t, "server_name": f"fwd{i}", "cpu_pct": float(self.tick % 100)}
            for i in range(3)
        ]
        self.produced += [(r["server_name"], r["timestamp"]) for r in records]
        return records


class RecordingClient:
    """Stands in for the daemon's client: records every batch it is given, in order."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def feed(self, records: list[dict]) -> dict:
        self.sent += [r["i"] for r in records]
        return {"accepted": len(records), "rejected": []}


def test_new_batches_wait_behind_a_backlog_larger_than_one_tick(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    for i in range(3):  # the daemon was away for three ticks
        spool.put([{"i": i}])
    ticks = iter([[{"i": 3}], [{"i": 4}], [{"i": 5}]])
    client = RecordingClient()
    forwarder = Forwarder(lambda: next(ticks), client, spool, interval_s=0, replay_per_tick=2)
    forwarder.run(max_ticks=3)
    # sent before the backlog, 3 would make the daemon refuse 2 as late
    assert client.sent == [0, 1, 2, 3, 4, 5]
    assert spool.pending() == []


@pytest.mark.integration
def test_daemon_killed_and_restarted_mid_stream(daemon: DaemonProcess, tmp_path: Path) -> None:
    collect = Sequence()
    client = TftmonClient(daemon.url, API_KEY, timeout=10, retries=1, backoff_s=0.05)
    forwarder = Forwarder(collect, client, Spool(tmp_path / "spool"), interval_s=0.05)
    runner = threading.Thread(target=forwarder.run)
    runner.start()
    try:
        wait_for(lambda: collect.tick >= 15, 30)
        daemon.kill()  # SIGKILL, no goodbye
        wait_for(lambda: collect.tick >= 40, 30)  # the daemon is away for 25 ticks
        assert forwarder.spool.pending()
        daemon.start()
        deadline = time.monotonic() + 60
        while collect.tick < 60 or forwarder.spool.pending():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        forwarder.stop_event.set()
        runner.join(30)
        client.close()
    produced = collect.produced
    conn = sqlite3.connect(daemon.data_dir / "history.sqlite3")
    stored = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    conn.close()
    # a tick whose POST timed out as the forwarder stopped waits in the spool for the next run
    spooled = sum(len(orjson.loads(p.read_bytes())) for p in forwarder.spool.pending())
    assert spooled <= 3 * 3  # a few ticks of 3 servers at most
    # every record exactly once: nothing lost, none stored twice (and none refused as late)
    assert stored + spooled == len(produced) == len(set(produced))
    with daemon.client() as c:
        status = c.get("/status").json()
    assert status["servers_tracked"] == 3


@pytest.mark.integration
def test_local_mode_sends_this_machines_metrics(daemon: DaemonProcess, tmp_path: Path) -> None:
    env = {**os.environ, "TFTMON_API_KEY": API_KEY, "TFTMON_DAEMON_URL": daemon.url}
    out = run_script(
        "production_metrics_forwarder_TEMPLATE.py",
        *("--local", "--once", "--spool-dir", str(tmp_path / "spool")),
        cwd=tmp_path,
        env=env,
        check=True,
    )
    assert "Sent 1 records | tick 1 | warm-up 0/1 servers ready" in out.stderr
    with daemon.client() as c:
        [name] = c.get("/status").json()["servers"]
        history = c.get(f"/servers/{name}/history").json()
    assert 0 <= history["values"]["cpu_pct"][-1] <= 100
    assert history["values"]["mem_pct"][-1] > 0


def test_unfilled_template_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "TFTMON_API_KEY": API_KEY, "TFTMON_DAEMON_URL": "http://127.0.0.1:9"}
    out = run_script(
        "production_metrics_forwarder_TEMPLATE.py",
        *("--once", "--spool-dir", str(tmp_path / "spool")),
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 2
    assert "fill in collect_metrics()" in out.stderr


class RefusingClient(RecordingClient):
    """A daemon that refuses the key until ``accept`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.accept = False

    def feed(self, records: list[dict]) -> dict:
        if not self.accept:
            raise DaemonResponseError(401, "unauthorized", "invalid or missing API key")
        return super().feed(records)


def test_a_refused_key_stops_the_forwarder_and_keeps_every_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    spool.put([{"i": 0}])  # a backlog from an earlier outage
    ticks = iter([[{"i": 1}], [{"i": 2}], [{"i": 3}]])
    client = RefusingClient()
    forwarder = Forwarder(lambda: next(ticks), client, spool, interval_s=0)
    with pytest.raises(DaemonResponseError) as refused:
        forwarder.run(max_ticks=3)
    assert key_refused(refused.value) and forwarder.tick_count == 1  # no silent retrying
    assert [orjson.loads(p.read_bytes()) for p in spool.pending()] == [[{"i": 0}], [{"i": 1}]]
    spool.pending()[0].unlink()  # without a backlog the new batch is sent at once and kept
    with pytest.raises(DaemonResponseError):
        forwarder.run(max_ticks=2)
    assert [orjson.loads(p.read_bytes()) for p in spool.pending()] == [[{"i": 1}], [{"i": 2}]]
    client.accept = True  # the key is fixed
    forwarder.run(max_ticks=3)
    assert client.sent == [1, 2, 3] and spool.pending() == []


@pytest.mark.integration
def test_template_exits_on_a_refused_key_and_sends_the_spool_once_fixed(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    args = ("--local", "--once", "--spool-dir", str(spool))
    env = {**os.environ, "TFTMON_API_KEY": "wrong-key-0123456789", "TFTMON_DAEMON_URL": daemon.url}
    out = run_script("production_metrics_forwarder_TEMPLATE.py", *args, cwd=tmp_path, env=env)
    assert out.returncode == 3
    assert "the daemon refused the API key (HTTP 401): check TFTMON_API_KEY" in out.stderr
    assert f"1 batches are kept in {spool}" in out.stderr
    assert len(list(spool.glob("*.json"))) == 1
    env["TFTMON_API_KEY"] = API_KEY
    out = run_script("production_metrics_forwarder_TEMPLATE.py", *args, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "Replayed 1 records" in out.stderr and "Sent 1 records" in out.stderr
    assert list(spool.glob("*.json")) == []
    assert "rejected" not in out.stderr
